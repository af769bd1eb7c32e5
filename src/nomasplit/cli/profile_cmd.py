"""``nomasplit profile``: per-unit FLOPs, output sizes and (optionally) latency of a zoo or user model.

A chain model (an ``nn.Sequential``, or a trace that is one chain) is profiled unit by unit; a DAG model (a
ResNet, a MobileNetV2, a user's network with branches or skip connections) from its graph, with the live set
at each split point (``nomasplit.measure.graph``). ``--measure --units`` times a chain with r threads and fits
``lambda(r)`` (:func:`measure_with_units`).

torch is imported inside the functions only: ``nomasplit --help`` must not import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from nomasplit.cli.catalog import ZOO_MODEL_NAMES as MODEL_NAMES
from nomasplit.cli.common import console, handle_errors
from nomasplit.errors import InputError
from nomasplit.io import check_output_path

if TYPE_CHECKING:
    import torch
    from torch import nn

    from nomasplit.data.profile import ModelProfile

#: ``nomasplit.measure.options.DEFAULT_WARMUP`` / ``DEFAULT_REPEATS`` (repeated here: measure imports torch).
DEFAULT_WARMUP = 3
DEFAULT_REPEATS = 10


def profile_table(profile: ModelProfile) -> Table:
    """A rich table of the profile: one row per unit, and the totals."""
    measured = any(layer.measured_latency_s is not None for layer in profile.layers)
    title = f"{profile.model}: {profile.num_layers} units, {profile.dtype}"
    if profile.graph is not None:
        title += f", DAG in {profile.graph.order} order (output kbit: every tensor sent at that split)"
    table = Table(title=title)
    table.add_column("#", justify="right")
    table.add_column("unit")
    table.add_column("output shape")
    table.add_column("MFLOPs", justify="right")
    table.add_column("output kbit", justify="right")
    if measured:
        table.add_column("latency ms", justify="right")
    table.add_row("0", "(input)", "x".join(map(str, profile.input_shape or [])), "", f"{profile.input_bits / 1e3:.1f}")
    for index, layer in enumerate(profile.layers, start=1):
        row = [
            str(index),
            layer.name,
            "x".join(map(str, layer.output_shape or [])),
            f"{layer.flops / 1e6:.3f}",
            f"{layer.output_bits / 1e3:.1f}",
        ]
        if measured:
            latency_s = layer.measured_latency_s
            row.append("" if latency_s is None else f"{latency_s * 1e3:.3f}")
        table.add_row(*row)
    total = ["", "total", "", f"{profile.total_flops / 1e6:.3f}", f"result {profile.result_bits / 1e3:.1f}"]
    if measured:
        total.append(f"{sum(layer.measured_latency_s or 0.0 for layer in profile.layers) * 1e3:.3f}")
    table.add_row(*total, style="bold")
    return table


def check_units_options(
    measure: bool, units_text: str | None, timings: Path | None, out: Path | None = None
) -> list[int] | None:
    """The parsed ``--units``, after checking it goes with ``--measure`` and ``--timings`` (an output other
    than ``out``, through the output boundary)."""
    from nomasplit.measure.timing import parse_units

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
    from nomasplit.data.files import save
    from nomasplit.measure.timing import measure_unit_latencies

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


def register(app: typer.Typer) -> None:
    """Add the ``profile`` command to the app."""

    @app.command("profile")
    @handle_errors
    def profile(
        model_name: str | None = typer.Argument(
            None, metavar="MODEL", help=f"Zoo model: {', '.join(MODEL_NAMES)}. Omit when using --model."
        ),
        out: Path = typer.Option(..., "--out", "-o", help="Profile JSON to write."),
        user_model: str | None = typer.Option(
            None,
            "--model",
            help="Your own model instead of a zoo one: package.module:attr (an nn.Sequential, any torch.fx-"
            "traceable module with one tensor input, or a callable returning one). Needs --input-shape.",
        ),
        order: str | None = typer.Option(
            None,
            "--order",
            help="DAG models: topological order of the split units, min-live (default: each step the unit "
            "after which the fewest bits are live) or program (the forward's order).",
        ),
        shape_text: str | None = typer.Option(
            None, "--input-shape", help="Input shape with batch, e.g. 1,3,32,32 (only with --model)."
        ),
        name: str | None = typer.Option(None, "--name", help="Model name in the profile (--model only)."),
        dtype: str = typer.Option("float32", "--dtype", help="float32, float16, bfloat16 or float64."),
        measure: bool = typer.Option(False, "--measure", help="Also measure per-unit latency on this host."),
        warmup: int = typer.Option(DEFAULT_WARMUP, "--warmup", help="Warm-up runs per unit (--measure)."),
        repeats: int = typer.Option(DEFAULT_REPEATS, "--repeats", help="Timed runs per unit (--measure)."),
        units_text: str | None = typer.Option(
            None, "--units", help="With --measure: time with r = 1,2,... threads and fit lambda(r), e.g. 1,2."
        ),
        timings: Path | None = typer.Option(None, "--timings", help="Where --units writes its measurement JSON."),
        input_bits: int | None = typer.Option(
            None, "--input-bits", help="Bits per element of the raw input as sent (8: a camera image). Default: dtype."
        ),
        activation_bits: int | None = typer.Option(
            None,
            "--activation-bits",
            help="Bits per element of the tensors sent at a split and of the result (8, 16, 32). Default: dtype.",
        ),
    ) -> None:
        """Profile a model: FLOPs and output size of each split unit, input and result sizes."""
        if (model_name is None) == (user_model is None):
            raise InputError(f"give either MODEL ({', '.join(MODEL_NAMES)}) or --model package.module:attr")
        check_output_path(out, outputs={"--timings": timings})

        from nomasplit.data.files import save
        from nomasplit.measure.chain import as_chain, is_dag
        from nomasplit.measure.options import parse_dtype, parse_input_shape
        from nomasplit.measure.profile import profile_network
        from nomasplit.measure.user_model import load_user_model
        from nomasplit.zoo import build_model, check_model_name, input_shape, variant_name

        torch_dtype = parse_dtype(dtype)
        if model_name is not None:
            check_model_name(model_name)
            if shape_text is not None or name is not None:
                raise InputError("--input-shape and --name go with --model only; a zoo model has a fixed input")
            module = build_model(model_name)
            shape = input_shape(model_name)
            profile_name = variant_name(model_name, input_bits, activation_bits)
        else:
            assert user_model is not None
            if shape_text is None:
                raise InputError("--model needs --input-shape, e.g. --input-shape 1,3,32,32")
            shape = parse_input_shape(shape_text)
            module = load_user_model(user_model)
            profile_name = name or user_model.rsplit(":", 1)[-1]
        units = check_units_options(measure, units_text, timings, out)
        if units is not None and is_dag(module):
            raise InputError("--units times chain models only; profile a DAG model with --measure alone")
        result = profile_network(
            module,
            shape,
            order=order,
            name=profile_name,
            dtype=torch_dtype,
            measure=measure and units is None,
            warmup=warmup,
            repeats=repeats,
            input_bits=input_bits,
            activation_bits=activation_bits,
        )
        if units is not None:
            assert timings is not None
            result = measure_with_units(as_chain(module), shape, result, units, torch_dtype, warmup, repeats, timings)
        console.print(profile_table(result))
        save(out, result)
        console.print(f"wrote {out}")
