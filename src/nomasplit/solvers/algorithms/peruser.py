"""``ligd-peruser`` (beyond the paper): every user chooses its own split point.

Alternating scheme, started from the ``ligd`` sweep over common splits:

1. take the best relaxed common-split candidate (refined) as the current point ``(s, x)``;
2. best response: each user picks the split ``s_i`` that minimises its own utility ``U_i`` given the others'
   current variables (:func:`split_utility_table`; between two offloading splits a user's choice does not change
   anyone's interference, so this step alone never raises ``Gamma``);
3. continuous descent (the ``ligd`` method) at the new splits, warm-started from ``x``; the round is kept only
   if ``Gamma`` fell, otherwise the scheme stops;
4. stop when no split changes or after ``max_rounds`` rounds; then round, polish and fall back as ``ligd`` does;
5. the discrete improvement phase (:mod:`~nomasplit.solvers.search.local`, which also moves single users' splits)
   on the best of: the per-user plan, the rounded common-split finalists, and the final plan of ``ligd`` itself
   with the same settings.

Every start stays a candidate, so ``ligd-peruser`` is never worse than ``ligd`` with the same settings.
"""

from __future__ import annotations

import math
import time

import torch
from pydantic import Field

from nomasplit.model.noma import rate_bps
from nomasplit.model.system import Decision, SystemModel
from nomasplit.solvers.algorithms.ligd import (
    PAPER_CITE,
    Candidate,
    LigdSettings,
    Start,
    common_split_of,
    convert_decision,
    finalise,
    finalise_best,
    improve_and_choose,
    ligd_candidates,
    ligd_method,
    ligd_stopping,
    outcome_from,
    pruned_splits,
    resolve_phase,
    run_ligd,
    to_model,
    working_model,
)
from nomasplit.solvers.registry import Algorithm, SolveContext, SolveOutcome, register
from nomasplit.solvers.relaxation.gradient import ContinuousProblem, flush_denormals, minimize

#: Label of per-user rounds in the history (no common split).
PER_USER = -1


class PerUserSettings(LigdSettings):
    """Settings of ``ligd-peruser``: those of ``ligd`` plus the number of best-response rounds."""

    max_rounds: int = Field(default=5, ge=0, description="best-response rounds (each followed by a descent)")
    prune: bool = Field(
        default=False,
        description="skip dominated common-split candidates in the first sweep (off: the sweep's candidates are "
        "also the start points of the per-user rounds, and a pruned one may have led to a better plan)",
    )


def split_utility_table(model: SystemModel, decision: Decision) -> torch.Tensor:
    """``U_i(s)`` of each user at each split point ``s``, everything else fixed. ``[U, F_max + 1]``.

    The rates are those the user would get if it offloads, with interference from the users that offload in
    ``decision``; ``s = F_i`` is Device-Only, and ``s > F_i`` is ``+inf``. A user with all-zero weight rows has
    rate 0 and so infinite utility at every offloading split.
    """
    with torch.no_grad():
        activity = model.offloads(decision.split).to(model.dtype)  # [U]
        sinr_up = model.uplink_sinr(decision.beta_up, decision.uplink_power_w, activity)  # [U, M]
        sinr_dn = model.downlink_sinr(decision.beta_dn, decision.downlink_power_w, activity)  # [U, M]
        uplink = rate_bps(decision.beta_up, sinr_up, model.uplink_subchannel_hz)[:, None]  # [U, 1]
        downlink = rate_bps(decision.beta_dn, sinr_dn, model.downlink_subchannel_hz)[:, None]  # [U, 1]
        device_latency = model.device_latency_table  # [U, F+1]
        device_energy = model.device_energy_table  # [U, F+1]
        edge_flops = model.edge_work_table  # [U, F+1]
        upload_bits = model.upload_bits_table  # [U, F+1]
        result_bits = model.result_bits[:, None]  # [U, 1]
        speed = (model.compensation(decision.compute_units) * model.edge_unit_flops_per_s)[:, None]  # [U, 1]
        uplink_latency = upload_bits / uplink
        downlink_latency = result_bits / downlink
        latency = device_latency + edge_flops / speed + uplink_latency + downlink_latency  # eq. (12)
        energy = (
            device_energy
            + model.edge_energy_coefficient * speed**2 * edge_flops
            + decision.uplink_power_w[:, None] * uplink_latency
            + decision.downlink_power_w[:, None] * downlink_latency
        )  # eq. (17)
        weight = model.latency_weight[:, None]
        table = weight * latency + (1.0 - weight) * energy  # [U, F+1]
        table = torch.nan_to_num(table, nan=math.inf)
        splits = torch.arange(model.max_layers + 1, device=model.device)[None, :]  # [1, F+1]
        layers = model.num_layers[:, None]  # [U, 1]
        device_only = (
            weight[:, 0] * device_latency.gather(1, layers)[:, 0]
            + (1.0 - weight[:, 0]) * device_energy.gather(1, layers)[:, 0]
        )  # [U]
        table = torch.where(splits == layers, device_only[:, None], table)
        return torch.where(splits > layers, torch.full_like(table, math.inf), table)


def best_response(model: SystemModel, decision: Decision, *, offloading_only: bool = False) -> torch.Tensor:
    """Each user's best split given the others (ties keep the current split). ``[U]`` long.

    Args:
        offloading_only: choose only among offloading splits ``s < F_i`` for users that offload now, and keep
            Device-Only users where they are (for discrete plans, whose subchannels are fixed).
    """
    table = split_utility_table(model, decision)  # [U, F+1]
    current = decision.split
    if offloading_only:
        splits = torch.arange(model.max_layers + 1, device=model.device)[None, :]
        table = torch.where(splits >= model.num_layers[:, None], torch.full_like(table, math.inf), table)
    best = table.argmin(dim=1)
    keep = table.gather(1, current[:, None])[:, 0] <= table.gather(1, best[:, None])[:, 0]
    if offloading_only:
        keep = keep | ~model.offloads(current)
    return torch.where(keep, current, best)


def run_ligd_peruser(context: SolveContext, settings: PerUserSettings) -> SolveOutcome:
    """``ligd-peruser`` (module docstring)."""
    started = time.perf_counter()
    model = context.model
    work = working_model(model, settings.precision)
    method = ligd_method(settings)
    # The plan of ``ligd`` with the same settings is a start: ligd-peruser is never worse than ligd.
    # (the settings that were set; ligd's own defaults for the rest, its prune included)
    shared = (settings.model_fields_set & set(LigdSettings.model_fields)) - {"prune"}
    ligd_settings = LigdSettings.model_validate({name: getattr(settings, name) for name in shared})
    base = run_ligd(context, ligd_settings)
    with flush_denormals():
        candidates = ligd_candidates(work, settings, pruned_splits(model, settings)[0])
        finals = finalise_best(work, candidates, settings, resolve_phase(settings, work).finalists)  # in place
        best = min(candidates, key=lambda item: item.objective if math.isfinite(item.objective) else math.inf)
        split, variables, objective = best.problem.split, best.variables, best.objective
        rounds: list[Candidate] = []
        stop = "max_rounds"
        for _ in range(settings.max_rounds):
            new_split = best_response(work, Decision(split, *variables.tensors()))
            if torch.equal(new_split, split):
                stop = "no split changed"
                break
            problem = ContinuousProblem(work, new_split)
            run = minimize(
                method,
                problem,
                variables,
                ligd_stopping(settings, settings.refine_iterations),
                label=PER_USER,
            )
            rounds.append(Candidate(PER_USER, problem, run.state.variables, run.state.objective, run.history))
            if not run.state.objective < objective:
                stop = "no improvement"
                break
            split, variables, objective = new_split, run.state.variables, run.state.objective
        per_user = Candidate(PER_USER, ContinuousProblem(work, split), variables, objective, best.history)
        polish_stopping = ligd_stopping(settings, settings.polish_iterations)
        final = finalise(work, per_user, method, polish_stopping)
        starts: list[Start] = [("ligd", base.decision), ("per-user rounds", convert_decision(model, final.decision)[0])]
        starts += [(f"ligd split {item.candidate.split}", convert_decision(model, item.decision)[0]) for item in finals]
        (won, decision), evidence = improve_and_choose(context, settings, work, starts, started=started)
    everything = [to_model(model, item) for item in [*finals, final]]
    outcome = outcome_from(model, candidates + rounds, everything, label="ligd-peruser")
    outcome.decision = decision
    outcome.chosen_split = common_split_of(model, decision)
    offloading = int(model.offloads(decision.split).sum().item())
    with torch.no_grad():
        outcome.success = bool(torch.isfinite(model.objective(decision)).item())
    outcome.message = f"ligd-peruser: best plan from start '{won}'; {offloading}/{model.num_users} users offload"
    splits_used = torch.unique(decision.split[model.offloads(decision.split)])
    outcome.extra["per_user_rounds"] = len(rounds)
    outcome.extra["per_user_stop"] = stop
    outcome.extra["offloading_splits_used"] = [int(v) for v in splits_used.cpu().tolist()]
    outcome.extra["offloading_users"] = offloading
    outcome.extra.update(evidence)
    return outcome


register(
    Algorithm(
        name="ligd-peruser",
        summary="Li-GD with a split point per user: best responses alternating with scaled descent",
        cite=PAPER_CITE + ", extended to per-user split points (this project)",
        settings_type=PerUserSettings,
        run=run_ligd_peruser,
    )
)

__all__ = ["PerUserSettings", "best_response", "run_ligd_peruser", "split_utility_table"]
