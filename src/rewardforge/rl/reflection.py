"""Reflection data gathered during training: per-episode component sums, success, length.

``ReflectionRecorder.update`` runs every environment step on whole arrays (no loop over
environments or members); ``snapshot`` runs about ten times per ``train_more`` call and turns
the episodes that ended since the previous snapshot into one ``ReflectionSnapshot`` per member.
Rows belong to members member-major (row ``// envs_per_member``) unless ``update`` is told
which member played each row (``members``: a population whose members take turns acting).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rewardforge.rl.types import ComponentStats, ReflectionSnapshot
from rewardforge.tasks.vecenv import EpisodeStats

TOTAL = "reward"


class ReflectionRecorder:
    def __init__(self, num_members: int, envs_per_member: int, num_rows: int | None = None):
        self.num_members = num_members
        self.envs_per_member = envs_per_member
        self.num_rows = num_rows if num_rows is not None else num_members * envs_per_member
        self._running: dict[str, np.ndarray] = {}
        self._ended: dict[str, list[np.ndarray]] = {}
        self._rows: list[np.ndarray] = []
        self._members: list[np.ndarray] = []
        self._success: list[np.ndarray] = []
        self._length: list[np.ndarray] = []
        self._env_return: list[np.ndarray] = []
        self.snapshots: list[list[ReflectionSnapshot]] = [[] for _ in range(num_members)]

    def update(
        self,
        reward: np.ndarray,
        components: dict[str, np.ndarray],
        episodes: EpisodeStats,
        members: np.ndarray | None = None,
    ) -> None:
        """One step of every row; ``members[row]`` is the member playing that row's episode
        (default: member-major rows)."""
        total = self.num_rows
        for name, value in {TOTAL: reward, **components}.items():
            running = self._running.get(name)
            if running is None:
                running = self._running[name] = np.zeros(total)
                self._ended[name] = [np.full(len(r), np.nan) for r in self._rows]
            running += np.nan_to_num(value, nan=0.0) if name == TOTAL else value
        done = episodes.done
        if not done.any():
            return
        rows = np.flatnonzero(done)
        self._rows.append(rows)
        self._members.append(rows // self.envs_per_member if members is None else members[rows])
        self._success.append(episodes.success[rows].astype(bool))
        self._length.append(episodes.length[rows])
        self._env_return.append(episodes.env_return[rows])
        for name, running in self._running.items():
            self._ended[name].append(running[rows].copy())
            running[rows] = 0.0

    def snapshot(self, steps: Sequence[int]) -> None:
        """Close the current window: one snapshot per member, at that member's step count."""
        if self._rows:
            member = np.concatenate(self._members)
            success = np.concatenate(self._success)
            length = np.concatenate(self._length)
            env_return = np.concatenate(self._env_return)
            ended = {name: np.concatenate(chunks) for name, chunks in self._ended.items()}
        else:
            member = np.zeros(0, dtype=np.int64)
            success = length = env_return = np.zeros(0)
            ended = {}
        for k in range(self.num_members):
            mask = member == k
            count = int(mask.sum())
            comps = {}
            for name, values in ended.items():
                v = values[mask]
                v = v[np.isfinite(v)]
                if v.size:
                    comps[name] = ComponentStats(float(v.mean()), float(v.min()), float(v.max()))
            self.snapshots[k].append(
                ReflectionSnapshot(
                    step=int(steps[k]),
                    num_episodes=count,
                    success_rate=float(success[mask].mean()) if count else float("nan"),
                    mean_length=float(length[mask].mean()) if count else float("nan"),
                    mean_env_return=float(env_return[mask].mean()) if count else float("nan"),
                    components=comps,
                )
            )
        self._rows, self._success, self._length, self._env_return = [], [], [], []
        self._members = []
        self._ended = {name: [] for name in self._running}

    def keep(self, indices: Sequence[int]) -> None:
        """Keep members ``indices``; episodes in progress restart their sums (new env layout)."""
        self.snapshot_discard()
        self.snapshots = [self.snapshots[i] for i in indices]
        self.num_members = len(indices)
        self.num_rows = self.num_members * self.envs_per_member
        self._running = {}
        self._ended = {}

    def snapshot_discard(self) -> None:
        self._rows, self._success, self._length, self._env_return = [], [], [], []
        self._members = []

    @property
    def names(self) -> list[str]:
        """The total and every component seen so far."""
        return list(self._running)

    def restart(self) -> None:
        """Every row starts a new episode (the environments were reset): running sums to 0."""
        for running in self._running.values():
            running[:] = 0.0
