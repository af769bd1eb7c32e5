"""``nomasplit simulate [CONFIG] --slots N --policy warm,cold,static --out DIR``: plans over a moving network."""

from __future__ import annotations

import math
from pathlib import Path

import typer

from nomasplit.cli.common import console, handle_errors
from nomasplit.cli.solve_cmd import parse_settings
from nomasplit.errors import InputError
from nomasplit.io import check_output_folder

#: What ``simulate`` writes into its ``--out`` folder (and the temporary files of its atomic writes).
OUTPUTS = ("online.parquet", "online.png", "online.svg", ".*.tmp")


def parse_policies(items: list[str]) -> list[str]:
    """``["warm,cold", "static"]`` -> ``["warm", "cold", "static"]`` (order kept, repeats dropped)."""
    from nomasplit.experiments.online import POLICIES

    names: list[str] = []
    for item in items:
        for name in (part.strip() for part in item.split(",")):
            if not name:
                continue
            if name not in POLICIES:
                raise InputError(f"--policy {name!r} is not a policy; allowed: {', '.join(POLICIES)}")
            if name not in names:
                names.append(name)
    if not names:
        raise InputError(f"--policy needs at least one of {', '.join(POLICIES)}")
    return names


def register(app: typer.Typer) -> None:
    """Add ``simulate`` to the app."""

    @app.command("simulate")
    @handle_errors
    def simulate_command(
        config_path: Path | None = typer.Argument(
            None,
            metavar="[CONFIG]",
            help="YAML or JSON config of `scenario generate`, with an optional `dynamics` section (docs/online.md). "
            "Omitted: the paper's Section VI-A setup and default dynamics.",
        ),
        out: Path = typer.Option(..., "--out", "-o", help="Folder of online.parquet and online.png/.svg."),
        slots: int | None = typer.Option(None, "--slots", help="Slots to run, slot 0 included (default 10)."),
        duration_s: float | None = typer.Option(
            None, "--duration-s", help="Or the run's length in seconds (slots = duration / slot_s)."
        ),
        policy: list[str] = typer.Option(
            ["static", "warm", "cold"],
            "--policy",
            "-p",
            help="warm, cold, static, every-k, oracle (repeatable or a comma list).",
        ),
        every: int = typer.Option(5, "--every", help="Period k of the every-k policy, in slots."),
        churn_cost: float = typer.Option(
            0.0, "--churn-cost", help="Cost per user whose split or subchannel changes, in units of Gamma."
        ),
        speed: float | None = typer.Option(None, "--speed", help="Override dynamics.speed_m_per_s [m/s]."),
        seed: int | None = typer.Option(None, "--seed", help="Random seed (overrides the config's seed)."),
        initial_plan: Path | None = typer.Option(
            None, "--initial-plan", help="Plan JSON for slot 0's scenario (`scenario generate` of the same config)."
        ),
        set_: list[str] = typer.Option([], "--set", help="ligd setting key=value of the cold solves (repeatable)."),
        no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
        force: bool = typer.Option(False, "--force", help="Write into a folder that holds other files."),
    ) -> None:
        """Run a time-slotted simulation of a moving network and write one row per slot and policy."""
        policies = parse_policies(policy)
        if seed is not None and seed < 0:
            raise InputError(f"--seed must be 0 or more, got {seed}")
        if speed is not None and not (math.isfinite(speed) and speed >= 0):
            raise InputError(f"--speed must be a speed of 0 m/s or more, got {speed:g}")
        if every < 1:
            raise InputError(f"--every must be at least 1 slot, got {every}")
        if not (math.isfinite(churn_cost) and churn_cost >= 0):
            raise InputError(f"--churn-cost must be 0 or more, got {churn_cost:g}")
        if slots is not None and duration_s is not None:
            raise InputError("give --slots or --duration-s, not both")
        if slots is not None and slots < 1:
            raise InputError(f"--slots must be at least 1, got {slots}")
        if duration_s is not None and not (math.isfinite(duration_s) and duration_s > 0):
            raise InputError(f"--duration-s must be a positive number of seconds, got {duration_s:g}")
        if config_path is not None and not config_path.is_file():
            raise InputError(f"config {config_path} does not exist")
        inputs = {"CONFIG": config_path, "--initial-plan": initial_plan}
        check_output_folder(out, own=OUTPUTS, inputs=inputs, force=force)
        settings = parse_settings(set_)

        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from nomasplit.data.files import load_plan
        from nomasplit.experiments.online import plot_online, run_online, summarise, write_table
        from nomasplit.generate.dynamics import load_simulation_config

        config, dynamics = load_simulation_config(config_path)
        if speed is not None:
            dynamics = dynamics.model_copy(update={"speed_m_per_s": speed})
        if duration_s is not None:
            if dynamics.slot_s > duration_s:
                raise InputError(
                    f"the slot ({dynamics.slot_s:g} s, dynamics.slot_s) is longer than the run (--duration-s "
                    f"{duration_s:g})"
                )
            slots = math.floor(duration_s / dynamics.slot_s + 1e-9)
        num_slots = 10 if slots is None else slots
        plan = load_plan(initial_plan) if initial_plan is not None else None
        out.mkdir(parents=True, exist_ok=True)
        total = num_slots * len(policies)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=no_progress,
            transient=True,
        ) as bar:
            task = bar.add_task(f"simulating {num_slots} slots", total=total)

            def advance(slot: int, name: str) -> None:
                bar.update(task, advance=1, description=f"slot {slot} {name}")

            table = run_online(
                config,
                dynamics,
                slots=num_slots,
                policies=policies,
                every=every,
                churn_cost=churn_cost,
                settings=settings,
                seed=seed,
                initial_plan=plan,
                progress=advance,
            )
        path = write_table(table, out)
        figures = plot_online(table, out)
        summary = summarise(table)
        for row in summary.itertuples(index=False):
            console.print(
                f"{row.policy:>8}: mean Gamma {row.objective:.6g} (+{row.excess_pct:.2f} % over the best of each "
                f"slot), re-plan {row.replan_s:.3f} s mean / {row.replan_max_s:.3f} s max "
                f"({row.replan_cpu_median_s:.3f} s CPU, median), "
                f"{row.changed_users:.1f} users changed per slot",
                highlight=False,
            )
        console.print(f"wrote {path}, {', '.join(str(figure) for figure in figures)}", highlight=False)
