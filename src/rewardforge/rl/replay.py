"""A replay buffer for a population, with the variables of every transition kept for relabelling.

Layout ``(T, E)``: ``T`` vector steps of ``E = K * n`` environments, member ``k`` owning columns
``k*n:(k+1)*n``. Private mode (default): member ``k`` samples its own columns and its reward is
stored once per transition. Shared mode (LaRes-style): every member samples every column, so
each transition carries every member's reward, computed from the stored variables
(``relabel`` recomputes the whole table, e.g. after a reward changed; ``relabel_members`` only
some members' columns, in batches). ``columns`` sets how many environments there are when they
are not ``K * n`` (a shared population whose members take turns acting in ``n`` environments).

With ``track_episodes`` the buffer also knows where each stored episode ends, so goal
relabelling can draw a later transition of the same episode (``future_rows``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from rewardforge.rl.rewards import MemberRewards


class ReplayBuffer:
    def __init__(
        self,
        num_members: int,
        envs_per_member: int,
        obs_dim: int,
        act_dim: int,
        max_steps: int,
        shared: bool,
        device: torch.device,
        columns: int | None = None,
        track_episodes: bool = False,
    ) -> None:
        self.K, self.n = num_members, envs_per_member
        self.E = columns if columns is not None else num_members * envs_per_member
        self.obs_dim, self.act_dim, self.shared, self.device = obs_dim, act_dim, shared, device
        self.max_rows = max(1, math.ceil(max_steps / envs_per_member))
        self.capacity = 0
        self.pos = 0
        self.full = False
        self.data: dict[str, torch.Tensor] = {}
        self.variables: dict[str, np.ndarray] = {}
        self.track_episodes = track_episodes
        #: last row of each stored transition's episode (-1: the episode is still going on)
        self.episode_end = np.zeros((0, self.E), dtype=np.int64)
        self._episode_start = np.zeros(self.E, dtype=np.int64)

    @property
    def size(self) -> int:
        return self.capacity if self.full else self.pos

    def _empty(self, rows: int) -> dict[str, torch.Tensor]:
        z = lambda *shape: torch.zeros(rows, self.E, *shape, device=self.device)  # noqa: E731
        return {
            "obs": z(self.obs_dim),
            "next_obs": z(self.obs_dim),
            "actions": z(self.act_dim),
            "terminated": z(),
            "rewards": z(self.K) if self.shared else z(),
        }

    def reserve(self, steps_per_member: int) -> None:
        """Grow to hold ``steps_per_member`` transitions per member (up to the buffer size)."""
        self._grow(min(self.max_rows, math.ceil(steps_per_member / self.n)))

    def _grow(self, rows: int) -> None:
        if rows <= self.capacity or self.full:
            return
        extra = self._empty(rows - self.capacity)
        self.data = {
            k: torch.cat([self.data[k], extra[k]]) if self.data else extra[k] for k in extra
        }
        for name, arr in self.variables.items():
            pad = np.zeros((rows - self.capacity, *arr.shape[1:]), dtype=arr.dtype)
            self.variables[name] = np.concatenate([arr, pad])
        if self.track_episodes:
            pad = np.full((rows - self.capacity, self.E), -1, dtype=np.int64)
            self.episode_end = np.concatenate([self.episode_end, pad])
        self.capacity = rows

    def add(
        self,
        obs: np.ndarray,
        next_obs: np.ndarray,
        actions: np.ndarray,
        terminated: np.ndarray,
        rewards: np.ndarray,
        variables: Mapping[str, np.ndarray],
        done: np.ndarray | None = None,
    ) -> None:
        """One vector step; ``rewards`` is ``(E,)`` (private) or ``(E, K)`` (shared); ``done``
        (episodes that ended at this step) is needed when the buffer tracks episodes. The
        buffer grows (doubling) while it is below its size and wraps around once it is full."""
        if self.pos == self.capacity:  # not reserved this far: grow
            self._grow(min(self.max_rows, max(1, 2 * self.capacity)))
        i, dev = self.pos, self.device
        self.data["obs"][i] = torch.as_tensor(obs, dtype=torch.float32, device=dev)
        self.data["next_obs"][i] = torch.as_tensor(next_obs, dtype=torch.float32, device=dev)
        self.data["actions"][i] = torch.as_tensor(actions, dtype=torch.float32, device=dev).view(
            self.E, -1
        )
        self.data["terminated"][i] = torch.as_tensor(terminated, dtype=torch.float32, device=dev)
        self.data["rewards"][i] = torch.as_tensor(rewards, dtype=torch.float32, device=dev)
        for name, value in variables.items():
            store = self.variables.get(name)
            if store is None:
                store = self.variables[name] = np.zeros((self.capacity, *value.shape), value.dtype)
            store[i] = value
        if self.track_episodes:
            if done is None:
                raise ValueError("a buffer that tracks episodes needs done= at every add()")
            self._end_episodes(i, np.asarray(done, dtype=bool))
        self.pos += 1
        if self.pos == self.max_rows:  # at its size limit: overwrite the oldest from now on
            self.pos, self.full = 0, True

    def _end_episodes(self, row: int, done: np.ndarray) -> None:
        self.episode_end[row] = -1
        for e in np.flatnonzero(done):
            start = self._episode_start[e]
            if start <= row:
                self.episode_end[start : row + 1, e] = row
            else:  # the episode wrapped around the end of the ring
                self.episode_end[start:, e] = row
                self.episode_end[: row + 1, e] = row
            self._episode_start[e] = (row + 1) % self.max_rows

    def future_rows(self, t: np.ndarray, e: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """For transitions at rows ``t`` of columns ``e``, a row drawn uniformly from the same
        episode at or after ``t`` (an episode still going on ends at the newest row)."""
        if not self.track_episodes:
            raise ValueError("future_rows needs a buffer made with track_episodes=True")
        end = self.episode_end[t, e]
        newest = (self.pos - 1) % self.capacity
        end = np.where(end < 0, newest, end)
        length = (end - t) % self.capacity + 1
        offset = np.floor(rng.random(t.shape) * length).astype(np.int64)
        return (t + offset) % self.capacity

    def sample_index(
        self, batch_size: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rows and columns ``(K, batch_size)`` of a batch per member (see ``sample``)."""
        t = rng.integers(0, self.size, size=(self.K, batch_size))
        if self.shared:
            e = rng.integers(0, self.E, size=(self.K, batch_size))
        else:
            e = np.arange(self.K)[:, None] * self.n + rng.integers(
                0, self.n, size=(self.K, batch_size)
            )
        return t, e

    def gather(self, t: np.ndarray, e: np.ndarray) -> dict[str, torch.Tensor]:
        """The stored transitions at rows ``t`` and columns ``e`` (both ``(K, B)``)."""
        batch_size = t.shape[1]
        t_idx = torch.as_tensor(t, device=self.device)
        e_idx = torch.as_tensor(e, device=self.device)
        out = {k: v[t_idx, e_idx] for k, v in self.data.items() if k != "rewards"}
        rewards = self.data["rewards"][t_idx, e_idx]
        if self.shared:
            member = torch.arange(self.K, device=self.device)[:, None, None]
            rewards = rewards.gather(-1, member.expand(-1, batch_size, 1)).squeeze(-1)
        out["rewards"] = rewards
        return out

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """A batch per member, each ``(K, batch_size, ...)``; rewards are that member's own."""
        return self.gather(*self.sample_index(batch_size, rng))

    def sample_variables(self, count: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """The stored variables of ``count`` transitions drawn uniformly from every column."""
        t = rng.integers(0, self.size, size=count)
        e = rng.integers(0, self.E, size=count)
        return {name: values[t, e] for name, values in self.variables.items()}

    def relabel(self, rewards: MemberRewards) -> None:
        """Recompute every stored reward from the stored variables (both modes)."""
        rows = self.size
        flat = {k: v[:rows].reshape(rows * self.E, *v.shape[2:]) for k, v in self.variables.items()}
        table = rewards.all_members(flat, rows * self.E).reshape(rows, self.E, self.K)
        table_t = torch.as_tensor(table, device=self.device)
        if self.shared:
            self.data["rewards"][:rows] = table_t
        else:
            own = torch.arange(self.E, device=self.device) // self.n
            self.data["rewards"][:rows] = table_t[:, torch.arange(self.E), own]

    def keep(self, members: torch.Tensor) -> None:
        """Keep the columns (and, shared, the reward columns) of the kept members."""
        cols = (members.cpu()[:, None] * self.n + torch.arange(self.n)).reshape(-1)
        cols_dev = cols.to(self.device)
        for key, value in self.data.items():
            value = value.index_select(1, cols_dev)
            if key == "rewards" and self.shared:
                value = value.index_select(2, members.to(self.device))
            self.data[key] = value.contiguous()
        self.variables = {k: v[:, cols.numpy()] for k, v in self.variables.items()}
        if self.track_episodes:
            self.episode_end = self.episode_end[:, cols.numpy()]
            self._episode_start = self._episode_start[cols.numpy()]
        self.K, self.E = int(members.numel()), int(cols.numel())

    def relabel_members(
        self,
        members: Sequence[int],
        table: Callable[[Mapping[str, np.ndarray], int], np.ndarray],
        batch_rows: int = 4096,
    ) -> None:
        """Shared mode: recompute the reward columns of ``members`` over every stored
        transition, ``batch_rows`` transitions per call of ``table(variables, rows) ->
        (rows, len(members))``; the other members' columns are left as they are."""
        if not self.shared:
            raise ValueError("relabel_members needs a shared buffer; use relabel() otherwise")
        rows = self.size
        total = rows * self.E
        if not members or total == 0:
            return
        flat = {k: v[:rows].reshape(total, *v.shape[2:]) for k, v in self.variables.items()}
        out = np.empty((total, len(members)), dtype=np.float32)
        for start in range(0, total, batch_rows):
            stop = min(total, start + batch_rows)
            out[start:stop] = table({k: v[start:stop] for k, v in flat.items()}, stop - start)
        index = torch.as_tensor(list(members), device=self.device)
        values = torch.as_tensor(out.reshape(rows, self.E, len(members)), device=self.device)
        self.data["rewards"][:rows].index_copy_(2, index, values)

    def state_dict(self) -> dict[str, Any]:
        """The stored transitions (CPU tensors) and the write position, for ``torch.save``."""
        rows = self.size
        return {
            "capacity": self.capacity,
            "pos": self.pos,
            "full": self.full,
            "data": {k: v[:rows].cpu().clone() for k, v in self.data.items()},
            "variables": {k: torch.from_numpy(v[:rows].copy()) for k, v in self.variables.items()},
            "episodes": (
                {
                    "end": torch.from_numpy(self.episode_end[:rows].copy()),
                    "start": torch.from_numpy(self._episode_start.copy()),
                }
                if self.track_episodes
                else None
            ),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.capacity, self.pos, self.full = 0, int(state["pos"]), False
        self.data, self.variables = {}, {}
        self.episode_end = np.zeros((0, self.E), dtype=np.int64)
        self._grow(int(state["capacity"]))
        self.full = bool(state["full"])
        for key, value in state["data"].items():
            self.data[key][: len(value)] = value.to(self.device)
        for name, value in state["variables"].items():
            array = value.numpy()
            store = np.zeros((self.capacity, *array.shape[1:]), dtype=array.dtype)
            store[: len(array)] = array
            self.variables[name] = store
        episodes = state.get("episodes")
        if self.track_episodes and episodes is not None:
            self.episode_end[: len(episodes["end"])] = episodes["end"].numpy()
            self._episode_start = episodes["start"].numpy().copy()
