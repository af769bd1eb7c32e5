"""The Gymnasium environment (nomasplit.env) and examples/online_policy.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from nomasplit.env import ENV_ID, NomaSplitEnv
from nomasplit.errors import InputError
from nomasplit.generate import paper_config
from nomasplit.generate.dynamics import DynamicsConfig
from nomasplit.model.evaluate import evaluate
from nomasplit.solvers import solve

ROOT = Path(__file__).resolve().parents[1]
TINY = paper_config(num_aps=2, num_users=6, num_subchannels=3, model="nin", device_flops_per_s=1e9)
QUICK = {"max_iterations": 0, "refine_iterations": 0, "finalists": 1, "baseline_starts": False, "improve_starts": 1}


@pytest.mark.parametrize("action_format", ["hybrid", "discrete"])
def test_the_environment_passes_gymnasiums_checker(action_format: str) -> None:
    check_env(NomaSplitEnv(TINY, episode_slots=3, action_format=action_format), skip_render_check=True)


def test_registered_on_import_and_episodes_end_after_their_slots() -> None:
    env = gym.make(ENV_ID, config=TINY, episode_slots=2)
    observation, info = env.reset(seed=1)
    assert observation["present"].sum() == 6 and info["slot"] == 0
    ends = []
    for _ in range(2):
        observation, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert np.isfinite(reward) and reward < 0 and not terminated
        ends.append(truncated)
    assert ends == [False, True]


def test_reward_is_minus_gamma_of_the_encoded_plan() -> None:
    env = NomaSplitEnv(TINY, episode_slots=2)
    env.reset(seed=2)
    scenario = env.scenario
    plan = solve(scenario, settings=QUICK)
    _, reward, _, _, info = env.step(env.encode_plan(plan))
    assert info["repaired_users"] == 0
    assert reward == pytest.approx(-evaluate(scenario, plan).totals.objective, rel=1e-5)
    assert [u.split for u in env.last_plan.users] == [u.split for u in plan.users]


def test_discrete_form_masks_impossible_splits_and_repairs_overfull_subchannels() -> None:
    config = paper_config(num_aps=1, num_users=5, num_subchannels=1, model="nin", device_flops_per_s=1e9)
    env = NomaSplitEnv(config, DynamicsConfig(mean_session_s=None), episode_slots=1, action_format="discrete")
    env.reset(seed=0)
    mask = env.action_masks()
    assert mask.shape == (int(env.action_nvec.sum()),)
    layers = env.scenario.user_num_layers()[0]
    assert mask[: env.max_layers + 1].tolist() == [split <= layers for split in range(env.max_layers + 1)]
    padded = env.max_users - 1  # a padded user may only take the last split
    start = int(env.action_nvec[: 6 * padded].sum())
    assert mask[start : start + env.max_layers + 1].tolist() == [False] * env.max_layers + [True]
    # five users want split 0 on the one subchannel, which takes K = 3: two are repaired to Device-Only
    action = np.zeros(env.action_space.shape, dtype=np.int64)
    info = env.step(action)[-1]
    assert info["repaired_users"] == 2 and info["offloading_users"] == 3
    with pytest.raises(InputError, match="levels"):
        NomaSplitEnv(config, levels=1)


@pytest.mark.slow
def test_the_example_runs_the_warm_replanner_as_a_policy() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "online_policy.py"), "2"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("slot 0: reward -") and lines[-1].startswith("mean reward over 2 slots: -")


def test_without_gymnasium_the_import_names_the_extra() -> None:
    code = "import sys; sys.modules['gymnasium'] = None; import nomasplit.env"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0 and "pip install 'nomasplit[env]'" in result.stderr
