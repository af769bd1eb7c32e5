"""Why offloading does or does not pay in a run's setup: device and edge time against upload time, per model.

The report's "Device class and bandwidth" section: the numbers come from the run's own configuration and
results (the device's and the edge's speed, the bandwidth per subchannel, the mean uplink rate Edge-Only got).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from nomasplit.experiments.checks import format_number
from nomasplit.experiments.figures import ReproductionSettings, model_label
from nomasplit.generate import paper_config
from nomasplit.generate.generator import load_model_profile
from nomasplit.model.compensation import compensation_function


def reasoning_lines(settings: ReproductionSettings, results: pd.DataFrame) -> list[str]:
    """Why offloading does or does not pay in this setup: device and edge time vs upload time, per model."""
    if len(results) == 0:
        return []
    lines = []
    sweep = next((s for s in settings.sweeps if s.parameter == "model"), settings.sweeps[0])
    value = sweep.values[0]
    config = settings.point_config(sweep, value)
    per_subchannel_hz = config.uplink_bandwidth_hz / config.num_subchannels
    device = config.device_flops_per_s
    compensation = compensation_function(config.compensation)
    edge_max = config.edge_unit_flops_per_s * float(compensation(torch.tensor(config.compute_units_max)))
    base = paper_config()
    joules_per_flop = config.device_switched_capacitance * device**2 * config.device_cycles_per_flop
    lines.append(
        f"- Device class: c_i = {device:.3g} FLOP/s ({device / 1e9:.3g} GFLOP/s effective DNN throughput"
        f"{', a mid-range smartphone CPU' if device == base.device_flops_per_s else ''}; "
        f"{joules_per_flop * 1e9:.3g} nJ/FLOP). One edge unit c_min = "
        f"{config.edge_unit_flops_per_s:.3g} FLOP/s, up to r_max = "
        f"{config.compute_units_max:g} units (lambda(r_max) c_min = {edge_max:.3g} FLOP/s) per user."
    )
    lines.append(
        f"- Bandwidth per user: B / M = {config.uplink_bandwidth_hz / 1e6:.3g} MHz / "
        f"{config.num_subchannels} = {per_subchannel_hz / 1e3:.3g} kHz per subchannel (the paper's setup: "
        f"{base.uplink_bandwidth_hz / 1e6:g} MHz / {base.num_subchannels} = "
        f"{base.uplink_bandwidth_hz / base.num_subchannels / 1e3:g} kHz), shared by up to K = "
        f"{config.cluster_size} NOMA users."
    )
    models = results[(results["sweep"] == sweep.name)]
    for model in dict.fromkeys(models["model"]):
        profile = load_model_profile(model)
        rows = models[(models["model"] == model) & (models["algorithm"] == "edge-only")]
        rate = float(np.nanmean(rows["mean_uplink_rate_bps"].astype(float))) if len(rows) else math.nan
        device_s = profile.total_flops / device
        edge_s = profile.total_flops / edge_max
        upload_s = profile.input_bits / rate if rate and math.isfinite(rate) else math.nan
        smallest = float(np.min(profile.upload_bits()))
        smallest_s = smallest / rate if rate and math.isfinite(rate) else math.nan
        lines.append(
            f"- {model_label(model)}: {profile.total_flops / 1e9:.3g} GFLOP, {device_s * 1e3:.3g} ms on the "
            f"device, {edge_s * 1e3:.3g} ms on r_max edge units; raw input "
            f"{profile.input_bits / 1e3:.3g} kbit takes {format_number(upload_s * 1e3)} ms at Edge-Only's mean uplink "
            f"rate {format_number(rate / 1e3)} kbit/s; the smallest tensor to send (any split) is "
            f"{smallest / 1e3:.3g} kbit ({format_number(smallest_s * 1e3)} ms); "
            f"uploading the raw input takes {format_number(upload_s / device_s)} x the device time."
        )
    lines.append(
        "- Offloading pays only when the upload of a split's tensor plus the edge time beats the device time "
        "of the layers it replaces (the ratios above). The extra figures show at which device speed and at "
        "which bandwidth per subchannel offloading starts to pay. "
        + (
            "The paper gives neither the device's nor the edge server's speed; the `paper` preset keeps "
            "documented defaults (docs/scenarios.md) and does not tune them to match its numbers."
            if settings.preset != "calibrated"
            else "The `calibrated` preset fits the parameters the paper leaves open to a few of its quoted "
            "numbers (see the readings); every other number and trend is held out."
        )
    )
    return lines
