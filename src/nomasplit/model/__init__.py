"""The system model: SINR with SIC, rates, latency, energy and utility (spec ``system-model.md``)."""

from nomasplit.model.backend import resolve_torch_device
from nomasplit.model.compensation import compensation_function
from nomasplit.model.evaluate import decision_from_plan, evaluate, find_violations, plan_from_decision
from nomasplit.model.system import Costs, Decision, SystemModel

__all__ = [
    "Costs",
    "Decision",
    "SystemModel",
    "compensation_function",
    "decision_from_plan",
    "evaluate",
    "find_violations",
    "plan_from_decision",
    "resolve_torch_device",
]
