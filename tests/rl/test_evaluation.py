from __future__ import annotations

import numpy as np
import pytest

from rewardforge.rl.evaluation import evaluate_policies
from rewardforge.tasks import get_task, make_env


@pytest.mark.parametrize("task_id", ["pendulum", "button-press"])
def test_a_reused_evaluation_env_gives_the_same_episodes_as_a_fresh_one(task_id: str) -> None:
    task = get_task(task_id)
    rng = np.random.default_rng(0)
    probe = make_env(task, num_envs=1)
    space = probe.single_action_space
    probe.close()
    table = rng.uniform(space.low, space.high, size=(64, *space.shape)).astype(np.float32)

    def act(obs: np.ndarray) -> np.ndarray:  # a fixed policy that depends on the observation
        index = (np.abs(obs).sum(axis=1) * 1000).astype(np.int64) % len(table)
        return table[index]

    fresh = evaluate_policies(task, act, 2, num_episodes=2)
    env = make_env(task, num_envs=4)
    try:
        again = [evaluate_policies(task, act, 2, num_episodes=2, env=env) for _ in range(2)]
        with pytest.raises(ValueError, match="has 4 environments, need 6"):
            evaluate_policies(task, act, 3, num_episodes=2, env=env)
    finally:
        env.close()
    assert again[0] == fresh and again[1] == fresh
