"""``nomasplit profile --measure --units``: time each unit with r threads, fit and show ``lambda(r)``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from rich.table import Table
from torch import nn

from nomasplit.cli.common import console
from nomasplit.data.files import save
from nomasplit.data.profile import ModelProfile
from nomasplit.errors import InputError
from nomasplit.io import check_output_path
from nomasplit.measure.timing import measure_unit_latencies, parse_units


def check_units_options(
    measure: bool, units_text: str | None, timings: Path | None, out: Path | None = None
) -> list[int] | None:
    """The parsed ``--units``, after checking it goes with ``--measure`` and ``--timings`` (an output other
    than ``out``, through the output boundary)."""
    if units_text is None:
        if timings is not None:
            raise InputError("--timings goes with --measure --units")
        return None
    if not measure:
        raise InputError("--units goes with --measure")
    if timings is None:
        raise InputError("--units needs --timings FILE.json for the measurement")
    check_output_path(timings, outputs={"--out": out}, option="--timings")
    return parse_units(units_text)


def measure_with_units(
    module: nn.Sequential,
    shape: Sequence[int],
    profile: ModelProfile,
    units: list[int],
    dtype: torch.dtype,
    warmup: int,
    repeats: int,
    timings: Path,
) -> ModelProfile:
    """Measure, write ``timings``, print the table; return the profile with the one-thread unit medians."""
    measurement = measure_unit_latencies(
        module, shape, name=profile.model, units=units, dtype=dtype, warmup=warmup, repeats=repeats
    )
    save(timings, measurement)
    fit = measurement.compensation.source["fit"]
    table = Table(title=f"{profile.model}: whole forward pass with r threads (median of {repeats}, IQR)")
    table.add_column("r", justify="right")
    table.add_column("latency ms", justify="right")
    table.add_column("IQR ms", justify="right")
    table.add_column("T(1)/T(r)", justify="right")
    table.add_column("lambda(r) table", justify="right")
    table.add_column("Amdahl", justify="right")
    for index, timing in enumerate(measurement.timings):
        table.add_row(
            str(timing.units),
            f"{timing.total_latency_s * 1e3:.3f}",
            f"{timing.total_spread_s * 1e3:.3f}",
            f"{fit['measured_speedup'][index]:.3f}",
            f"{fit['table_speedup'][index]:.3f}",
            f"{fit['amdahl_speedup'][index]:.3f}",
        )
    console.print(table)
    console.print(
        f"lambda fit error: table {fit['table_max_relative_error']:.1%}, Amdahl (f = "
        f"{fit['amdahl_parallel_fraction']:.3f}) {fit['amdahl_max_relative_error']:.1%}; "
        f"load average {measurement.host['load_average_before'][0]} before, "
        f"{measurement.host['load_average_after'][0]} after; wrote {timings}"
    )
    one = measurement.at_units(1).unit_latency_s
    layers = [
        layer.model_copy(update={"measured_latency_s": seconds})
        for layer, seconds in zip(profile.layers, one, strict=True)
    ]
    source = {
        **profile.source,
        "latency": {"method": "one-thread row of --units", "timings": str(timings), **measurement.host},
    }
    return profile.model_copy(update={"layers": layers, "source": source})
