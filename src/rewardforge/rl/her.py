"""Hindsight goal relabelling (HER, "future" strategy) for rewards written as programs.

A goal-conditioned task declares its goal (``goal:`` in the task file): the goal variable, the
achieved variable it is compared with, where the goal sits in the observation, and expressions
for the variables that depend on the goal. When a sampled transition is relabelled, its goal
becomes the achieved value of a later transition of the same episode; the goal-dependent
variables, the success flag and the environment's reward are recomputed from the variables, and
then each member's reward is computed by calling its reward (a sandboxed program included) on
the relabelled variables: exactly what the program would have returned had that been the goal.
Peers relabel only rewards they can call as ``env.compute_reward``; here any reward can be.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rewardforge.errors import ConfigError, TaskError
from rewardforge.rewards.base import EnvReward
from rewardforge.rl.replay import ReplayBuffer
from rewardforge.rl.rewards import MemberRewards
from rewardforge.tasks.spec import GOAL_ENV_REWARD, Task
from rewardforge.tasks.success import SuccessProgram
from rewardforge.tasks.vecenv import ENV_REWARD_KEY, SUCCESS_KEY

#: Share of sampled transitions relabelled when a trainer does not say (HER's k=4: 4 of 5).
DEFAULT_RATIO = 0.8


class GoalRelabeler:
    """Relabels batches drawn from a ``ReplayBuffer`` made with ``track_episodes=True``."""

    def __init__(self, task: Task, goal_slice: slice, ratio: float, rewards: MemberRewards):
        if task.goal is None:
            raise ConfigError(
                f"task {task.id} declares no goal (a 'goal:' section); goal relabelling needs one"
            )
        if not 0.0 < ratio <= 1.0:
            raise ConfigError(f"the relabelling ratio must be in (0, 1], got {ratio}")
        self.task, self.spec, self.ratio, self.rewards = task, task.goal, ratio, rewards
        self.goal_slice = goal_slice
        self.dtypes = {v.name: np.dtype(v.dtype) for v in task.variables}
        self._code = [
            (name, compile(src, f"<{task.id} goal.recompute.{name}>", "eval"))
            for name, src in self.spec.recompute.items()
        ]
        self._success = SuccessProgram.from_task(task)
        if GOAL_ENV_REWARD not in self.spec.recompute and any(
            isinstance(r, EnvReward) for r in rewards.rewards
        ):
            raise ConfigError(
                f"task {task.id}: the environment's reward cannot be relabelled because "
                f"goal.recompute has no {GOAL_ENV_REWARD!r} expression; add one or set "
                "her_ratio=0"
            )

    def recompute(self, variables: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The goal-dependent variables, success flag and env reward for the goal now in
        ``variables`` (a flat batch); returns a new mapping."""
        out = dict(variables)
        namespace: dict[str, Any] = {"np": np, **out}
        for name, code in self._code:
            try:
                value = eval(code, namespace)  # noqa: S307 - task files are the author's code
            except Exception as exc:
                raise TaskError(
                    f"task {self.task.id}: goal.recompute.{name} failed: {type(exc).__name__}: {exc}"
                ) from exc
            key = ENV_REWARD_KEY if name == GOAL_ENV_REWARD else name
            dtype = np.float64 if name == GOAL_ENV_REWARD else self.dtypes[name]
            out[key] = np.asarray(value, dtype=dtype).reshape(out[key].shape)
        out[SUCCESS_KEY] = self._success(out)
        return out

    def relabel(
        self,
        buffer: ReplayBuffer,
        t: np.ndarray,
        e: np.ndarray,
        batch: dict[str, torch.Tensor],
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Relabel a share ``ratio`` of the batch at rows ``t``, columns ``e`` (both ``(K, B)``)
        in place: goals in ``obs`` and ``next_obs``, and rewards. Returns the mask of the
        relabelled transitions."""
        num_members, rows = t.shape
        mask = rng.random((num_members, rows)) < self.ratio
        if not mask.any():
            return mask
        future = buffer.future_rows(t, e, rng)
        spec = self.spec
        variables = {name: values[t, e] for name, values in buffer.variables.items()}
        goal = variables[spec.variable].copy()
        goal[mask] = buffer.variables[spec.achieved][future, e][mask]
        variables[spec.variable] = goal
        flat = {k: v.reshape(num_members * rows, *v.shape[2:]) for k, v in variables.items()}
        relabelled = self.recompute(flat)
        reward = self.rewards.own(relabelled, rows_per_member=rows)[0].reshape(num_members, rows)
        device = batch["rewards"].device
        mask_t = torch.as_tensor(mask, device=device)
        new_reward = torch.as_tensor(reward, dtype=torch.float32, device=device)
        batch["rewards"] = torch.where(mask_t, new_reward, batch["rewards"])
        goal_t = torch.as_tensor(goal.reshape(num_members, rows, -1), dtype=torch.float32)
        goal_t = goal_t.to(device)
        for key in ("obs", "next_obs"):
            part = batch[key][..., self.goal_slice]
            batch[key][..., self.goal_slice] = torch.where(mask_t[..., None], goal_t, part)
        return mask
