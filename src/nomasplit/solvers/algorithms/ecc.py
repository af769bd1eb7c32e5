"""ECC-NOMA and ECC-OMA: the paper's method (Li-GD, registered as ``ligd``) on NOMA and on OMA.

``ecc-noma`` runs ``ligd`` on the scenario as it is, with the ``ecc-oma`` plan as an extra start (so it is never
worse than ECC-OMA on the same scenario). ``ecc-oma`` runs ``ligd`` on
``scenario.replace(access="oma", cluster_size=1)``: the same channels, at most one user of an AP per
subchannel, no intra-cell interference. Its plan is costed by :func:`nomasplit.solvers.solve` with the model
of the original scenario; a plan with at most one user of an AP per subchannel has no intra-cell interference
under the NOMA model either (the SIC sums run over same-cell users on the same subchannel), so that cost is
the OMA cost, and the plan is feasible under both models (``K = 1 <= K``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError

from nomasplit.data.files import format_validation_error
from nomasplit.errors import InputError
from nomasplit.model.system import SystemModel
from nomasplit.solvers.algorithms.ligd import LigdSettings, Start, run_ligd
from nomasplit.solvers.registry import (
    Algorithm,
    AlgorithmSettings,
    SolveContext,
    SolveOutcome,
    register,
)

#: The registered algorithm the ECC wrappers run.
INNER_ALGORITHM = "ligd"


class EccSettings(AlgorithmSettings):
    """Settings of ``ecc-noma`` and ``ecc-oma``: those of ``ligd``, passed through and validated by it."""

    ligd: dict[str, Any] = Field(default_factory=dict, description="settings of the 'ligd' algorithm")


def _run_inner(
    context: SolveContext, settings: EccSettings, access: str, *, extra_starts: tuple[Start, ...] = ()
) -> SolveOutcome:
    try:
        inner_settings = LigdSettings.model_validate(settings.ligd)
    except ValidationError as exc:
        raise InputError(format_validation_error(exc, f"settings.ligd of 'ecc-{access}'")) from None
    if access == "oma" and context.scenario.access != "oma":
        scenario = context.scenario.replace(access="oma", cluster_size=1)
        model = SystemModel(scenario, device=context.model.device, dtype=context.model.dtype)
        context = SolveContext(scenario=scenario, model=model, seed=context.seed, generator=context.generator)
    outcome = run_ligd(context, inner_settings, extra_starts=extra_starts)
    outcome.extra = {**outcome.extra, "inner_algorithm": INNER_ALGORITHM, "access_solved": access}
    return outcome


def run_ecc_noma(context: SolveContext, settings: EccSettings) -> SolveOutcome:
    """``ligd`` on the scenario as it is (NOMA with cluster size ``K``), with the ``ecc-oma`` plan as an extra
    start: every OMA plan is a NOMA plan (``K = 1 <= K``), so ECC-NOMA is never worse than ECC-OMA."""
    if context.scenario.access == "oma":
        return _run_inner(context, settings, "noma")
    oma = _run_inner(context, settings, "oma")
    outcome = _run_inner(context, settings, "noma", extra_starts=(("ecc-oma", oma.decision),))
    return outcome


def run_ecc_oma(context: SolveContext, settings: EccSettings) -> SolveOutcome:
    """``ligd`` on the scenario with OMA (``K = 1``, no intra-cell interference).

    The relaxed and rounded objectives in the outcome are the OMA model's; the final objective is computed by
    ``solve`` with the original scenario's model (equal for a ``K = 1`` plan, module docstring).
    """
    return _run_inner(context, settings, "oma")


_ECC_CITE = "ECC with Li-GD: the paper (Table I); OMA variant as in Section VI ('ECC', without NOMA)"

ECC_NOMA = register(
    Algorithm(
        name="ecc-noma",
        summary="the paper's ECC: Li-GD (registered 'ligd') on the NOMA scenario",
        cite=_ECC_CITE,
        settings_type=EccSettings,
        run=run_ecc_noma,
    )
)

ECC_OMA = register(
    Algorithm(
        name="ecc-oma",
        summary="ECC over OMA: Li-GD on the scenario with K = 1 and no intra-cell interference",
        cite=_ECC_CITE,
        settings_type=EccSettings,
        run=run_ecc_oma,
    )
)
