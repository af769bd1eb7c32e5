"""``solve(scenario, algorithm, ...)``: the one entry point (pymoo ``minimize`` in spirit)."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import torch
from pydantic import ValidationError

from nomasplit import __version__
from nomasplit.data.files import format_validation_error
from nomasplit.data.hashing import sha256_of
from nomasplit.data.plan import Plan, SolveInfo
from nomasplit.data.scenario import Scenario
from nomasplit.errors import InputError
from nomasplit.model.backend import torch_threads
from nomasplit.model.evaluate import find_violations, plan_from_decision
from nomasplit.model.system import SystemModel
from nomasplit.solvers.registry import AlgorithmSettings, SolveContext, get_algorithm
from nomasplit.solvers.relaxation.bounds import plan_lower_bound
from nomasplit.solvers.search.warm_start import WARM_START_ALGORITHMS, start_decision


def solve(
    scenario: Scenario,
    algorithm: str = "ligd",
    *,
    settings: Mapping[str, Any] | AlgorithmSettings | None = None,
    seed: int = 0,
    device: str = "cpu",
    start: Plan | None = None,
    start_scenario: Scenario | None = None,
    threads: int = 1,
    certify: bool = True,
) -> Plan:
    """Run a registered algorithm on a scenario and return the plan with its :class:`SolveInfo`.

    Args:
        scenario: the instance.
        algorithm: a name in :data:`nomasplit.solvers.ALGORITHMS`.
        settings: the algorithm's settings (a mapping is validated; unknown keys are errors).
        seed: seeds the algorithm's ``torch.Generator`` (random starts, tie-breaks). By default the solve runs on
            one torch thread and stops on work, not on the clock: the same scenario, algorithm, settings and seed
            give the same plan on any machine, whatever its load (an opt-in ``time_limit_s`` breaks that).
        threads: torch's CPU threads for this solve (restored after). 1, the default, keeps the plan independent
            of the machine's core count: a reduction split over threads sums in another order, and a last-bit
            difference can change a discrete choice.
        device: torch device of the model (``cpu`` or ``cuda``).
        start: a previous plan to warm-start from (``ligd`` only), mapped onto ``scenario`` by
            :func:`~nomasplit.solvers.search.warm_start.start_decision` (users kept, gone, new); the plan is never
            worse than the mapped one. InputError for a plan of another network.
        start_scenario: the scenario ``start`` was made for (default: ``scenario`` itself).
        certify: compute the certified lower bound and record the scenario's hash (the default). False skips both
            (``solver.bound``, ``solver.gap`` and ``scenario_sha256`` are then None): a re-planner that runs
            every slot needs neither, and at the paper's scale they take about 0.8 s (the bound's per-user,
            per-subchannel costs and the hash of 33 MB of canonical JSON). The plan itself is the same.

    Returns:
        A plan whose ``solver.objective`` is ``Gamma`` of the final discrete plan, computed by the model, and whose
        ``solver.bound`` is a certified lower bound on the scenario's optimum (the algorithm's own, as ``exact``
        proves one, or :func:`~nomasplit.solvers.relaxation.bounds.plan_lower_bound`, whichever is larger) with
        ``solver.gap = (objective - bound) / |objective|`` (both None with ``certify=False``).
    """
    spec = get_algorithm(algorithm)
    if isinstance(settings, AlgorithmSettings):
        if not isinstance(settings, spec.settings_type):
            raise InputError(f"settings of type {type(settings).__name__} do not belong to algorithm {algorithm!r}")
        parsed = settings
    else:
        try:
            parsed = spec.settings_type.model_validate(dict(settings or {}))
        except ValidationError as exc:
            raise InputError(format_validation_error(exc, f"settings of {algorithm!r}")) from None
    if start is not None and algorithm not in WARM_START_ALGORITHMS:
        raise InputError(f"algorithm {algorithm!r} takes no start plan; allowed: {', '.join(WARM_START_ALGORITHMS)}")
    started = time.perf_counter()
    with torch_threads(threads):
        model = SystemModel(scenario, device=device)
        generator = torch.Generator(device="cpu").manual_seed(seed)
        mapped = None if start is None else start_decision(start, scenario, model, start_scenario=start_scenario)
        context = SolveContext(scenario=scenario, model=model, seed=seed, generator=generator, start_decision=mapped)
        outcome = spec.run(context, parsed)
        with torch.no_grad():
            objective = float(model.objective(outcome.decision).item())
        wall_time_s = time.perf_counter() - started
    bound, bound_evidence = _certified_bound(model, outcome.bound) if certify else (None, {"skipped": "certify=False"})
    users = plan_from_decision(model, outcome.decision)
    draft = Plan(scenario_sha256=sha256_of(scenario) if certify else None, users=users)
    violations = find_violations(scenario, draft)
    success = outcome.success and not violations
    message = outcome.message
    if violations:
        message = (
            (message + "; " if message else "")
            + f"plan violates {len(violations)} constraint(s): "
            + (violations[0].message)
        )
    info = SolveInfo(
        algorithm=algorithm,
        settings=parsed.model_dump(mode="json"),
        seed=seed,
        torch_device=str(model.device),
        nomasplit_version=__version__,
        success=success,
        message=message,
        objective_relaxed=outcome.objective_relaxed,
        objective_rounded=outcome.objective_rounded,
        objective=objective,
        chosen_split=outcome.chosen_split,
        iterations_total=outcome.iterations_total,
        wall_time_s=wall_time_s,
        history=outcome.history,
        bound=bound,
        gap=None if bound is None else _relative_gap(objective, bound),
        extra={**outcome.extra, "lower_bound": bound_evidence},
    )
    return Plan(scenario_sha256=draft.scenario_sha256, users=users, solver=info)


def _certified_bound(model: SystemModel, algorithm_bound: float | None) -> tuple[float, dict[str, Any]]:
    """The larger of the algorithm's proven bound (if any) and :func:`plan_lower_bound`, with the evidence."""
    started = time.perf_counter()
    relaxation = plan_lower_bound(model)
    evidence: dict[str, Any] = {
        "relaxation": relaxation.value,
        "interference_free": relaxation.interference_free,
        "uplink_slots": relaxation.uplink_slots,
        "downlink_slots": relaxation.downlink_slots,
        "method": relaxation.method,
        "wall_time_s": time.perf_counter() - started,
    }
    if algorithm_bound is not None and math.isfinite(algorithm_bound):
        evidence["algorithm"] = algorithm_bound
    value = max(relaxation.value, algorithm_bound if algorithm_bound is not None else -math.inf)
    evidence["source"] = "algorithm" if value != relaxation.value else "relaxation"
    return value, evidence


def _relative_gap(objective: float, bound: float) -> float | None:
    """``(objective - bound) / |objective|`` (None when the objective is not finite; 0 for a zero objective)."""
    if not math.isfinite(objective) or not math.isfinite(bound):
        return None
    if objective == 0.0:
        return 0.0
    return max(0.0, (objective - bound) / abs(objective))
