"""Load test: N concurrent device clients send the same split request to one edge for a bounded time.

Each client is a thread with its own connection. It sends the precomputed intermediate tensor (so the edge,
not the clients' own compute, is what is measured), checks every answer against the full local model's
output, and records its latency. The result counts answers by outcome: correct, wrong (a mismatch), busy
(the edge's 503 when ``--max-inflight`` requests are already running: the client waits ``Retry-After`` and
sends again; not an error), or an error by code."""

from __future__ import annotations

import threading
import time
from collections import Counter

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from nomasplit.errors import InputError
from nomasplit.runtime.client import DEFAULT_TIMEOUT_S, EdgeClient, EdgeError, check_timeout_s


class LoadTestResult(BaseModel):
    """Outcome of :func:`run_load_test`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    split: int
    num_clients: int
    duration_s: float = Field(description="wall time from the first request to the last answer")
    requests: int = Field(description="requests answered (any outcome)")
    correct: int = Field(description="answers equal to the local model's output (allclose)")
    mismatches: int = Field(description="200 answers that differ from the local output")
    busy: int = Field(
        default=0, description="503 busy answers (the edge's --max-inflight was reached); retried after Retry-After"
    )
    errors: dict[str, int] = Field(description="failed requests by error code (busy answers not included)")
    throughput_rps: float = Field(description="correct answers per second")
    latency_p50_s: float | None
    latency_p99_s: float | None
    latency_max_s: float | None


def run_load_test(
    url: str,
    token: str,
    *,
    model: str,
    split: int,
    intermediate: torch.Tensor | dict[str, torch.Tensor],
    reference: torch.Tensor,
    num_clients: int,
    duration_s: float,
    rtol: float = 1e-4,
    atol: float = 1e-4,
    timeout_s: float | None = None,
) -> LoadTestResult:
    """Run ``num_clients`` clients for ``duration_s`` seconds (each finishes its request in flight).

    Args:
        url: the edge.
        token: shared secret.
        model: served model name.
        split: ``s`` in ``0..F-1``.
        intermediate: output of units ``1..s`` (what every client sends; a DAG split's live tensors by name).
        reference: the full local model's output (what every answer must equal).
        num_clients: concurrent clients, 1..256.
        duration_s: how long clients keep sending, in (0, 3600].
        rtol, atol: tolerance of the check.
        timeout_s: the overall deadline of each client's every request (``None``:
            :data:`~nomasplit.runtime.client.DEFAULT_TIMEOUT_S`).
    """
    timeout_s = check_timeout_s(DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s)
    if not 1 <= num_clients <= 256:
        raise InputError(f"--clients {num_clients} is out of range: allowed 1..256")
    if not 0 < duration_s <= 3600:
        raise InputError(f"--duration-s {duration_s} is out of range: allowed (0, 3600]")
    lock = threading.Lock()
    latencies_s: list[float] = []
    outcomes: Counter[str] = Counter()
    start_barrier = threading.Barrier(num_clients + 1)
    stop_at = [0.0]

    def client_loop() -> None:
        with EdgeClient(url, token, timeout_s=timeout_s) as client:
            start_barrier.wait()
            while time.perf_counter() < stop_at[0]:
                started = time.perf_counter()
                try:
                    reply = client.infer(model, split, intermediate)
                    same = reply.output.shape == reference.shape and bool(
                        torch.allclose(reply.output, reference, rtol=rtol, atol=atol)
                    )
                    outcome = "correct" if same else "mismatch"
                except EdgeError as exc:
                    if exc.status == 503 and exc.code == "busy":
                        with lock:
                            outcomes["busy"] += 1
                        # Honour Retry-After (1 s from this server), but not beyond the end of the test.
                        wait_s = exc.retry_after_s if exc.retry_after_s is not None else 1.0
                        time.sleep(max(0.0, min(wait_s, stop_at[0] - time.perf_counter())))
                        continue
                    outcome = f"{exc.status or 'no answer'} {exc.code}"
                elapsed_s = time.perf_counter() - started
                with lock:
                    outcomes[outcome] += 1
                    if outcome == "correct":
                        latencies_s.append(elapsed_s)

    threads = [threading.Thread(target=client_loop, daemon=True) for _ in range(num_clients)]
    for thread in threads:
        thread.start()
    begun = time.perf_counter()
    stop_at[0] = begun + duration_s
    start_barrier.wait(timeout=30.0)
    for thread in threads:
        thread.join(timeout=duration_s + timeout_s + 10.0)
    elapsed_s = time.perf_counter() - begun
    correct = outcomes.pop("correct", 0)
    mismatches = outcomes.pop("mismatch", 0)
    busy = outcomes.pop("busy", 0)
    percentiles = np.percentile(latencies_s, [50, 99]) if latencies_s else None
    return LoadTestResult(
        model=model,
        split=split,
        num_clients=num_clients,
        duration_s=elapsed_s,
        requests=correct + mismatches + busy + sum(outcomes.values()),
        correct=correct,
        mismatches=mismatches,
        busy=busy,
        errors=dict(outcomes),
        throughput_rps=correct / elapsed_s,
        latency_p50_s=float(percentiles[0]) if percentiles is not None else None,
        latency_p99_s=float(percentiles[1]) if percentiles is not None else None,
        latency_max_s=max(latencies_s) if latencies_s else None,
    )
