"""Physically sensible ranges of the inputs: values outside them are refused with the range in the message.

The ranges are wide (they admit every network this library models, from IoT links to terahertz bands) but
finite, so no product of inputs in the system model can overflow float64: a workload of 1e300 tasks or a
bandwidth of 1e308 Hz is a typo, and would otherwise end in an infinite objective reported as a number.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nomasplit.io import FILE_LIMITS as _io_file_limits


class Limit(NamedTuple):
    """Allowed closed range ``[low, high]`` of a quantity, with its unit for the message."""

    low: float
    high: float
    unit: str


#: Scenario fields (linear SI) and their ranges; per-user arrays are checked element by element.
SCENARIO_LIMITS: dict[str, Limit] = {
    "uplink_bandwidth_hz": Limit(1.0, 1e12, "Hz"),
    "downlink_bandwidth_hz": Limit(1.0, 1e12, "Hz"),
    "noise_psd_w_per_hz": Limit(1e-30, 1e-3, "W/Hz"),
    "uplink_gain": Limit(0.0, 1e3, "(linear power gain)"),
    "downlink_gain": Limit(0.0, 1e3, "(linear power gain)"),
    "uplink_power_min_w": Limit(0.0, 1e4, "W"),
    "uplink_power_max_w": Limit(0.0, 1e4, "W"),
    "downlink_power_min_w": Limit(0.0, 1e4, "W"),
    "downlink_power_max_w": Limit(0.0, 1e4, "W"),
    "workload_tasks": Limit(0.0, 1e6, "tasks"),
    "device_flops_per_s": Limit(1.0, 1e18, "FLOP/s"),
    "device_switched_capacitance": Limit(0.0, 1e-15, "J s^2/(FLOP^2 cycle)"),
    "device_cycles_per_flop": Limit(0.0, 1e6, "cycle/FLOP"),
    "edge_unit_flops_per_s": Limit(1.0, 1e18, "FLOP/s"),
    "compute_units_min": Limit(0.0, 1e6, "units"),
    "compute_units_max": Limit(0.0, 1e6, "units"),
    "edge_switched_capacitance": Limit(0.0, 1e-15, "J s^2/(FLOP^2 cycle)"),
    "edge_cycles_per_flop": Limit(0.0, 1e6, "cycle/FLOP"),
    "edge_capacity_units": Limit(0.0, 1e9, "units"),
}

#: Profile fields (per unit, or for the whole model).
PROFILE_LIMITS: dict[str, Limit] = {
    "flops": Limit(0.0, 1e18, "FLOP"),
    "output_bits": Limit(0.0, 1e15, "bit"),
    "input_bits": Limit(0.0, 1e15, "bit"),
    "result_bits": Limit(0.0, 1e15, "bit"),
}

#: Generator config fields (dB, dBm and SI as the config takes them).
CONFIG_LIMITS: dict[str, Limit] = {
    "inter_site_distance_m": Limit(0.0, 1e6, "m"),
    "min_distance_m": Limit(0.0, 1e6, "m"),
    "path_loss_exponent": Limit(0.0, 10.0, ""),
    "path_loss_reference_db": Limit(0.0, 300.0, "dB"),
    "uplink_bandwidth_hz": SCENARIO_LIMITS["uplink_bandwidth_hz"],
    "downlink_bandwidth_hz": SCENARIO_LIMITS["downlink_bandwidth_hz"],
    "noise_psd_dbm_per_hz": Limit(-270.0, 0.0, "dBm/Hz"),
    "uplink_power_min_dbm": Limit(-100.0, 70.0, "dBm"),
    "uplink_power_max_dbm": Limit(-100.0, 70.0, "dBm"),
    "downlink_power_min_dbm": Limit(-100.0, 70.0, "dBm"),
    "downlink_power_max_dbm": Limit(-100.0, 70.0, "dBm"),
    "workload_tasks": SCENARIO_LIMITS["workload_tasks"],
    "device_flops_per_s": SCENARIO_LIMITS["device_flops_per_s"],
    "device_switched_capacitance": SCENARIO_LIMITS["device_switched_capacitance"],
    "device_cycles_per_flop": SCENARIO_LIMITS["device_cycles_per_flop"],
    "edge_unit_flops_per_s": SCENARIO_LIMITS["edge_unit_flops_per_s"],
    "compute_units_min": SCENARIO_LIMITS["compute_units_min"],
    "compute_units_max": SCENARIO_LIMITS["compute_units_max"],
    "edge_switched_capacitance": SCENARIO_LIMITS["edge_switched_capacitance"],
    "edge_cycles_per_flop": SCENARIO_LIMITS["edge_cycles_per_flop"],
}


def check_limits(obj: object, limits: dict[str, Limit]) -> None:
    """Raise ``ValueError`` naming the first field of ``obj`` outside its range, with the range and unit.

    ``None`` fields are skipped; arrays and lists are checked element by element.
    """
    for name, limit in limits.items():
        value = getattr(obj, name, None)
        if value is None:
            continue
        values = np.asarray(value, dtype=np.float64)
        if not values.size:
            continue
        outside = (values < limit.low) | (values > limit.high)
        if np.any(outside):
            bad = float(values[outside].flat[0])
            unit = f" {limit.unit}" if limit.unit else ""
            raise ValueError(f"{name} = {bad:g} is out of range: allowed {limit.low:g} .. {limit.high:g}{unit}")


#: The limits of every file a command reads are :data:`nomasplit.io.FILE_LIMITS` (defined there: the CLI imports
#: ``nomasplit.io`` without numpy or pydantic); named here too so that every limit can be found in this module.
FILE_LIMITS = _io_file_limits
