"""Conformance over every registered task: builds for 1 and 4 environments, variables have their
declared shapes and dtypes, the success criterion evaluates, both baselines compute."""

from __future__ import annotations

import numpy as np
import pytest

from rewardforge.rewards import get_baseline
from rewardforge.tasks import ENV_REWARD_KEY, SUCCESS_KEY, list_tasks
from rewardforge.tasks.vecenv import make_env

TASK_IDS = [t.id for t in list_tasks()]


@pytest.mark.parametrize("task_id", TASK_IDS)
@pytest.mark.parametrize("num_envs", [1, 4])
def test_task_conformance(task_id: str, num_envs: int) -> None:
    task = next(t for t in list_tasks() if t.id == task_id)
    rng = np.random.default_rng(0)
    with make_env(task, num_envs=num_envs, seed=0) as env:
        obs = env.reset()
        assert obs.shape[0] == num_envs
        for _ in range(5):
            step = env.step(env.sample_actions(rng))
            for var in task.variables:
                value = step.variables[var.name]
                assert value.shape == (num_envs, *var.shape), var.name
                assert value.dtype == np.dtype(var.dtype), var.name
            assert step.success.shape == (num_envs,) and step.success.dtype == bool
            for name in ("env", "sparse"):
                out = get_baseline(name)(step.variables)
                assert out.reward.shape == (num_envs,)
                assert np.all(np.isfinite(out.reward))
            np.testing.assert_array_equal(
                get_baseline("env")(step.variables).reward, step.variables[ENV_REWARD_KEY]
            )
            np.testing.assert_array_equal(
                get_baseline("sparse")(step.variables).reward, step.variables[SUCCESS_KEY]
            )


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_random_episodes_finish_with_statistics(task_id: str) -> None:
    task = next(t for t in list_tasks() if t.id == task_id)
    rng = np.random.default_rng(1)
    finished = 0
    with make_env(task, num_envs=2, seed=1) as env:
        env.reset()
        for _ in range(task.max_episode_steps + 1):
            step = env.step(env.sample_actions(rng))
            ep = step.episodes
            if ep.done.any():
                assert np.all(ep.length[ep.done] >= 1)
                assert np.all(ep.length[ep.done] <= task.max_episode_steps)
                finished += int(ep.done.sum())
            assert np.all(step.variables["episode_step"] >= 1)
    assert finished >= 2
