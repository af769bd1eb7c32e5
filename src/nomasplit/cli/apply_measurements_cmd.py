"""``nomasplit scenario apply-measurements``: measured per-unit tables and a measured ``lambda(r)`` into a scenario.

``nomasplit scenario calibrate`` is its old name (deprecated: it works until 0.3 and says so on stderr), from
before ``calibrate`` came to mean the paper fit only (``nomasplit calibrate``).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from nomasplit.cli.common import console, deprecated_alias, handle_errors
from nomasplit.errors import InputError
from nomasplit.io import check_output_path

#: The command's name in the ``scenario`` group, and its deprecated old name (kept for one release).
COMMAND = "apply-measurements"
OLD_COMMAND = "calibrate"


def register(app: typer.Typer) -> None:
    """Add ``apply-measurements`` (and its deprecated old name) to ``app``, the ``scenario`` group."""

    @handle_errors
    def apply_measurements_command(
        scenario_path: Path = typer.Argument(..., metavar="SCENARIO", help="Scenario JSON to add measurements to."),
        out: Path = typer.Option(..., "--out", "-o", help="Scenario with the measurements to write."),
        edge: list[Path] = typer.Option(
            [], "--edge", help="Edge measurement (nomasplit profile --measure --units ... --timings FILE); repeat."
        ),
        device: list[str] = typer.Option(
            [], "--device", help="Device table: a measurement or table JSON, or MODEL=FILE.csv; repeat."
        ),
        compensation_from: Path | None = typer.Option(
            None,
            "--compensation-from",
            help="Take lambda(r) from this one measurement (default: pooled over the --edge measurements).",
        ),
        keep_compensation: bool = typer.Option(
            False, "--keep-compensation", help="Keep the scenario's lambda(r); only add the tables."
        ),
    ) -> None:
        """Put measured edge and device per-unit latencies, and the measured lambda(r), into a scenario."""
        from nomasplit.data.files import load_scenario, save
        from nomasplit.measure.apply import apply_measurements, load_device_table, load_measurement
        from nomasplit.measure.lambda_fit import pooled_compensation

        device_files = {f"--device {spec}": Path(spec.partition("=")[2] or spec) for spec in device}
        check_output_path(
            out,
            inputs={
                "SCENARIO": scenario_path,
                **{f"--edge {path}": path for path in edge},
                **device_files,
                "--compensation-from": compensation_from,
            },
        )
        if not edge and not device and compensation_from is None:
            raise InputError("give at least one --edge, --device or --compensation-from")
        if keep_compensation and compensation_from is not None:
            raise InputError("--keep-compensation and --compensation-from exclude each other")
        scenario = load_scenario(scenario_path)
        edge_measurements = [load_measurement(path) for path in edge]
        device_tables = {}
        for spec in device:
            table = load_device_table(spec)
            if table.model in device_tables:
                raise InputError(f"--device gives model {table.model!r} twice")
            device_tables[table.model] = table
        compensation = None
        fit = None
        if compensation_from is not None:
            compensation, fit = pooled_compensation([load_measurement(compensation_from)])
        elif edge_measurements and not keep_compensation:
            compensation, fit = pooled_compensation(edge_measurements)
        measured = apply_measurements(scenario, edge=edge_measurements, device=device_tables, compensation=compensation)
        if keep_compensation:
            measured = measured.replace(compensation=scenario.compensation)
        save(out, measured)
        if compensation is not None and fit is not None:
            view = Table(title="measured lambda(r) (piecewise linear through the points; fit error per model)")
            view.add_column("r", justify="right")
            view.add_column("lambda(r)", justify="right")
            for model in fit["per_model"]:
                view.add_column(f"{model} T(1)/T(r)", justify="right")
            for index, units in enumerate(compensation.units):
                row = [f"{units:g}", f"{compensation.speedup[index]:.3f}"]
                row += [f"{fit['per_model'][m]['measured_speedup'][index]:.3f}" for m in fit["per_model"]]
                view.add_row(*row)
            console.print(view)
            errors = ", ".join(f"{m} {v['max_relative_error']:.1%}" for m, v in fit["per_model"].items())
            console.print(f"fit error (max |lambda - T(1)/T(r)| / (T(1)/T(r))): {errors}")
            if scenario.compute_units_max > compensation.units[-1]:
                console.print(
                    f"note: r_max = {scenario.compute_units_max:g} lies beyond the largest measured r = "
                    f"{compensation.units[-1]:g}; lambda is extrapolated with the last segment's slope there"
                )
        console.print(
            f"wrote {out}: edge tables for {sorted(m.model for m in edge_measurements) or 'none'}, device tables "
            f"for {sorted(device_tables) or 'none'}, compensation {measured.compensation.kind}"
        )

    app.command(COMMAND)(apply_measurements_command)
    old, new = f"nomasplit scenario {OLD_COMMAND}", f"nomasplit scenario {COMMAND}"
    app.command(OLD_COMMAND, hidden=True)(deprecated_alias(apply_measurements_command, old, new))
