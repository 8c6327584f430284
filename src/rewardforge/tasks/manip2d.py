"""Fast 2D manipulation in numpy: thousands of environments stepped in one call.

In the spirit of ARCHIE's 2D benchmarks: a point gripper moves in the square [-1, 1]^2 under
velocity control (``action[:2]`` in [-1, 1] times ``MAX_SPEED`` per step).

- ``point-reach`` (``PointReach``): move the gripper onto a target.
- ``slide`` (``Slide``): push a puck, which slides with friction, onto a target.
- ``place`` (``Place``): close the gripper next to an object to pick it up, carry it, and open
  the gripper to release it on a target.

Episodes never terminate; they are truncated after ``max_episode_steps``. Autoreset happens in
the same step, with the final observation in ``info["final_obs"]`` (as
``SyncVectorEnv(autoreset_mode=SAME_STEP)`` does). Each has a dense reward (the human baseline)
and a small ``rgb_array`` rendering drawn with numpy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

ARENA = 1.0
MAX_SPEED = 0.05
RENDER_SIZE = 64


class Manip2DVectorEnv(VectorEnv):
    """Shared state, stepping, autoreset and rendering; subclasses define the objects."""

    metadata = {"render_modes": ["rgb_array"], "autoreset_mode": AutoresetMode.SAME_STEP}
    action_dim = 2
    obs_dim = 4

    def __init__(
        self, num_envs: int = 1, max_episode_steps: int = 50, render_mode: str | None = None
    ) -> None:
        self.num_envs = num_envs
        self.max_episode_steps = max_episode_steps
        self.render_mode = render_mode
        self.single_action_space = spaces.Box(-1.0, 1.0, (self.action_dim,), np.float32)
        self.single_observation_space = spaces.Box(-2.0, 2.0, (self.obs_dim,), np.float32)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.np_random, _ = seeding.np_random(None)
        self.steps = np.zeros(num_envs, dtype=np.int64)
        self.agent = np.zeros((num_envs, 2))
        self.target = np.zeros((num_envs, 2))
        self._reset_rows(np.ones(num_envs, dtype=bool))

    # subclasses -------------------------------------------------------------------------------
    def _reset_rows(self, rows: np.ndarray) -> None:
        n = int(rows.sum())
        self.agent[rows] = self._uniform(n, 0.9)
        self.target[rows] = self._uniform(n, 0.8)

    def _move(self, action: np.ndarray) -> None:
        raise NotImplementedError

    def _obs(self) -> np.ndarray:
        raise NotImplementedError

    def _reward(self) -> np.ndarray:
        raise NotImplementedError

    def _draw(self, image: np.ndarray, i: int) -> None:
        raise NotImplementedError

    # vector env -------------------------------------------------------------------------------
    def _uniform(self, n: int, half_width: float) -> np.ndarray:
        return self.np_random.uniform(-half_width, half_width, size=(n, 2))

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is not None:
            self.np_random, _ = seeding.np_random(seed)
        self.steps[:] = 0
        self._reset_rows(np.ones(self.num_envs, dtype=bool))
        return self._obs(), {}

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        action = np.clip(np.asarray(actions, dtype=np.float64), -1.0, 1.0)
        action = action.reshape(self.num_envs, self.action_dim)
        self._move(action)
        reward = self._reward()
        self.steps += 1
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = self.steps >= self.max_episode_steps
        obs = self._obs()
        info: dict[str, Any] = {}
        if truncated.any():
            info = {"final_obs": obs.copy(), "_final_obs": truncated.copy(), "final_info": {}}
            self._reset_rows(truncated)
            self.steps[truncated] = 0
            obs = self._obs()
        return obs, reward, terminated, truncated, info

    def render(self) -> tuple[np.ndarray, ...] | None:
        if self.render_mode != "rgb_array":
            return None
        frames = []
        for i in range(self.num_envs):
            image = np.full((RENDER_SIZE, RENDER_SIZE, 3), 255, dtype=np.uint8)
            self._draw(image, i)
            frames.append(image)
        return tuple(frames)


def _disk(image: np.ndarray, xy: np.ndarray, radius: float, color: tuple[int, int, int]) -> None:
    """Draw a filled disk at world position ``xy`` (world square [-1, 1]^2)."""
    size = image.shape[0]
    grid = (np.arange(size) + 0.5) / size * 2 * ARENA - ARENA
    gx, gy = np.meshgrid(grid, -grid)
    inside = (gx - xy[0]) ** 2 + (gy - xy[1]) ** 2 <= max(radius, 1.5 * ARENA / size) ** 2
    image[inside] = color


GRIPPER_COLOR = (40, 90, 200)
TARGET_COLOR = (60, 180, 75)
OBJECT_COLOR = (220, 120, 30)


class PointReach(Manip2DVectorEnv):
    """Move the gripper onto the target. obs: gripper xy, target xy. Reward: minus distance."""

    obs_dim = 4

    def _move(self, action: np.ndarray) -> None:
        self.agent = np.clip(self.agent + MAX_SPEED * action, -ARENA, ARENA)

    def _obs(self) -> np.ndarray:
        return np.concatenate([self.agent, self.target], axis=1).astype(np.float32)

    def _reward(self) -> np.ndarray:
        return -np.linalg.norm(self.agent - self.target, axis=1)

    def _draw(self, image: np.ndarray, i: int) -> None:
        _disk(image, self.target[i], 0.05, TARGET_COLOR)
        _disk(image, self.agent[i], 0.04, GRIPPER_COLOR)


PUCK_RADIUS = 0.05
GRIPPER_RADIUS = 0.05
FRICTION = 0.8
PUSH_GAIN = 1.0
PLACE_RADIUS = 0.08


class Slide(Manip2DVectorEnv):
    """Push a sliding puck onto the target. obs: gripper xy, puck xy, puck velocity, target xy.

    The gripper is a disk; on contact it pushes the puck out along the contact normal and hands it
    its speed along that normal; the puck then slides, losing 20% of its velocity each step (a
    push at full speed slides it about 20 cm further), and bounces off the walls. Reward: minus (half the gripper-puck distance + puck-target distance).
    """

    obs_dim = 12

    def __init__(self, num_envs: int = 1, max_episode_steps: int = 100, **kwargs: Any) -> None:
        self.puck = np.zeros((num_envs, 2))
        self.puck_vel = np.zeros((num_envs, 2))
        super().__init__(num_envs=num_envs, max_episode_steps=max_episode_steps, **kwargs)

    def _reset_rows(self, rows: np.ndarray) -> None:
        super()._reset_rows(rows)
        n = int(rows.sum())
        self.puck[rows] = self._uniform(n, 0.6)
        self.puck_vel[rows] = 0.0

    def _move(self, action: np.ndarray) -> None:
        velocity = MAX_SPEED * action
        self.agent = np.clip(self.agent + velocity, -ARENA, ARENA)
        offset = self.puck - self.agent
        dist = np.linalg.norm(offset, axis=1, keepdims=True)
        normal = offset / np.maximum(dist, 1e-8)
        contact = (dist < PUCK_RADIUS + GRIPPER_RADIUS)[:, 0]
        push_speed = np.maximum((velocity * normal).sum(axis=1, keepdims=True), 0.0)
        self.puck_vel = np.where(contact[:, None], normal * push_speed * PUSH_GAIN, self.puck_vel)
        self.puck = np.where(
            contact[:, None], self.agent + normal * (PUCK_RADIUS + GRIPPER_RADIUS), self.puck
        )
        self.puck = self.puck + self.puck_vel
        self.puck_vel *= FRICTION
        out = np.abs(self.puck) > ARENA
        self.puck_vel = np.where(out, -self.puck_vel, self.puck_vel)
        self.puck = np.clip(self.puck, -ARENA, ARENA)

    def _obs(self) -> np.ndarray:
        parts = [
            self.agent,
            self.puck,
            self.puck_vel / MAX_SPEED,
            self.target,
            self.puck - self.agent,
            self.target - self.puck,
        ]
        return np.concatenate(parts, axis=1).astype(np.float32)

    def _reward(self) -> np.ndarray:
        reach = np.linalg.norm(self.agent - self.puck, axis=1)
        place = np.linalg.norm(self.puck - self.target, axis=1)
        return -(0.5 * reach + place)

    def _draw(self, image: np.ndarray, i: int) -> None:
        _disk(image, self.target[i], 0.07, TARGET_COLOR)
        _disk(image, self.puck[i], PUCK_RADIUS, OBJECT_COLOR)
        _disk(image, self.agent[i], GRIPPER_RADIUS, GRIPPER_COLOR)


GRASP_RANGE = 0.06


class Place(Manip2DVectorEnv):
    """Pick an object up, carry it and release it on the target.

    Actions: gripper velocity (2) and grip command (> 0 closes the gripper). Closing the gripper
    within ``GRASP_RANGE`` of the object grasps it; a held object moves with the gripper; opening
    releases it where it is. obs: gripper xy, gripper closed, object xy, object held, target xy.
    Reward: minus the gripper-object distance while not holding, minus the object-target distance,
    plus 0.25 while holding, plus 1 while the object rests (released) within ``PLACE_RADIUS``
    (8 cm) of the target.
    """

    action_dim = 3
    obs_dim = 12

    def __init__(self, num_envs: int = 1, max_episode_steps: int = 100, **kwargs: Any) -> None:
        self.object = np.zeros((num_envs, 2))
        self.grip_closed = np.zeros(num_envs, dtype=bool)
        self.held = np.zeros(num_envs, dtype=bool)
        super().__init__(num_envs=num_envs, max_episode_steps=max_episode_steps, **kwargs)

    def _reset_rows(self, rows: np.ndarray) -> None:
        super()._reset_rows(rows)
        self.object[rows] = self._uniform(int(rows.sum()), 0.8)
        self.grip_closed[rows] = False
        self.held[rows] = False

    def _move(self, action: np.ndarray) -> None:
        self.agent = np.clip(self.agent + MAX_SPEED * action[:, :2], -ARENA, ARENA)
        close = action[:, 2] > 0.0
        near = np.linalg.norm(self.agent - self.object, axis=1) < GRASP_RANGE
        grasp = close & ~self.grip_closed & near
        self.held = (self.held | grasp) & close
        self.grip_closed = close
        self.object = np.where(self.held[:, None], self.agent, self.object)

    def _obs(self) -> np.ndarray:
        parts = [
            self.agent,
            self.grip_closed[:, None],
            self.object,
            self.held[:, None],
            self.target,
            self.object - self.agent,
            self.target - self.object,
        ]
        return np.concatenate(parts, axis=1).astype(np.float32)

    def _reward(self) -> np.ndarray:
        reach = np.linalg.norm(self.agent - self.object, axis=1)
        place = np.linalg.norm(self.object - self.target, axis=1)
        placed = ~self.held & (place < PLACE_RADIUS)
        return -reach * ~self.held - place + 0.25 * self.held + 1.0 * placed

    def _draw(self, image: np.ndarray, i: int) -> None:
        _disk(image, self.target[i], 0.07, TARGET_COLOR)
        _disk(image, self.object[i], 0.04, OBJECT_COLOR)
        color = (20, 40, 120) if self.grip_closed[i] else GRIPPER_COLOR
        _disk(image, self.agent[i], 0.03, color)


def make_point_reach(num_envs: int = 1, max_episode_steps: int = 50, **kwargs: Any) -> PointReach:
    return PointReach(num_envs=num_envs, max_episode_steps=max_episode_steps, **kwargs)


def make_slide(num_envs: int = 1, max_episode_steps: int = 100, **kwargs: Any) -> Slide:
    return Slide(num_envs=num_envs, max_episode_steps=max_episode_steps, **kwargs)


def make_place(num_envs: int = 1, max_episode_steps: int = 100, **kwargs: Any) -> Place:
    return Place(num_envs=num_envs, max_episode_steps=max_episode_steps, **kwargs)
