"""Plain validated data that every other layer reads: profiles, scenarios, plans, evaluation results."""

from nomasplit.data.arrays import FloatArray
from nomasplit.data.hashing import sha256_of
from nomasplit.data.measurement import LatencyMeasurement, UnitLatencyTable, UnitTimings
from nomasplit.data.plan import Plan, SolveInfo, SplitHistory, UserDecision
from nomasplit.data.profile import LayerProfile, ModelProfile
from nomasplit.data.result import EvaluationResult, Totals, UserOutcome, Violation
from nomasplit.data.scenario import (
    AmdahlCompensation,
    Compensation,
    LinearCompensation,
    MeasuredCompensation,
    PowerCompensation,
    Scenario,
)

__all__ = [
    "AmdahlCompensation",
    "Compensation",
    "EvaluationResult",
    "FloatArray",
    "LatencyMeasurement",
    "LayerProfile",
    "LinearCompensation",
    "MeasuredCompensation",
    "ModelProfile",
    "Plan",
    "PowerCompensation",
    "Scenario",
    "SolveInfo",
    "SplitHistory",
    "Totals",
    "UnitLatencyTable",
    "UnitTimings",
    "UserDecision",
    "UserOutcome",
    "Violation",
    "sha256_of",
]
