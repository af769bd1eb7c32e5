"""Replay one AP of a plan for real: its offloading users at once against one edge server over loopback.

The system model gives each offloading user its own edge speed ``lambda(r_i) c_min`` (eq. 3), as if the users
of an AP never got in each other's way on the server. ``run_replay`` checks that: it starts ``nomasplit edge
serve`` in its own process on 127.0.0.1 (a fresh random token, ``compute_workers`` = number of users, one
torch thread per forward), computes each user's device part alone (as on its own phone), then releases all
users at once: each sends its tensor at its planned uplink rate ``R_i``, the edge runs units ``s_i+1..F``,
and the answer comes back at the planned downlink rate ``Phi_i``. Per user, every stage is set against the
plan's prediction for one task (``T/k`` from :func:`nomasplit.model.evaluate`). The round is repeated and
the median round per user reported.

Compute units: torch's intra-op thread count is one setting per process, so one server cannot give
concurrent requests different thread counts; every forward runs on one thread, on its own worker. A plan
whose ``r_i`` are 1 (``compute_units_min = compute_units_max = 1`` in the scenario) asks exactly that;
otherwise the prediction keeps the plan's ``lambda(r_i)`` and the table shows ``r_i`` beside it.
"""

from __future__ import annotations

import os
import secrets
import selectors
import subprocess
import sys
import threading
import time
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

from nomasplit.data import Plan, Scenario
from nomasplit.errors import InputError
from nomasplit.runtime.client import EdgeClient, EdgeError
from nomasplit.runtime.device import PlanAssignment, assignment_from_plan, local_output, random_input
from nomasplit.runtime.models import RunnableModel, load_zoo_model
from nomasplit.runtime.prediction import StageComparison, compare_stages

#: Most users one replay runs at once, and the longest it may take.
MAX_USERS = 16
MAX_SECONDS = 600.0


class MeasuredStages(BaseModel):
    """Measured stages of one split inference [s] (what :func:`compare_stages` reads)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device_compute_s: float
    uplink_s: float
    edge_queue_s: float
    edge_compute_s: float
    downlink_s: float
    other_s: float
    total_s: float


class ReplayUser(MeasuredStages):
    """One user of the replay: the plan's assignment and the median round's stages against the prediction."""

    assignment: PlanAssignment
    rounds: int
    comparison: list[StageComparison]
    matches: bool = Field(description="every round's output equal to the full local model (rtol = atol = 1e-4)")


class ReplayResult(BaseModel):
    """The replay of one AP: its users, the edge's settings and the host's load."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ap: int
    users: list[ReplayUser]
    rounds: int
    edge_compute_workers: int
    edge_threads_per_forward: int
    planned_units_total: float = Field(description="sum of the replayed users' r_i")
    host_cpus: int
    load_average_before: list[float]
    load_average_after: list[float]
    wall_s: float


def select_users(scenario: Scenario, plan: Plan, num_users: int, ap: int | None) -> tuple[int, list[PlanAssignment]]:
    """The first ``num_users`` offloading users (by index) of ``ap``, or of the AP with the most offloading users.

    Raises:
        InputError: bad counts, an AP out of range, or no offloading user there.
    """
    if not 1 <= num_users <= MAX_USERS:
        raise InputError(f"--users {num_users} is out of range: allowed 1..{MAX_USERS}")
    if ap is not None and not 0 <= ap < scenario.num_aps:
        raise InputError(f"--ap {ap} does not exist: the scenario has APs 0..{scenario.num_aps - 1}")
    plan.check_against(scenario)
    assignments = [assignment_from_plan(scenario, plan, user) for user in range(scenario.num_users)]
    offloading: dict[int, list[PlanAssignment]] = {}
    for assignment in assignments:
        if assignment.split < assignment.num_units:
            offloading.setdefault(scenario.association[assignment.user], []).append(assignment)
    if ap is None:
        if not offloading:
            raise InputError("no user offloads in this plan: there is nothing to replay")
        ap = max(sorted(offloading), key=lambda key: len(offloading[key]))
    chosen = offloading.get(ap, [])[:num_users]
    if not chosen:
        raise InputError(f"no user of AP {ap} offloads in this plan: there is nothing to replay")
    return ap, chosen


def _start_edge(models: list[str], workers: int, token: str, timeout_s: float) -> tuple[subprocess.Popen[str], str]:
    command = [
        sys.executable, "-c", "from nomasplit.cli.main import main; main()", "edge", "serve", "--host",
        "127.0.0.1", "--port", "0", "--models", ",".join(models), "--compute-workers", str(workers),
        "--threads", "1", "--max-inflight", str(2 * workers + 8), "--request-timeout-s", str(timeout_s),
    ]  # fmt: skip
    process = subprocess.Popen(command, env={**os.environ, "NOMASPLIT_TOKEN": token}, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + 120.0
    while time.monotonic() < deadline and process.poll() is None:
        if selector.select(timeout=0.5):
            line = process.stdout.readline()
            if " at http" in line:
                return process, line.split(" at ")[1].split()[0]
    stop_edge(process)
    raise InputError("the edge server for the replay did not start within 120 s")


def stop_edge(process: subprocess.Popen[str]) -> None:
    """Stop an edge server process started for a run (terminate, then kill after 20 s) and close its pipe."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


def run_replay(
    scenario: Scenario,
    plan: Plan,
    *,
    num_users: int,
    ap: int | None = None,
    rounds: int = 3,
    max_seconds: float = 120.0,
    seed: int = 0,
    input_seed: int = 0,
) -> ReplayResult:
    """Replay the offloading users of one AP concurrently (see the module doc); bounded by ``max_seconds``.

    Raises:
        InputError: bad arguments, a planned transfer longer than ``max_seconds``, or an edge error.
    """
    if not 1 <= rounds <= 20:
        raise InputError(f"--rounds {rounds} is out of range: allowed 1..20")
    if not 1.0 <= max_seconds <= MAX_SECONDS:
        raise InputError(f"--max-seconds {max_seconds} is out of range: allowed 1..{MAX_SECONDS:g}")
    ap, chosen = select_users(scenario, plan, num_users, ap)
    for assignment in chosen:
        predicted = assignment.predicted
        assert predicted is not None
        if predicted.uplink_s + predicted.downlink_s > max_seconds / (rounds + 1):
            raise InputError(
                f"user {assignment.user}'s planned transfers take {predicted.uplink_s + predicted.downlink_s:.1f} s "
                f"per task; {rounds + 1} rounds do not fit in --max-seconds {max_seconds:g}"
            )
    started = time.perf_counter()
    load_before = [round(value, 2) for value in os.getloadavg()]
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    models: dict[str, RunnableModel] = {}
    for assignment in chosen:
        if assignment.model not in models:
            models[assignment.model] = load_zoo_model(assignment.model, seed=seed)
    inputs = {name: random_input(model, input_seed) for name, model in models.items()}
    references = {name: local_output(model, inputs[name]) for name, model in models.items()}
    token = secrets.token_urlsafe(32)
    process, url = _start_edge(sorted(models), len(chosen), token, max_seconds)
    runs: dict[int, list[dict[str, Any]]] = {assignment.user: [] for assignment in chosen}
    try:
        clients = {assignment.user: EdgeClient(url, token, timeout_s=max_seconds) for assignment in chosen}
        try:
            for round_index in range(rounds + 1):  # round 0 warms up
                _one_round(chosen, models, inputs, references, clients, runs if round_index > 0 else None)
                if time.perf_counter() - started > max_seconds:
                    raise InputError(f"the replay ran past --max-seconds {max_seconds:g} (round {round_index})")
        finally:
            for client in clients.values():
                client.close()
    finally:
        stop_edge(process)
        torch.set_num_threads(previous_threads)
    users = []
    for assignment in chosen:
        user_runs = runs[assignment.user]
        median = sorted(user_runs, key=lambda run: run["total_s"])[len(user_runs) // 2]
        measured = {key: value for key, value in median.items() if key != "matches"}
        assert assignment.predicted is not None
        comparison = compare_stages(assignment.predicted, MeasuredStages(**measured))
        users.append(
            ReplayUser(
                assignment=assignment,
                rounds=len(user_runs),
                comparison=comparison,
                matches=all(run["matches"] for run in user_runs),
                **measured,
            )
        )
    return ReplayResult(
        ap=ap,
        users=users,
        rounds=rounds,
        edge_compute_workers=len(chosen),
        edge_threads_per_forward=1,
        planned_units_total=float(sum(a.compute_units or 0.0 for a in chosen)),
        host_cpus=os.cpu_count() or 1,
        load_average_before=load_before,
        load_average_after=[round(value, 2) for value in os.getloadavg()],
        wall_s=time.perf_counter() - started,
    )


def _one_round(
    chosen: list[PlanAssignment],
    models: dict[str, RunnableModel],
    inputs: dict[str, torch.Tensor],
    references: dict[str, torch.Tensor],
    clients: dict[int, EdgeClient],
    runs: dict[int, list[dict[str, Any]]] | None,
) -> None:
    """Device parts one after another (each alone, as on its own phone), then every offload at once."""
    intermediates = {}
    device_s = {}
    for assignment in chosen:
        model = models[assignment.model]
        began = time.perf_counter()
        with torch.inference_mode():
            intermediates[assignment.user] = model.head(assignment.split)(inputs[assignment.model])
        device_s[assignment.user] = time.perf_counter() - began
    barrier = threading.Barrier(len(chosen))
    results: dict[int, Any] = {}

    def offload(assignment: PlanAssignment) -> None:
        barrier.wait()
        try:
            results[assignment.user] = clients[assignment.user].infer(
                assignment.model,
                assignment.split,
                intermediates[assignment.user],
                uplink_bps=assignment.uplink_bps,
                downlink_bps=assignment.downlink_bps,
            )
        except EdgeError as exc:
            results[assignment.user] = exc

    threads = [threading.Thread(target=offload, args=(assignment,), daemon=True) for assignment in chosen]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for assignment in chosen:
        reply = results.get(assignment.user)
        if reply is None or isinstance(reply, EdgeError):
            raise InputError(f"user {assignment.user}: the edge did not answer: {reply}")
        if runs is None:
            continue
        reference = references[assignment.model]
        matches = tuple(reply.output.shape) == tuple(reference.shape) and bool(
            torch.allclose(reply.output, reference, rtol=1e-4, atol=1e-4)
        )
        runs[assignment.user].append(
            {
                "device_compute_s": device_s[assignment.user],
                "uplink_s": reply.uplink_s,
                "edge_queue_s": reply.edge_queue_s,
                "edge_compute_s": reply.edge_compute_s,
                "downlink_s": reply.downlink_s,
                "other_s": reply.other_s,
                "total_s": device_s[assignment.user] + reply.total_s,
                "matches": matches,
            }
        )
