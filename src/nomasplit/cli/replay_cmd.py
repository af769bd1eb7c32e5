"""``nomasplit edge replay``: the offloading users of one AP at once against one edge server."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from nomasplit.cli.common import console, fail, handle_errors, warn


def _edge_group(app: typer.Typer) -> typer.Typer:
    """The ``edge`` command group (registered by ``runtime_cmd``)."""
    for group in app.registered_groups:
        if group.name == "edge" and group.typer_instance is not None:
            return group.typer_instance
    raise RuntimeError("the edge command group must be registered before replay_cmd")  # pragma: no cover


def register(app: typer.Typer) -> None:
    """Add ``replay`` to the ``edge`` command group."""
    edge_app = _edge_group(app)

    @edge_app.command("replay")
    @handle_errors
    def replay(
        plan_path: Path = typer.Argument(..., metavar="PLAN", help="Plan JSON."),
        scenario_path: Path = typer.Argument(..., metavar="SCENARIO", help="The plan's scenario JSON."),
        users: int = typer.Option(..., "--users", help="How many offloading users of the AP to replay (1..16)."),
        ap: int | None = typer.Option(None, "--ap", help="The AP (default: the one with most offloading users)."),
        rounds: int = typer.Option(3, "--rounds", help="Timed rounds after one warm-up (median round shown)."),
        max_seconds: float = typer.Option(120.0, "--max-seconds", help="Limit on the whole replay."),
        seed: int = typer.Option(0, "--seed", help="Weight seed of the zoo models."),
        out: Path | None = typer.Option(None, "--json", help="Write the full result as JSON here."),
        force: bool = typer.Option(
            False, "--force", help="Replay a plan made for another scenario (its scenario_sha256) anyway."
        ),
    ) -> None:
        """Replay one AP's offloading users at once on a loopback edge: measured against planned, per user."""
        from nomasplit.data.files import load_plan, load_scenario
        from nomasplit.data.plan import check_plan_matches_scenario
        from nomasplit.io import check_output_path, write_json
        from nomasplit.runtime.replay import run_replay

        if out is not None:
            check_output_path(out, inputs={"PLAN": plan_path, "SCENARIO": scenario_path}, option="--json")
        scenario, plan = load_scenario(scenario_path), load_plan(plan_path)
        warning = check_plan_matches_scenario(
            plan, scenario, plan_source=f"plan {plan_path}", scenario_source=f"scenario {scenario_path}", force=force
        )
        if warning is not None:
            warn(warning)
        result = run_replay(
            scenario,
            plan,
            num_users=users,
            ap=ap,
            rounds=rounds,
            max_seconds=max_seconds,
            seed=seed,
        )
        table = Table(
            title=f"AP {result.ap}: {len(result.users)} users at once, median of {result.rounds} rounds "
            f"(predicted = the plan's system model, one task)"
        )
        for column in ("user", "model", "s", "r", "up Mbit/s", "edge pred ms", "edge meas ms", "total pred ms",
                       "total meas ms", "error"):  # fmt: skip
            table.add_column(column, justify="left" if column == "model" else "right")
        for user in result.users:
            assignment = user.assignment
            rows = {row.stage: row for row in user.comparison}
            total, edge = rows["total"], rows["edge compute"]
            table.add_row(
                str(assignment.user),
                assignment.model,
                str(assignment.split),
                f"{assignment.compute_units or 0:.2f}",
                f"{(assignment.uplink_bps or 0) / 1e6:.2f}",
                f"{edge.predicted_s * 1e3:.1f}",
                f"{edge.measured_s * 1e3:.1f}",
                f"{total.predicted_s * 1e3:.1f}",
                f"{total.measured_s * 1e3:.1f}",
                "" if total.error is None else f"{total.error:+.1%}",
            )
        console.print(table)
        console.print(
            f"edge: {result.edge_compute_workers} compute workers, {result.edge_threads_per_forward} thread per "
            f"forward; planned units sum to {result.planned_units_total:g} on a {result.host_cpus}-CPU host; "
            f"load average {result.load_average_before[0]} before, {result.load_average_after[0]} after; "
            f"{result.wall_s:.1f} s"
        )
        if out is not None:
            write_json(out, result.model_dump(mode="json"))
            console.print(f"wrote {out}")
        if not all(user.matches for user in result.users):
            raise fail("an edge answer differs from the full local model", 1)
        console.print("every answer matches the full local model")
