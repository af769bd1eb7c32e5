"""The warm re-planner as a policy inside the Gymnasium environment (it trains nothing).

Run: python examples/online_policy.py [SLOTS]. A learning-based planner would replace `plan_slot`.
"""

import sys

import gymnasium as gym

import nomasplit.env  # noqa: F401  (registers nomasplit/NomaSplit-v0)
from nomasplit.experiments.online import WARM_SETTINGS
from nomasplit.solvers import solve

slots = int(sys.argv[1]) if len(sys.argv) > 1 else 5
env = gym.make("nomasplit/NomaSplit-v0", episode_slots=slots)
observation, info = env.reset(seed=0)
previous = None  # (plan carried out, its scenario)


def plan_slot(scenario):
    if previous is None:
        return solve(scenario)  # a cold solve for the first slot
    return solve(scenario, settings=WARM_SETTINGS, start=previous[0], start_scenario=previous[1])


rewards, truncated = [], False
while not truncated:
    scenario = env.unwrapped.scenario
    action = env.unwrapped.encode_plan(plan_slot(scenario))
    observation, reward, terminated, truncated, info = env.step(action)
    previous = (env.unwrapped.last_plan, scenario)
    rewards.append(reward)
    print(f"slot {info['slot'] - 1}: reward {reward:.6g}, {info['repaired_users']} users repaired")
print(f"mean reward over {len(rewards)} slots: {sum(rewards) / len(rewards):.6g}")
