"""Native (numpy-vectorized) forms of Gymnasium environments, with same-step autoreset.

Gymnasium's own ``CartPoleVectorEnv`` steps thousands of environments in one numpy call but
resets with the *next* step (a dead transition). These adapters keep Gymnasium's dynamics and
reset in the same step, putting the final observation in ``info["final_obs"]`` as
``SyncVectorEnv(autoreset_mode=SAME_STEP)`` does, so every transition the trainers see is real.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv
from gymnasium.vector import AutoresetMode, VectorEnv


class SameStepCartPole(CartPoleVectorEnv):
    """``CartPoleVectorEnv`` with same-step autoreset."""

    def __init__(self, num_envs: int = 1, max_episode_steps: int = 500, **kwargs: Any) -> None:
        super().__init__(num_envs=num_envs, max_episode_steps=max_episode_steps, **kwargs)
        self.metadata = {**self.metadata, "autoreset_mode": AutoresetMode.SAME_STEP}

    def step(self, action: np.ndarray) -> tuple[Any, ...]:
        obs, reward, terminated, truncated, info = super().step(action)
        done = terminated | truncated
        if done.any():
            info = dict(info)
            info["final_obs"] = obs.copy()
            info["_final_obs"] = done.copy()
            info["final_info"] = {}
            assert self.state is not None
            self.state[:, done] = self.np_random.uniform(
                low=self.low, high=self.high, size=(4, int(done.sum()))
            )
            self.steps[done] = 0
            self.prev_done[:] = False
            obs = self.state.T.astype(np.float32)
        return obs, reward, terminated, truncated, info


NATIVE_VECTOR_ENVS: dict[str, Callable[..., VectorEnv]] = {
    "CartPole-v1": SameStepCartPole,
}
