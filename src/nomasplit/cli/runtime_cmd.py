"""``nomasplit edge serve|loadtest`` and ``nomasplit device run``: split inference for real, over HTTP."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from nomasplit.cli.common import console, fail, handle_errors, warn
from nomasplit.cli.compare_view import comparison_table, plan_comparison
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
    """Add the ``edge`` and ``device`` command groups to the app."""
    edge_app = typer.Typer(help="The edge server of split inference.", no_args_is_help=True)
    device_app = typer.Typer(help="The device side of split inference.", no_args_is_help=True)
    app.add_typer(edge_app, name="edge")
    app.add_typer(device_app, name="device")

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
    ) -> None:
        """N concurrent clients for a bounded time: throughput, p50/p99 latency, errors."""
        from nomasplit.io import check_output_path, write_json
        from nomasplit.runtime.client import EdgeClient, EdgeError, token_from_env
        from nomasplit.runtime.device import check_edge_weights, device_part, local_output, random_input
        from nomasplit.runtime.loadtest import run_load_test
        from nomasplit.runtime.models import load_zoo_model

        token = token_from_env()
        if out is not None:
            check_output_path(out, inputs=(weights,), option="--json")
        runnable = load_zoo_model(model, seed=seed, weights=weights)
        if not 0 <= split < runnable.num_units:
            raise InputError(f"--split {split} is out of range: the edge runs 0..{runnable.num_units - 1}")
        inputs = random_input(runnable, random_seed)
        intermediate = device_part(runnable, split, inputs)
        try:
            with EdgeClient(edge, token) as client:
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
    ) -> None:
        """Run units 1..S here, units S+1..F on the edge, and check the result against the local model."""
        from nomasplit import zoo
        from nomasplit.data.files import load_plan, load_scenario
        from nomasplit.data.plan import check_plan_matches_scenario
        from nomasplit.io import check_output_path, write_json
        from nomasplit.runtime.client import EdgeClient, EdgeError, token_from_env
        from nomasplit.runtime.device import (
            assignment_from_plan,
            check_edge_weights,
            load_input,
            random_input,
            run_split,
        )
        from nomasplit.runtime.models import load_zoo_model

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
                with EdgeClient(edge, token_from_env()) as client:
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
