"""The default solve stops on work, not on the clock: a busy machine gets the same plan as an idle one."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from nomasplit.data.plan import Plan
from nomasplit.solvers import solve
from nomasplit.solvers.algorithms.ligd import LigdSettings
from tests.factories import random_scenario


def plan_bytes(plan: Plan) -> bytes:
    """The plan without the solver's timings (wall time, anytime curves): the decision and every objective."""
    info = plan.solver
    assert info is not None
    data = plan.model_dump(mode="json")
    data["solver"] = {key: value for key, value in data["solver"].items() if key not in ("wall_time_s", "extra")}
    data["solver"]["starts"] = info.extra["starts"]
    return repr(data).encode()


def test_the_default_stop_is_work_not_the_clock() -> None:
    assert LigdSettings().time_limit_s is None


@pytest.mark.slow
def test_the_same_plan_with_the_cpu_kept_busy_by_other_processes() -> None:
    scenario = random_scenario(7, num_aps=2, num_users=8, num_subchannels=3)
    threads = torch.get_num_threads()
    idle = solve(scenario, "ligd", seed=3)
    burners = [
        subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 120\nwhile time.time() < end: pass"])
        for _ in range(3)
    ]
    try:
        torch.set_num_threads(2)  # solve runs on one thread whatever the caller's setting
        busy = solve(scenario, "ligd", seed=3)
    finally:
        torch.set_num_threads(threads)
        for burner in burners:
            burner.kill()
            burner.wait()
    assert torch.get_num_threads() == threads
    assert busy.solver is not None and idle.solver is not None
    assert busy.solver.extra["improvement_phase"] == idle.solver.extra["improvement_phase"]
    assert plan_bytes(busy) == plan_bytes(idle)
