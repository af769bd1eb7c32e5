"""A plain-loop transcription of the spec's formulas, to check the vectorised model against."""

from __future__ import annotations

import math

import numpy as np

from nomasplit.data import Scenario


def _decoded_before(gain_a: float, user_a: int, gain_b: float, user_b: int, strongest_first: bool) -> bool:
    """True if user a is decoded before user b (ties: lower index first)."""
    if gain_a != gain_b:
        return gain_a > gain_b if strongest_first else gain_a < gain_b
    return user_a < user_b


def reference_costs(
    scenario: Scenario,
    split: np.ndarray,
    beta_up: np.ndarray,
    beta_dn: np.ndarray,
    p: np.ndarray,
    big_p: np.ndarray,
    r: np.ndarray,
) -> dict[str, np.ndarray]:
    """Rates, latency, energy and utility per user, with explicit loops over users, APs and subchannels."""
    num_users, num_subchannels = scenario.num_users, scenario.num_subchannels
    assoc = scenario.association
    g_up, g_dn = scenario.uplink_gain, scenario.downlink_gain
    layers = scenario.user_num_layers()
    active = [split[i] < layers[i] for i in range(num_users)]
    b_up = scenario.uplink_bandwidth_hz / num_subchannels
    b_dn = scenario.downlink_bandwidth_hz / num_subchannels
    noise_up = scenario.noise_psd_w_per_hz * b_up
    noise_dn = scenario.noise_psd_w_per_hz * b_dn
    noma = scenario.access == "noma"
    rate_up = np.zeros(num_users)
    rate_dn = np.zeros(num_users)
    for i in range(num_users):
        if not active[i]:
            continue
        n = assoc[i]
        for m in range(num_subchannels):
            intra = inter = 0.0
            for v in range(num_users):
                if v == i or not active[v]:
                    continue
                if assoc[v] == n:
                    if noma and not _decoded_before(g_up[n, v, m], v, g_up[n, i, m], i, True):
                        intra += beta_up[v, m] * p[v] * g_up[n, v, m]
                else:
                    inter += beta_up[v, m] * p[v] * g_up[n, v, m]
            sinr = p[i] * g_up[n, i, m] / (intra + inter + noise_up)
            rate_up[i] += beta_up[i, m] * b_up * math.log2(1 + sinr)
            intra = inter = 0.0
            for q in range(num_users):
                if q == i or not active[q]:
                    continue
                if assoc[q] == n:
                    if noma and not _decoded_before(g_dn[n, q, m], q, g_dn[n, i, m], i, False):
                        intra += g_dn[n, i, m] * beta_dn[q, m] * big_p[q]
                else:
                    inter += g_dn[assoc[q], i, m] * beta_dn[q, m] * big_p[q]
            sinr = big_p[i] * g_dn[n, i, m] / (intra + inter + noise_dn)
            rate_dn[i] += beta_dn[i, m] * b_dn * math.log2(1 + sinr)
    out: dict[str, list[float]] = {"latency_s": [], "energy_j": [], "utility": []}
    comp = scenario.compensation
    for i in range(num_users):
        profile = scenario.profiles[scenario.user_profile[i]]
        k = scenario.workload_tasks[i]
        s = int(split[i])
        device_flops = k * sum(layer.flops for layer in profile.layers[:s])
        edge_flops = k * sum(layer.flops for layer in profile.layers[s:])
        upload = k * (profile.input_bits if s == 0 else profile.layers[s - 1].output_bits)
        result = k * profile.result_bits
        if comp.kind == "linear":
            lam = r[i]
        elif comp.kind == "power":
            lam = r[i] ** comp.exponent
        else:
            lam = 1 / ((1 - comp.parallel_fraction) + comp.parallel_fraction / r[i])
        c_edge = lam * scenario.edge_unit_flops_per_s
        c = scenario.device_flops_per_s[i]
        t = device_flops / c
        e = scenario.device_switched_capacitance[i] * c**2 * scenario.device_cycles_per_flop[i] * device_flops
        if active[i]:
            t_up, t_dn = upload / rate_up[i], result / rate_dn[i]
            t += edge_flops / c_edge + t_up + t_dn
            e += scenario.edge_switched_capacitance * c_edge**2 * scenario.edge_cycles_per_flop * edge_flops
            e += p[i] * t_up + big_p[i] * t_dn
        w = scenario.latency_weight[i]
        out["latency_s"].append(t)
        out["energy_j"].append(e)
        out["utility"].append(w * t + (1 - w) * e)
    result_arrays = {key: np.array(values) for key, values in out.items()}
    result_arrays["uplink_rate_bps"] = rate_up
    result_arrays["downlink_rate_bps"] = rate_dn
    return result_arrays
