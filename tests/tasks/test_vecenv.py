from __future__ import annotations

import numpy as np

from rewardforge.tasks import get_task
from rewardforge.tasks.vecenv import make_env


def test_cartpole_uses_native_vector_env_with_same_step_reset() -> None:
    task = get_task("cartpole")
    with make_env(task, num_envs=16, seed=0) as env:
        assert type(env.env).__name__ == "SameStepCartPole"
        env.reset()
        ones = np.ones(16, dtype=np.int64)
        for _ in range(200):
            step = env.step(ones)  # always push right: episodes end quickly
            if step.episodes.done.any():
                break
        done = step.episodes.done
        assert done.any()
        # variables are those of the final state (beyond a threshold), the obs is a fresh reset
        final_angle = np.abs(step.variables["pole_angle"][done])
        final_x = np.abs(step.variables["cart_position"][done])
        assert np.all((final_angle > 0.2094) | (final_x > 2.39))
        assert np.all(np.abs(step.obs[done]) <= 0.05 + 1e-6)
        assert np.all(step.episodes.success[done] == False)  # noqa: E712 - failed before 500 steps
        # the next step is a real transition from the reset state
        nxt = env.step(np.zeros(16, dtype=np.int64))
        assert np.all(nxt.variables["episode_step"][done] == 1)


def test_cartpole_success_means_lasting_500_steps() -> None:
    task = get_task("cartpole")
    with make_env(task, num_envs=1, seed=0) as env:
        env.reset()
        # no real policy: a bang-bang controller on the pole angle keeps it up for 500 steps
        step = None
        for _ in range(500):
            action = np.array(
                [1 if (step is None or step.obs[0, 2] + 0.5 * step.obs[0, 3] > 0) else 0]
            )
            step = env.step(action)
            if step.episodes.done[0]:
                break
        assert step is not None and step.episodes.done[0]
        assert step.episodes.length[0] == 500
        assert bool(step.episodes.success[0])


def test_mountaincar_goal_reached_counts_as_success() -> None:
    task = get_task("mountaincar")
    with make_env(task, num_envs=1, seed=0) as env:
        env.reset()
        velocity = 0.0
        for _ in range(999):
            action = np.array([[1.0 if velocity >= 0 else -1.0]], dtype=np.float32)
            step = env.step(action)
            velocity = step.obs[0, 1]
            if step.episodes.done[0]:
                break
        assert step.terminated[0], "an energy-pumping controller reaches the flag"
        assert step.variables["position"][0] >= 0.45
        assert bool(step.episodes.success[0])
        assert step.variables["_success"][0]


def test_pendulum_fraction_success_uses_final_quarter() -> None:
    task = get_task("pendulum")
    with make_env(task, num_envs=2, seed=0) as env:
        env.reset()
        for _ in range(200):
            step = env.step(np.zeros((2, 1), dtype=np.float32))
        assert step.episodes.done.all()
        assert not step.episodes.success.any(), "hanging down is not success"
        assert np.all(step.episodes.length == 200)
