"""``nomasplit edge serve|loadtest|replay``: the edge server of split inference, a load test against it, and the
offloading users of one AP at once against one server."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.table import Table

from nomasplit.cli.common import console, fail, handle_errors, warn
from nomasplit.cli.device_cmd import TIMEOUT_HELP
from nomasplit.errors import InputError

_DEFAULT_MODELS = "nin,tiny-yolov2,vgg16"


def _parse_weights(items: list[str]) -> dict[str, str]:
    weights: dict[str, str] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise InputError(f"--weights {item!r} must be MODEL=FILE.safetensors")
        if name in weights:
            raise InputError(f"--weights names model {name!r} twice")
        weights[name] = path
    return weights


def register(app: typer.Typer) -> None:
    """Add the ``edge`` command group to the app."""
    edge_app = typer.Typer(help="The edge server of split inference.", no_args_is_help=True)
    app.add_typer(edge_app, name="edge")

    @edge_app.command("serve")
    @handle_errors
    def serve(
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
        port: int = typer.Option(8000, "--port", help="TCP port (0 picks a free one and prints it)."),
        models: str = typer.Option(_DEFAULT_MODELS, "--models", help="Comma-separated zoo models to serve."),
        seed: int = typer.Option(0, "--seed", help="Weight seed (the device must use the same)."),
        weights: list[str] = typer.Option(
            [], "--weights", help="MODEL=FILE.safetensors: that model's state dict instead of seeded weights."
        ),
        max_body_bytes: int = typer.Option(64 * 2**20, "--max-body-bytes", help="Largest request body."),
        max_inflight: int = typer.Option(8, "--max-inflight", help="Requests handled at once; more get 503."),
        compute_workers: int = typer.Option(1, "--compute-workers", help="Threads running model forwards."),
        request_timeout_s: float = typer.Option(
            60.0, "--request-timeout-s", help="Limit on receiving a body and on a paced answer."
        ),
        header_timeout_s: float = typer.Option(
            10.0, "--header-timeout-s", help="A connection must send its request line and headers within this time."
        ),
        max_waiting_connections: int = typer.Option(
            64,
            "--max-waiting-connections",
            help="Connections waiting for their headers at once; more close the oldest.",
        ),
        access_log: bool = typer.Option(False, "--access-log", help="Log every request."),
        threads: int | None = typer.Option(None, "--threads", help="torch intra-op threads."),
    ) -> None:
        """Serve "run units s+1..F of MODEL on this tensor" requests; NOMASPLIT_TOKEN must be set."""
        from nomasplit.data.files import validate_as
        from nomasplit.runtime.client import TOKEN_ENV, token_from_env
        from nomasplit.runtime.models import load_zoo_models
        from nomasplit.runtime.server import EdgeSettings
        from nomasplit.runtime.server import serve as serve_edge

        token = token_from_env()
        settings = validate_as(
            EdgeSettings,
            {
                "token": token,
                "max_body_bytes": max_body_bytes,
                "max_inflight": max_inflight,
                "compute_workers": compute_workers,
                "request_timeout_s": request_timeout_s,
                "header_timeout_s": header_timeout_s,
                "max_waiting_connections": max_waiting_connections,
            },
            f"edge serve options ({TOKEN_ENV} is the token)",
        )
        if not 0 <= port <= 65535:
            raise InputError(f"--port {port} is out of range: allowed 0..65535")
        if threads is not None:
            if not 1 <= threads <= 1024:
                raise InputError(f"--threads {threads} is out of range: allowed 1..1024")
            import torch

            torch.set_num_threads(threads)
        names = [name.strip() for name in models.split(",") if name.strip()]
        if not names:
            raise InputError("--models is empty; list zoo models, e.g. nin,vgg16")
        served = load_zoo_models(names, seed=seed, weights=_parse_weights(weights))

        def ready(url: str) -> None:
            print(f"edge: serving {', '.join(served)} at {url} (Ctrl-C to stop)", flush=True)
            if host not in ("127.0.0.1", "localhost", "::1"):
                print("edge: warning: plain HTTP; the token and tensors travel unencrypted", file=sys.stderr)

        try:
            serve_edge(served, settings, host=host, port=port, on_ready=ready, access_log=access_log)
        except OSError as exc:
            raise InputError(str(exc)) from None

    @edge_app.command("loadtest")
    @handle_errors
    def loadtest(
        edge: str = typer.Option(..., "--edge", help="Edge URL, e.g. http://127.0.0.1:8000."),
        model: str = typer.Option(..., "--model", help="Zoo model."),
        split: int = typer.Option(..., "--split", help="Split point s in 0..F-1."),
        clients: int = typer.Option(4, "--clients", help="Concurrent clients."),
        duration_s: float = typer.Option(10.0, "--duration-s", help="How long clients keep sending."),
        seed: int = typer.Option(0, "--seed", help="Weight seed (as the edge's)."),
        weights: Path | None = typer.Option(None, "--weights", help="State dict (as the edge's)."),
        random_seed: int = typer.Option(0, "--random-seed", help="Seed of the random input."),
        out: Path | None = typer.Option(None, "--json", help="Write the result as JSON here."),
        timeout_s: float | None = typer.Option(None, "--timeout-s", help=TIMEOUT_HELP),
    ) -> None:
        """N concurrent clients for a bounded time: throughput, p50/p99 latency, errors."""
        from nomasplit.io import check_output_path, write_json
        from nomasplit.runtime.client import DEFAULT_TIMEOUT_S, EdgeClient, EdgeError, check_timeout_s, token_from_env
        from nomasplit.runtime.device import check_edge_weights, device_part, local_output, random_input
        from nomasplit.runtime.loadtest import run_load_test
        from nomasplit.runtime.models import load_zoo_model

        timeout_s = check_timeout_s(DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s)
        token = token_from_env()
        if out is not None:
            check_output_path(out, inputs=(weights,), option="--json")
        runnable = load_zoo_model(model, seed=seed, weights=weights)
        if not 0 <= split < runnable.num_units:
            raise InputError(f"--split {split} is out of range: the edge runs 0..{runnable.num_units - 1}")
        inputs = random_input(runnable, random_seed)
        intermediate = device_part(runnable, split, inputs)
        try:
            with EdgeClient(edge, token, timeout_s=timeout_s) as client:
                check_edge_weights(client, runnable)
                max_inflight = client.models().get("limits", {}).get("max_inflight")
            result = run_load_test(
                edge,
                token,
                model=model,
                split=split,
                intermediate=intermediate,
                reference=local_output(runnable, inputs),
                num_clients=clients,
                duration_s=duration_s,
                timeout_s=timeout_s,
            )
        except EdgeError as exc:
            raise fail(str(exc), 1) from None
        if out is not None:
            write_json(out, result.model_dump(mode="json"))
        console.print_json(data=result.model_dump(mode="json"))
        if result.busy:
            console.print(
                f"{result.busy} answers were 503 busy (retried after Retry-After, not counted as errors): the edge "
                f"runs at most --max-inflight = {max_inflight} requests at once; for {clients} clients start it with "
                f"edge serve --max-inflight {clients} or more",
                highlight=False,
            )
        if result.errors or result.mismatches or not result.correct:
            raise fail(
                f"{sum(result.errors.values())} errors, {result.mismatches} wrong answers, {result.correct} correct", 1
            )

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
