"""``nomasplit evaluate SCENARIO PLAN [--out RESULT.json]``: costs and feasibility of a plan."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from nomasplit.cli.common import (
    EXIT_SOLVER_ERROR,
    console,
    deprecated_option,
    fail,
    handle_errors,
    renamed_option,
    warn,
)
from nomasplit.io import check_output_path

if TYPE_CHECKING:
    from nomasplit.data.result import EvaluationResult


def _fmt(value: float | None, scale: float = 1.0, digits: int = 4) -> str:
    return "—" if value is None else f"{value * scale:.{digits}g}"


def render_evaluation(result: EvaluationResult, *, max_rows: int = 20) -> None:
    """Print the per-user table (first rows), totals and violations."""
    table = Table(title="Per-user outcome", show_lines=False)
    for column in ("user", "AP", "split", "latency [ms]", "energy [mJ]", "utility", "up [Mbit/s]", "down [Mbit/s]"):
        table.add_column(column, justify="right")
    for outcome in result.users[:max_rows]:
        table.add_row(
            str(outcome.user),
            str(outcome.ap),
            str(outcome.split) + ("" if outcome.offloads else " (device)"),
            _fmt(outcome.latency_s, 1e3),
            _fmt(outcome.energy_j, 1e3),
            _fmt(outcome.utility),
            _fmt(outcome.uplink_rate_bps, 1e-6),
            _fmt(outcome.downlink_rate_bps, 1e-6),
        )
    if len(result.users) > max_rows:
        table.caption = f"first {max_rows} of {len(result.users)} users; all are in --out"
    console.print(table)
    totals = result.totals
    console.print(
        f"objective Gamma = {_fmt(totals.objective, digits=6)}   mean latency = {_fmt(totals.mean_latency_s, 1e3)} ms"
        f"   mean energy = {_fmt(totals.mean_energy_j, 1e3)} mJ   offloading users = {totals.num_offloading}/"
        f"{totals.num_users}"
    )
    if result.feasible:
        console.print("[green]feasible[/]")
    else:
        console.print(f"[red]infeasible[/]: {len(result.violations)} violation(s)")
        for violation in result.violations[:10]:
            console.print(f"  - {violation.kind}: {violation.message}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``evaluate`` to the app."""

    @app.command("evaluate")
    @handle_errors
    def evaluate_command(
        scenario_path: Path = typer.Argument(..., metavar="SCENARIO", help="Scenario JSON (.json or .json.gz)."),
        plan_path: Path = typer.Argument(..., metavar="PLAN", help="Plan JSON."),
        out: Path | None = typer.Option(None, "--out", "-o", help="Write the full result as JSON."),
        torch_device: str | None = typer.Option(
            None, "--torch-device", show_default="cpu", help="Torch backend of the model: cpu, cuda or cuda:N."
        ),
        device: str | None = deprecated_option("--device", "--torch-device"),
        force: bool = typer.Option(
            False, "--force", help="Evaluate even if the plan was made for another scenario (its scenario_sha256)."
        ),
    ) -> None:
        """Evaluate a plan: per-user latency, energy, utility, totals, and feasibility with violations.

        The plan must have been made for this scenario (its scenario_sha256), unless --force. A plan whose
        objective is not finite (an offloading user without a rate) is reported, then exit 1; --out is not written.
        """
        torch_device = renamed_option(torch_device, device, "--torch-device", "--device") or "cpu"
        if out is not None:
            check_output_path(out, inputs={"SCENARIO": scenario_path, "PLAN": plan_path})

        from nomasplit.data.files import load_plan, load_scenario, save
        from nomasplit.data.plan import check_plan_matches_scenario

        scenario = load_scenario(scenario_path)
        plan = load_plan(plan_path)
        warning = check_plan_matches_scenario(
            plan, scenario, plan_source=f"plan {plan_path}", scenario_source=f"scenario {scenario_path}", force=force
        )
        if warning is not None:
            warn(warning)

        from nomasplit.model import evaluate

        result = evaluate(scenario, plan, device=torch_device)
        render_evaluation(result)
        if result.totals.objective is None:
            bad = [outcome.user for outcome in result.users if outcome.utility is None]
            raise fail(
                f"the objective is not finite: user(s) {bad[:10]}{'...' if len(bad) > 10 else ''} have no finite "
                f"latency or energy (see the violations above); {'--out not written' if out else 'no result'}",
                EXIT_SOLVER_ERROR,
            )
        if out is not None:
            save(out, result)
            console.print(f"wrote {out}")
