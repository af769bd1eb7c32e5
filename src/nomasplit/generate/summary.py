"""A short human-readable summary of a scenario (what ``nomasplit scenario generate/show`` print)."""

from __future__ import annotations

import numpy as np

from nomasplit import units
from nomasplit.data import Scenario


def _dbm(value_w: float) -> str:
    return f"{units.w_to_dbm(value_w):.1f} dBm" if value_w > 0 else "0 W"


def serving_gain_db(scenario: Scenario, direction: str = "uplink") -> np.ndarray:
    """Gain between each user and its serving AP, averaged over subchannels, in dB. Shape ``[U]``."""
    gain = scenario.uplink_gain if direction == "uplink" else scenario.downlink_gain  # [N, U, M]
    users = np.arange(scenario.num_users)
    mean_gain = gain[np.asarray(scenario.association), users, :].mean(axis=1)  # [U]
    return np.array([units.linear_to_db(float(value)) for value in mean_gain])


def summarize_scenario(scenario: Scenario) -> list[tuple[str, str]]:
    """(label, value) rows: sizes, users per AP, radio, models, powers, device and edge, provenance."""
    per_ap = np.bincount(np.asarray(scenario.association), minlength=scenario.num_aps)  # [N]
    model_users = np.bincount(np.asarray(scenario.user_profile), minlength=len(scenario.profiles))
    models = ", ".join(
        f"{profile.model} ({profile.num_layers} units, {profile.total_flops / 1e9:.3g} GFLOP) x {count}"
        for profile, count in zip(scenario.profiles, model_users, strict=True)
    )
    gain_db = serving_gain_db(scenario)
    # [U] device energy per FLOP xi_i c_i^2 phi_i
    device_j_per_flop = (
        scenario.device_switched_capacitance * scenario.device_flops_per_s**2 * scenario.device_cycles_per_flop
    )
    up_khz = scenario.uplink_bandwidth_hz / scenario.num_subchannels / 1e3
    down_khz = scenario.downlink_bandwidth_hz / scenario.num_subchannels / 1e3
    config = scenario.provenance.get("config", {})
    layout = config.get("layout", "?") if isinstance(config, dict) else "?"
    rows = [
        ("name", scenario.name),
        *([("description", scenario.description)] if scenario.description else []),
        ("access points", f"{scenario.num_aps} ({layout} layout)"),
        ("users", f"{scenario.num_users}"),
        ("users per AP", f"min {per_ap.min()}, mean {per_ap.mean():.1f}, max {per_ap.max()}"),
        (
            "subchannels",
            f"{scenario.num_subchannels} x {up_khz:.4g} kHz up, x {down_khz:.4g} kHz down",
        ),
        ("access", f"{scenario.access.upper()}, cluster size K = {scenario.effective_cluster_size}"),
        ("model", models),
        ("uplink power", f"{_dbm(scenario.uplink_power_min_w)} .. {_dbm(scenario.uplink_power_max_w)}"),
        (
            "downlink power / user",
            f"{_dbm(scenario.downlink_power_min_w)} .. {_dbm(scenario.downlink_power_max_w)}",
        ),
        ("noise PSD", f"{units.w_to_dbm(scenario.noise_psd_w_per_hz):.1f} dBm/Hz"),
        (
            "serving uplink gain",
            f"median {np.median(gain_db):.1f} dB (5%: {np.percentile(gain_db, 5):.1f}, "
            f"95%: {np.percentile(gain_db, 95):.1f})",
        ),
        (
            "device",
            f"{np.mean(scenario.device_flops_per_s) / 1e9:.3g} GFLOP/s mean, "
            f"{np.mean(device_j_per_flop) * 1e9:.3g} nJ/FLOP mean",
        ),
        (
            "edge unit",
            f"{scenario.edge_unit_flops_per_s / 1e9:.3g} GFLOP/s, r in [{scenario.compute_units_min:g}, "
            f"{scenario.compute_units_max:g}], lambda: {scenario.compensation.kind}",
        ),
        ("seed", str(scenario.provenance.get("seed", "?"))),
    ]
    return rows
