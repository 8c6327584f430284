"""Evaluating K members' rewards on one batch of transitions.

Rows of a population's vector environment are laid out member-major: member ``k`` owns rows
``k*n : (k+1)*n``. Members that share a reward object (one candidate, several seeds) are
evaluated in one call. A reward that raises or returns bad values marks its members failed
(they get reward 0 from then on) instead of ending the training: a failed candidate is data.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rewardforge.rewards.base import RewardFunction

logger = logging.getLogger(__name__)


def _check_output(out: Any, rows: int, name: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    raw_reward, components = out[0], out[1]
    reward = np.asarray(raw_reward, dtype=np.float64).reshape(-1)
    if reward.shape != (rows,):
        raise ValueError(f"reward {name!r} returned shape {reward.shape}, expected ({rows},)")
    if not np.isfinite(reward).all():
        raise ValueError(f"reward {name!r} returned non-finite values (nan or inf)")
    checked: dict[str, np.ndarray] = {}
    for key, value in dict(components or {}).items():
        value = np.asarray(value, dtype=np.float64).reshape(-1)
        if value.shape == (rows,):
            checked[str(key)] = value
    return reward, checked


class MemberRewards:
    """The reward function of every member, grouped by identity for batched evaluation."""

    def __init__(self, rewards: Sequence[RewardFunction], envs_per_member: int) -> None:
        self.rewards = list(rewards)
        self.envs_per_member = envs_per_member
        self.errors: list[str | None] = [None] * len(self.rewards)

    @property
    def num_members(self) -> int:
        return len(self.rewards)

    def keep(self, indices: Sequence[int]) -> None:
        self.rewards = [self.rewards[i] for i in indices]
        self.errors = [self.errors[i] for i in indices]

    def _groups(self) -> list[tuple[RewardFunction, list[int]]]:
        groups: dict[int, tuple[RewardFunction, list[int]]] = {}
        for k, reward in enumerate(self.rewards):
            groups.setdefault(id(reward), (reward, []))[1].append(k)
        return list(groups.values())

    def _call(
        self,
        reward: RewardFunction,
        members: list[int],
        batch: Mapping[str, np.ndarray],
        rows: int,
        done: Any = None,
    ) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
        """``reward(batch)`` checked, or ``done`` (its output from a batched sandbox call)."""
        if all(self.errors[k] is not None for k in members):
            return None
        try:
            if isinstance(done, BaseException):
                raise done
            return _check_output(reward(batch) if done is None else done, rows, reward.name)
        except Exception as exc:  # a failed candidate is a record, not a crash
            message = f"{type(exc).__name__}: {exc}"
            logger.warning("reward %s failed: %s", reward.name, message)
            for k in members:
                self.errors[k] = self.errors[k] or message
            return None

    def _batched(self, transition: Mapping[str, np.ndarray]) -> dict[int, Any]:
        """Sandboxed rewards sharing one sandbox, evaluated on the whole batch in one round trip
        (``RewardSandbox.evaluate_many``); maps ``id(reward)`` to its output or error."""
        buckets: dict[int, list[Any]] = {}
        for fn, members in self._groups():
            sandbox = getattr(fn, "sandbox", None)
            usable = hasattr(sandbox, "evaluate_many") and hasattr(fn, "key")
            if usable and any(self.errors[k] is None for k in members):
                buckets.setdefault(id(sandbox), []).append(fn)
        out: dict[int, Any] = {}
        for fns in buckets.values():
            if len(fns) < 2:
                continue
            try:
                results = fns[0].sandbox.evaluate_many([f.key for f in fns], transition)
            except Exception as exc:
                results = [exc] * len(fns)
            out.update({id(f): r for f, r in zip(fns, results, strict=True)})
        return out

    def own(
        self, transition: Mapping[str, np.ndarray], rows_per_member: int | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Each row's reward under its own member's function, and components (NaN where a
        member's reward has no such component). Shapes ``(K*n,)``, member-major, where ``n``
        is ``rows_per_member`` (default: the member's environments)."""
        n = rows_per_member or self.envs_per_member
        total = self.num_members * n
        reward = np.zeros(total)
        components: dict[str, np.ndarray] = {}
        batched = self._batched(transition)
        for fn, members in self._groups():
            rows: np.ndarray | slice = slice(None)
            if len(members) < self.num_members:
                rows = (np.asarray(members)[:, None] * n + np.arange(n)).reshape(-1)
            if id(fn) in batched:  # computed on every row; keep this member's
                out = self._call(fn, members, transition, total, batched[id(fn)])
                out = out and (out[0][rows], {k: v[rows] for k, v in out[1].items()})
            else:
                batch = (
                    transition
                    if isinstance(rows, slice)
                    else {key: value[rows] for key, value in transition.items()}
                )
                out = self._call(fn, members, batch, len(members) * n)
            if not out:
                continue
            reward[rows] = out[0]
            for name, value in out[1].items():
                components.setdefault(name, np.full(total, np.nan))[rows] = value
        return reward, components

    def all_members(self, transition: Mapping[str, np.ndarray], rows: int) -> np.ndarray:
        """Every member's reward on every row, shape ``(rows, K)`` (relabelling a shared buffer)."""
        return self.evaluate_all(transition, rows)[0]

    def evaluate_all(
        self, transition: Mapping[str, np.ndarray], rows: int
    ) -> tuple[np.ndarray, list[dict[str, np.ndarray]]]:
        """Every member's reward on every row ``(rows, K)`` (0 where a member's reward failed),
        and each member's components on every row (empty where it failed)."""
        out = np.zeros((rows, self.num_members), dtype=np.float32)
        components: list[dict[str, np.ndarray]] = [{} for _ in range(self.num_members)]
        batched = self._batched(transition)
        for fn, members in self._groups():
            result = self._call(fn, members, transition, rows, batched.get(id(fn)))
            if result is not None:
                out[:, members] = result[0][:, None]
                for k in members:
                    components[k] = result[1]
        return out, components

    def replace(self, k: int, reward: RewardFunction) -> None:
        """Member ``k`` gets a new reward function; its error, if any, is forgotten."""
        self.rewards[k] = reward
        self.errors[k] = None
