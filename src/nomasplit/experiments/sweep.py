"""Sweeps that lose nothing: each (sweep point, method, seed) is a task whose result is one small JSON file.

- A task is named by the hash of everything that decides its result (scenario configuration, seed, algorithm,
  its settings, torch device, result schema). Results live in
  ``<out>/results/<settings-hash>/<task-hash>.json``, written atomically (temporary file + rename) by the
  parent process as each task completes, so a run that is interrupted (Ctrl-C, ``kill -9``, a crashed
  worker) and started again computes only the missing tasks and, the seeds being deterministic, ends with
  the same results as an uninterrupted run.
- A task that raises is recorded in ``<out>/results/<settings-hash>/failed/<task-hash>.json`` with its seed,
  settings and traceback, reported, and does not stop the others; it is tried again by the next run.
- Tasks run on a ``concurrent.futures.ProcessPoolExecutor`` (each worker uses one torch thread), in-process
  with ``workers=0``, or on a Dask cluster given a ``dask.distributed.Client``. A worker keeps the last few
  generated scenarios, and tasks are ordered so that the methods of one (point, seed) share a scenario.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict

from nomasplit.errors import InputError
from nomasplit.experiments.figures import RESULT_SCHEMA, ReproductionSettings, SweepValue
from nomasplit.experiments.fingerprint import code_fingerprint
from nomasplit.io import read_json, write_json

#: A worker process that dies takes its in-flight tasks with it; each is retried this often before it fails.
MAX_CRASH_RETRIES = 2

#: glibc's malloc trim threshold for Dask workers (bytes). Numeric tasks that allocate and free large arrays
#: run slower when it is unset (a reported 2-3x; not measured here). Workers started by hand should export it.
DASK_MALLOC_TRIM_THRESHOLD = 65536


class Task(BaseModel):
    """One (sweep point, method, seed): everything a worker needs, and nothing else."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sweep: str
    parameter: str
    value: SweepValue
    algorithm: str
    seed: int
    config: dict[str, Any]
    algorithm_settings: dict[str, Any]
    torch_device: str
    settings_hash: str

    @functools.cached_property
    def task_hash(self) -> str:
        """Hash of what decides the result (not the sweep's name: equal tasks of two sweeps run once)."""
        return _hash(
            {
                "schema": RESULT_SCHEMA,
                "config": self.config,
                "seed": self.seed,
                "algorithm": self.algorithm,
                "algorithm_settings": self.algorithm_settings,
                "device": self.torch_device,  # the key keeps its old name: the rename alone orphans no result
                "code": code_fingerprint(),
            }
        )[:24]

    @functools.cached_property
    def scenario_key(self) -> str:
        """Hash of the scenario (configuration and seed) shared by the methods of one point and seed."""
        return _hash({"config": self.config, "seed": self.seed})

    def describe(self) -> str:
        """One line naming the task: sweep, point, method, seed, hashes."""
        return (
            f"sweep {self.sweep} {self.parameter}={self.value} method {self.algorithm} seed {self.seed} "
            f"(settings {self.settings_hash}, task {self.task_hash})"
        )


def _hash(data: Any) -> str:
    import hashlib

    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def build_tasks(settings: ReproductionSettings) -> list[Task]:
    """All tasks of the settings' sweeps and seeds, grouped by scenario.

    Two sweeps may hold the same task (same hash): it is listed for each and computed once.

    Raises:
        InputError: a sweep point whose configuration is invalid (names the field).
    """
    settings_hash = settings.settings_hash()
    tasks: list[Task] = []
    for sweep in settings.sweeps:
        for value in sweep.values:
            config = settings.point_config(sweep, value).model_dump(mode="json")
            for seed in settings.seeds:
                for algorithm in sweep.methods:
                    task = Task(
                        sweep=sweep.name,
                        parameter=sweep.parameter,
                        value=value,
                        algorithm=algorithm,
                        seed=seed,
                        config=config,
                        algorithm_settings=settings.algorithm_settings.get(algorithm, {}),
                        torch_device=settings.torch_device,
                        settings_hash=settings_hash,
                    )
                    tasks.append(task)
    return tasks


# --- the worker side ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def _scenario(config_json: str, seed: int) -> Any:
    from nomasplit.generate import generate_scenario, parse_config

    return generate_scenario(parse_config(json.loads(config_json)), seed=seed)


def run_task(task: Task) -> dict[str, Any]:
    """Generate (or reuse) the task's scenario, solve it, evaluate the plan; return the result row.

    Raises whatever the generator, the solver or the model raise.
    """
    from nomasplit.model import evaluate
    from nomasplit.solvers import solve

    start = time.perf_counter()
    scenario = _scenario(json.dumps(task.config, sort_keys=True), task.seed)
    plan = solve(scenario, task.algorithm, settings=task.algorithm_settings, seed=task.seed, device=task.torch_device)
    result = evaluate(scenario, plan, device=task.torch_device)
    info = plan.solver
    assert info is not None  # solve() always records how the plan was made
    totals = result.totals
    offloading = [user for user in result.users if user.offloads]
    return {
        "task_hash": task.task_hash,
        "settings_hash": task.settings_hash,
        "sweep": task.sweep,
        "parameter": task.parameter,
        "value": str(task.value),
        "x": float(task.value) if not isinstance(task.value, str) else float("nan"),
        "model": task.config.get("model") if isinstance(task.config.get("model"), str) else "mix",
        "algorithm": task.algorithm,
        "seed": task.seed,
        "scenario_sha256": plan.scenario_sha256,
        "num_users": totals.num_users,
        "num_offloading": totals.num_offloading,
        "mean_latency_s": totals.mean_latency_s,
        "mean_energy_j": totals.mean_energy_j,
        "mean_uplink_rate_bps": _mean([user.uplink_rate_bps for user in offloading]),
        "mean_downlink_rate_bps": _mean([user.downlink_rate_bps for user in offloading]),
        "mean_split": _mean([float(user.split) for user in result.users]),
        "objective": info.objective,
        "feasible": result.feasible,
        "num_violations": len(result.violations),
        "success": info.success,
        "message": info.message,
        "iterations": info.iterations_total,
        "chosen_split": info.chosen_split,
        "solver_wall_time_s": info.wall_time_s,
        "task_wall_time_s": time.perf_counter() - start,
    }


def _mean(values: list[float]) -> float | None:
    """Mean of a list, None if empty (JSON has no NaN)."""
    return sum(values) / len(values) if values else None


def run_task_safely(task: Task) -> dict[str, Any]:
    """:func:`run_task`, with any exception turned into ``{"error": ..., "traceback": ...}``."""
    _one_thread()
    try:
        return {"row": run_task(task)}
    except Exception as exc:  # a failing task must not stop the sweep: it is recorded and reported
        return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}


def _one_thread() -> None:
    import torch

    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


# --- the parent side ---------------------------------------------------------------------------------------


@dataclass
class Failure:
    """A task that failed: the task, the error, the traceback."""

    task: Task
    error: str
    traceback: str = ""


@dataclass
class SweepOutcome:
    """What a sweep did: tasks in all, found on disk, computed now, failed."""

    num_tasks: int
    num_cached: int
    num_computed: int
    failures: list[Failure] = field(default_factory=list)
    wall_time_s: float = 0.0

    @property
    def num_failed(self) -> int:
        return len(self.failures)


def results_dir(out_dir: str | Path, settings_hash: str) -> Path:
    """``<out>/results/<settings-hash>``: where the results of these settings live."""
    return Path(out_dir) / "results" / settings_hash


def result_path(out_dir: str | Path, task: Task) -> Path:
    """The file of a task's result."""
    return results_dir(out_dir, task.settings_hash) / f"{task.task_hash}.json"


def failure_path(out_dir: str | Path, task: Task) -> Path:
    """The file recording a task's failure."""
    return results_dir(out_dir, task.settings_hash) / "failed" / f"{task.task_hash}.json"


def missing_tasks(tasks: Iterable[Task], out_dir: str | Path) -> list[Task]:
    """The tasks without a result file, each hash once."""
    unique = {task.task_hash: task for task in tasks}
    return [task for task in unique.values() if not result_path(out_dir, task).exists()]


def _record(out_dir: Path, task: Task, outcome: dict[str, Any]) -> Failure | None:
    if "row" in outcome:
        write_json(result_path(out_dir, task), {"task": task.model_dump(mode="json"), "row": outcome["row"]})
        failure_path(out_dir, task).unlink(missing_ok=True)
        return None
    failure = Failure(task=task, error=outcome["error"], traceback=outcome.get("traceback", ""))
    write_json(
        failure_path(out_dir, task),
        {"task": task.model_dump(mode="json"), "error": failure.error, "traceback": failure.traceback},
    )
    return failure


Submit = Callable[[Task], Any]


def run_sweep(
    tasks: list[Task],
    out_dir: str | Path,
    *,
    workers: int | None = None,
    client: Any = None,
    progress: bool = True,
    on_failure: Callable[[Failure], None] | None = None,
) -> SweepOutcome:
    """Compute the tasks that have no result file yet, writing each result atomically as it completes.

    Args:
        tasks: from :func:`build_tasks`.
        out_dir: the output folder (results go under ``results/<settings-hash>/``).
        workers: processes of the pool; ``0`` runs in this process; None: the number of CPUs.
        client: a ``dask.distributed.Client``; if given, tasks run on its cluster and ``workers`` is ignored.
        progress: show a rich progress bar with an ETA.
        on_failure: called for each failed task as it fails (e.g. to print it).

    Returns:
        Counts and the failures. A KeyboardInterrupt cancels pending tasks and propagates; results stay.
    """
    start = time.perf_counter()
    out = Path(out_dir)
    todo = missing_tasks(tasks, out)
    if todo:
        for folder in {results_dir(out, task.settings_hash) for task in todo}:
            (folder / "failed").mkdir(parents=True, exist_ok=True)
    num_unique = len({task.task_hash for task in tasks})
    outcome = SweepOutcome(num_tasks=num_unique, num_cached=num_unique - len(todo), num_computed=0)

    def finished(task: Task, result: dict[str, Any]) -> None:
        failure = _record(out, task, result)
        if failure is None:
            outcome.num_computed += 1
        else:
            outcome.failures.append(failure)
            if on_failure is not None:
                on_failure(failure)

    with _progress_bar(progress, len(todo)) as advance:
        if client is not None:
            results: Iterator[tuple[Task, dict[str, Any]]] = _run_dask(todo, client)
        elif workers == 0:
            results = ((task, run_task_safely(task)) for task in todo)
        else:
            results = _run_pool(todo, workers or os.cpu_count() or 1)
        try:
            for task, result in results:
                finished(task, result)
                advance(outcome.num_failed)
        finally:
            # stop the pool now (on Ctrl-C or SIGTERM too), not when the generator is garbage-collected
            close = getattr(results, "close", None)
            if close is not None:
                close()
    outcome.wall_time_s = time.perf_counter() - start
    return outcome


def _pool_initializer() -> None:
    # Ctrl-C reaches the whole process group: the workers leave it to the main process, which stops them (no
    # KeyboardInterrupt traceback from each worker); SIGTERM keeps its default (the worker ends at once).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _one_thread()


def _stop_resource_tracker() -> None:
    """Stop (and reap) multiprocessing's resource tracker once the pool is gone, so that it does not outlive
    this process as an orphan; the next pool starts a new one."""
    from multiprocessing import resource_tracker

    stop = getattr(resource_tracker._resource_tracker, "_stop", None)  # CPython 3.11+: closes the pipe, waits
    if stop is not None:
        stop()


def _stop_workers(executor: ProcessPoolExecutor) -> None:
    """Terminate the pool's worker processes now (their running tasks are lost; finished ones are on disk).

    ``shutdown(cancel_futures=True)`` alone would wait for every running task to finish.
    """
    processes = getattr(executor, "_processes", None) or {}  # CPython's pool keeps its workers here
    for process in list(processes.values()):
        if process.is_alive():
            process.terminate()


def _run_pool(todo: list[Task], workers: int) -> Iterator[tuple[Task, dict[str, Any]]]:
    """Run on a process pool; a crashed worker breaks the pool, which is rebuilt; lost tasks are retried."""
    crashes: dict[str, int] = {}
    pending = list(todo)
    while pending:
        executor = ProcessPoolExecutor(
            max_workers=min(workers, len(pending)),
            mp_context=get_context("spawn"),
            initializer=_pool_initializer,
        )
        futures: dict[Future[dict[str, Any]], Task] = {}
        completed = False
        try:
            futures = {executor.submit(run_task_safely, task): task for task in pending}
            pending = []
            remaining = set(futures)
            while remaining:
                done, remaining = wait(remaining, return_when=FIRST_COMPLETED)
                for future in done:
                    task = futures[future]
                    try:
                        yield task, future.result()
                    except BrokenProcessPool:
                        crashes[task.task_hash] = crashes.get(task.task_hash, 0) + 1
                        if crashes[task.task_hash] > MAX_CRASH_RETRIES:
                            yield (
                                task,
                                {"error": "worker process crashed (killed or out of memory)"},
                            )
                        else:
                            pending.append(task)
            completed = True
        finally:
            if not completed:  # interrupted (Ctrl-C, SIGTERM) or closed early: stop the workers, then join them
                _stop_workers(executor)
            executor.shutdown(wait=True, cancel_futures=True)
            _stop_resource_tracker()


def _run_dask(todo: list[Task], client: Any) -> Iterator[tuple[Task, dict[str, Any]]]:
    from dask.distributed import as_completed

    futures = {
        client.submit(run_task_safely, task, key=f"nomasplit-{task.task_hash}", pure=False): task for task in todo
    }
    try:
        for future in as_completed(futures):
            task = futures[future]
            try:
                yield task, future.result()
            except Exception as exc:  # the worker died or the scheduler lost it: a failed task, not a stop
                yield task, {"error": f"dask: {type(exc).__name__}: {exc}"}
    finally:
        for future in futures:
            if not future.done():
                future.cancel()


class _progress_bar:
    """A rich progress bar (or nothing); the context value advances it by one finished task."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled = enabled and total > 0
        self.total = total
        self._progress: Any = None
        self._task_id: Any = None

    def __enter__(self) -> Callable[[int], None]:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]tasks"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[failed]} failed"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
            )
            self._progress.start()
            self._task_id = self._progress.add_task("tasks", total=self.total, failed=0)

        def advance(num_failed: int) -> None:
            if self._progress is not None:
                self._progress.update(self._task_id, advance=1, failed=num_failed)

        return advance

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


#: Seconds to wait for a Dask scheduler's handshake (Dask's own default is 30 s): a port that accepts TCP but
#: does not speak Dask's protocol fails after this long.
DASK_CONNECT_TIMEOUT_S = 10.0


def dask_client(address: str, timeout_s: float = DASK_CONNECT_TIMEOUT_S) -> Any:
    """Connect to a Dask scheduler (``tcp://host:8786``) and check the workers' malloc trim threshold.

    Workers started by hand should be started with ``MALLOC_TRIM_THRESHOLD_=65536`` in their environment
    (it cannot be changed after a process starts); workers that lack it are reported with a warning.
    Raises :class:`~nomasplit.errors.InputError` when no scheduler answers within ``timeout_s``.
    """
    from dask.distributed import Client

    # Dask's own timeout bounds the TCP connect, not the handshake: a port that accepts and stays silent would
    # block for ever. The client is made in a daemon thread and abandoned if it has not answered in time.
    made: list[Any] = []
    failed: list[BaseException] = []

    def connect() -> None:
        try:
            made.append(Client(address, timeout=timeout_s))
        except BaseException as exc:  # reported below, in the caller's thread
            failed.append(exc)

    thread = threading.Thread(target=connect, name="nomasplit-dask-connect", daemon=True)
    thread.start()
    thread.join(timeout_s + 1.0)
    if not made:
        reason = failed[0].__class__.__name__ if failed else "no handshake"
        raise InputError(
            f"--scheduler {address}: no Dask scheduler answered within {timeout_s:g} s ({reason}); "
            "is this the address of a running `dask scheduler`?"
        )
    client = made[0]
    values = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    unset = [worker for worker, value in values.items() if value is None]
    if unset:
        import warnings

        warnings.warn(
            f"{len(unset)} Dask worker(s) run without MALLOC_TRIM_THRESHOLD_; start them with "
            f"MALLOC_TRIM_THRESHOLD_={DASK_MALLOC_TRIM_THRESHOLD} (recommended for numeric tasks)",
            stacklevel=2,
        )
    return client


def local_dask_cluster(n_workers: int = 1, processes: bool = True) -> Any:
    """A ``LocalCluster`` whose workers start with ``MALLOC_TRIM_THRESHOLD_`` set (tests, one machine)."""
    import dask
    from dask.distributed import LocalCluster

    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": DASK_MALLOC_TRIM_THRESHOLD}):
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=processes, dashboard_address=None)


def load_results(tasks: Iterable[Task], out_dir: str | Path) -> pd.DataFrame:
    """The result rows of the tasks that have one (one row per task and sweep it belongs to)."""
    rows = []
    for task in tasks:
        path = result_path(out_dir, task)
        if path.exists():
            row = dict(read_json(path)["row"])
            # equal tasks of two sweeps share a file; the row belongs to the sweep asking for it
            row.update(
                sweep=task.sweep,
                parameter=task.parameter,
                value=str(task.value),
                x=float(task.value) if not isinstance(task.value, str) else float("nan"),
            )
            rows.append(row)
    return pd.DataFrame(rows)
