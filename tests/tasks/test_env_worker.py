from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from rewardforge.errors import TrainerError, VariableError
from rewardforge.tasks import get_task, parse_task_text
from rewardforge.tasks.env_worker import EnvWorker, usable_cores
from rewardforge.tasks.vecenv import make_env

PENDULUM_BROKEN_VARIABLE = """
id: broken-pendulum
description: a pendulum whose variable fails after the first step
env: {id: Pendulum-v1}
max_episode_steps: 20
variables:
  theta: {shape: [], source: "obs[:, 0] if episode_step[0] < 2 else obs['nope']"}
success:
  code: |
    def is_success(theta):
        return theta > 0
"""


def _run(env, actions):
    out = [env.reset()]
    for a in actions:
        res = env.step(a)
        out += [res.obs, res.variables["theta"], res.env_reward, res.episodes.done]
    return out


def test_worker_steps_exactly_like_the_in_process_env() -> None:
    task = get_task("pendulum")
    rng = np.random.default_rng(0)
    actions = [rng.uniform(-2, 2, size=(3, 1)).astype(np.float32) for _ in range(250)]
    with EnvWorker(task, num_envs=3, seed=7) as worker, make_env(task, num_envs=3, seed=7) as env:
        assert worker.single_observation_space == env.single_observation_space
        assert not worker.discrete
        for got, want in zip(_run(worker, actions), _run(env, actions), strict=True):
            np.testing.assert_array_equal(got, want)


def test_async_step_and_rebuild_to_another_size() -> None:
    task = get_task("pendulum")
    with EnvWorker(task, num_envs=2, seed=0) as worker:
        worker.reset()
        worker.step_async(np.zeros((2, 1), np.float32))
        with pytest.raises(TrainerError, match="step_async called twice"):
            worker.step_async(np.zeros((2, 1), np.float32))
        assert worker.step_wait().obs.shape == (2, 3)
        worker.rebuild(5, seed=1)
        assert worker.reset().shape == (5, 3) and worker.num_envs == 5
        assert worker.sample_actions(np.random.default_rng(0)).shape == (5, 1)


def test_a_dead_worker_is_reported_with_its_exit_code() -> None:
    worker = EnvWorker(get_task("pendulum"), num_envs=1, seed=0)
    try:
        worker.reset()
        os.kill(worker.pid, signal.SIGKILL)
        with pytest.raises(TrainerError, match=r"died while stepping \(exit code -9\)"):
            worker.step(np.zeros((1, 1), np.float32))
    finally:
        worker.close()


def test_an_environment_error_is_raised_in_the_parent() -> None:
    task = parse_task_text(PENDULUM_BROKEN_VARIABLE)
    with EnvWorker(task, num_envs=1, seed=0) as worker:
        worker.reset()
        worker.step(np.zeros((1, 1), np.float32))
        with pytest.raises(VariableError, match="variable 'theta'"):
            worker.step(np.zeros((1, 1), np.float32))


def test_usable_cores_is_the_affinity_mask() -> None:
    assert usable_cores() == len(os.sched_getaffinity(0)) >= 1
