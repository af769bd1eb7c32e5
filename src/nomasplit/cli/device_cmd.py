"""``nomasplit device run``: the device side of split inference, over HTTP against ``nomasplit edge serve``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from nomasplit.cli.common import console, fail, handle_errors, warn
from nomasplit.errors import InputError

#: Help of ``--timeout-s`` (``device run``, ``edge loadtest``); its numbers are those of nomasplit.runtime.client
#: (a test checks), not imported here: the CLI starts without torch.
TIMEOUT_HELP = (
    "Overall deadline of each request to the edge, in seconds: host name lookup, connecting, sending and the whole "
    "answer (default 120 = nomasplit.runtime.client.DEFAULT_TIMEOUT_S; > 0, at most 86400)."
)


# --- --compare: the plan's predicted stages against the measured split inference ---------------------------


def plan_comparison(assignment: Any, report: Any) -> list[dict[str, Any]]:
    """Per stage: predicted (the plan's system model, one task) and measured seconds, relative error."""
    from nomasplit.runtime.prediction import compare_stages

    if assignment.predicted is None:
        return []
    return [row.model_dump(mode="json") for row in compare_stages(assignment.predicted, report)]


def comparison_table(assignment: Any, report: Any) -> Table:
    """A rich table of :func:`plan_comparison` (the edge queue and "other" are outside eq. 12)."""
    table = Table(title=f"plan of user {assignment.user}: predicted (system model, one task) against measured")
    table.add_column("stage")
    table.add_column("predicted ms", justify="right")
    table.add_column("measured ms", justify="right")
    table.add_column("error", justify="right")
    for row in plan_comparison(assignment, report):
        error = "" if row["error"] is None else f"{row['error']:+.1%}"
        table.add_row(row["stage"], f"{row['predicted_s'] * 1e3:.3f}", f"{row['measured_s'] * 1e3:.3f}", error)
    return table


def _check_rate(value: float | None, option: str) -> float | None:
    from nomasplit.runtime.shaping import check_rate

    if value is None:
        return None
    try:
        return check_rate(value, option)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _stage_table(report: object) -> Table:
    from nomasplit.runtime.device import SplitRunReport

    assert isinstance(report, SplitRunReport)
    table = Table(title=f"{report.model}, split {report.split} of {report.num_units}")
    table.add_column("stage")
    table.add_column("ms", justify="right")
    table.add_column("bytes", justify="right")
    table.add_column("profile bytes", justify="right")
    up_profile = "" if report.profile_uplink_bytes is None else f"{report.profile_uplink_bytes:.0f}"
    down_profile = "" if report.profile_downlink_bytes is None else f"{report.profile_downlink_bytes:.0f}"
    rows = [
        ("device compute (units 1..s)", report.device_compute_s, "", ""),
        ("uplink", report.uplink_s, str(report.uplink_bytes), up_profile),
        ("edge queue", report.edge_queue_s, "", ""),
        ("edge compute (units s+1..F)", report.edge_compute_s, "", ""),
        ("downlink", report.downlink_s, str(report.downlink_bytes), down_profile),
        ("other (HTTP, decoding)", report.other_s, "", ""),
    ]
    for name, seconds, sent, expected in rows:
        table.add_row(name, f"{seconds * 1e3:.3f}", sent, expected)
    table.add_row("total", f"{report.total_s * 1e3:.3f}", "", "", style="bold")
    return table


def register(app: typer.Typer) -> None:
    """Add the ``device`` command group to the app."""
    device_app = typer.Typer(help="The device side of split inference.", no_args_is_help=True)
    app.add_typer(device_app, name="device")

    @device_app.command("run")
    @handle_errors
    def run(
        edge: str | None = typer.Option(None, "--edge", help="Edge URL (not needed for Device-Only)."),
        model: str | None = typer.Option(None, "--model", help="Zoo model (or from --plan)."),
        split: int | None = typer.Option(None, "--split", help="Split point s in 0..F (or from --plan)."),
        input_path: Path | None = typer.Option(None, "--input", help="Input tensor: .npy or .safetensors."),
        random_seed: int | None = typer.Option(None, "--random-seed", help="Random input from this seed."),
        uplink_bps: float | None = typer.Option(None, "--uplink-bps", help="Emulated uplink rate (bit/s)."),
        downlink_bps: float | None = typer.Option(None, "--downlink-bps", help="Emulated downlink rate."),
        plan_path: Path | None = typer.Option(None, "--plan", help="Plan JSON: split and rates of --user."),
        scenario_path: Path | None = typer.Option(None, "--scenario", help="The plan's scenario JSON."),
        user: int | None = typer.Option(None, "--user", help="User index in the plan (0-based)."),
        seed: int = typer.Option(0, "--seed", help="Weight seed (as the edge's)."),
        weights: Path | None = typer.Option(None, "--weights", help="State dict (as the edge's)."),
        rtol: float = typer.Option(1e-4, "--rtol", help="Relative tolerance of the output check."),
        atol: float = typer.Option(1e-4, "--atol", help="Absolute tolerance of the output check."),
        out: Path | None = typer.Option(None, "--json", help="Write the report as JSON here."),
        force: bool = typer.Option(
            False, "--force", help="Use a --plan made for another scenario (its scenario_sha256) anyway."
        ),
        timeout_s: float | None = typer.Option(None, "--timeout-s", help=TIMEOUT_HELP),
    ) -> None:
        """Run units 1..S here, units S+1..F on the edge, and check the result against the local model."""
        from nomasplit import zoo
        from nomasplit.data.files import load_plan, load_scenario
        from nomasplit.data.plan import check_plan_matches_scenario
        from nomasplit.io import check_output_path, write_json
        from nomasplit.runtime.client import DEFAULT_TIMEOUT_S, EdgeClient, EdgeError, check_timeout_s, token_from_env
        from nomasplit.runtime.device import (
            assignment_from_plan,
            check_edge_weights,
            load_input,
            random_input,
            run_split,
        )
        from nomasplit.runtime.models import load_zoo_model

        timeout_s = check_timeout_s(DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s)
        assignment = None
        if plan_path is not None or scenario_path is not None or user is not None:
            if plan_path is None or scenario_path is None or user is None:
                raise InputError("--plan needs --scenario and --user (all three together)")
            if split is not None or uplink_bps is not None or downlink_bps is not None:
                raise InputError("--plan sets the split and rates: drop --split, --uplink-bps, --downlink-bps")
            scenario, plan = load_scenario(scenario_path), load_plan(plan_path)
            warning = check_plan_matches_scenario(
                plan,
                scenario,
                plan_source=f"plan {plan_path}",
                scenario_source=f"scenario {scenario_path}",
                force=force,
            )
            if warning is not None:
                warn(warning)
            assignment = assignment_from_plan(scenario, plan, user)
            if model is not None and model != assignment.model:
                raise InputError(f"--model {model} differs from the plan's model {assignment.model} of user {user}")
            model, split = assignment.model, assignment.split
            uplink_bps, downlink_bps = assignment.uplink_bps, assignment.downlink_bps
        if model is None or split is None:
            raise InputError("give --model and --split, or --plan with --scenario and --user")
        if input_path is not None and random_seed is not None:
            raise InputError("give --input or --random-seed, not both")
        uplink_bps = _check_rate(uplink_bps, "--uplink-bps")
        downlink_bps = _check_rate(downlink_bps, "--downlink-bps")
        if rtol < 0 or atol < 0:
            raise InputError(f"--rtol and --atol must be >= 0, got {rtol} and {atol}")
        if out is not None:
            check_output_path(out, inputs=(plan_path, scenario_path, input_path, weights), option="--json")
        runnable = load_zoo_model(model, seed=seed, weights=weights)
        if not 0 <= split <= runnable.num_units:
            raise InputError(f"--split {split} is out of range: {model} has split points 0..{runnable.num_units}")
        if input_path is not None:
            inputs = load_input(input_path, runnable)
        else:
            inputs = random_input(runnable, random_seed or 0)
        profile = zoo.load_bundled_profile(model)
        offloads = split < runnable.num_units
        if offloads and edge is None:
            raise InputError(f"split {split} < F = {runnable.num_units} offloads: give --edge URL")
        try:
            if offloads:
                assert edge is not None
                with EdgeClient(edge, token_from_env(), timeout_s=timeout_s) as client:
                    check_edge_weights(client, runnable)
                    report, _ = run_split(
                        runnable, split, inputs, client=client, uplink_bps=uplink_bps,
                        downlink_bps=downlink_bps, profile=profile, rtol=rtol, atol=atol,
                    )  # fmt: skip
            else:
                report, _ = run_split(runnable, split, inputs, client=None, profile=profile, rtol=rtol, atol=atol)
        except EdgeError as exc:
            raise fail(str(exc), 1) from None
        document: dict[str, Any] = {"report": report.model_dump(mode="json")}
        if assignment is not None:
            document["plan"] = assignment.model_dump(mode="json")
            document["comparison"] = plan_comparison(assignment, report)
        if out is not None:
            write_json(out, document)
        console.print(_stage_table(report))
        if uplink_bps is not None or downlink_bps is not None:
            console.print(f"shaped: uplink {uplink_bps or 0:.6g} bit/s, downlink {downlink_bps or 0:.6g} bit/s")
        if assignment is not None:
            console.print(comparison_table(assignment, report))
        if assignment is not None and assignment.scenario_latency_per_task_s is not None:
            console.print(
                f"plan: user {assignment.user}, predicted latency per task on the scenario's hardware "
                f"{assignment.scenario_latency_per_task_s * 1e3:.3f} ms"
            )
        verdict = "matches" if report.matches else "DIFFERS from"
        console.print(
            f"result {verdict} the full local model: max |difference| = {report.max_abs_diff:.3g} "
            f"(rtol {rtol:g}, atol {atol:g})"
        )
        if not report.matches:
            raise fail(f"split output differs from the local model (max |difference| {report.max_abs_diff:.3g})", 1)
