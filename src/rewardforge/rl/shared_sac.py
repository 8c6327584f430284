"""SAC for a population that shares one replay buffer and takes turns acting (LaRes).

``SharedSACPopulation`` is ``SACPopulation`` (K batched actors, 2K critics, one fused Adam)
with these differences:

- acting: there are ``n`` environments in all, not ``n`` per member. When an episode ends in an
  environment, Thompson sampling over the members' recent episode successes
  (``SlidingWindowThompson``) picks the member that plays the next episode there. Every member
  learns at every gradient step, from the whole buffer, with its own reward column;
- one replay buffer (``ReplayBuffer(shared=True, columns=n)``) of transitions with their
  variables and a *raw* reward column per member. A member learns from its column read
  through its affine map ``reward_scale * r + reward_shift`` (``rescale``), so relabelling
  stores exactly what the reward computes;
- members are replaced, never dropped: ``set_rewards`` gives members new reward functions and
  relabels their columns over the whole buffer in batches (one sandbox round trip per batch
  for all of them); ``copy_member`` copies networks, temperature and Adam moments;
  ``anchor`` adds ``weight * ||theta_k - theta_anchor_k||^2`` (actor and both critics) to every
  gradient step of member ``k`` until ``release``.

``steps`` counts the environment steps of all environments together, so ``train_more(10_000)``
takes 10,000 environment steps whichever members played them. ``state_dict`` holds everything
needed to continue bit for bit (networks, optimizer, buffer, random streams, Thompson windows);
environments are not saved: ``restart_episodes`` starts every environment on a new episode.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from rewardforge.errors import ConfigError
from rewardforge.rewards.base import RewardFunction
from rewardforge.rl.evaluation import EVAL_SEED, evaluate_both
from rewardforge.rl.reflection import TOTAL, ReflectionRecorder
from rewardforge.rl.replay import ReplayBuffer
from rewardforge.rl.rewards import MemberRewards
from rewardforge.rl.sac import SACConfig, SACPopulation
from rewardforge.rl.thompson import SlidingWindowThompson
from rewardforge.rl.types import ComponentStats, EvalResult, ReflectionSnapshot

#: Transitions per sandbox call when a reward column is relabelled.
RELABEL_BATCH = 4096
#: Below this spread a reward column is treated as constant when rescaling.
MIN_SPREAD = 1e-8


@dataclass(frozen=True)
class MemberEvaluation:
    """A member's policy (acting as its ``eval_policy``; ``result.other`` the other way): its
    fitness, and its episodes scored by its own reward (mean per-episode return and mean
    per-episode sum of each component, raw units)."""

    result: EvalResult
    own_return: float
    components: dict[str, float]


class SharedSACPopulation(SACPopulation):
    """K SAC members sharing one replay buffer and ``n`` environments; see the module docstring."""

    def __init__(
        self,
        task: Any,
        rewards: Any,
        seeds: Any,
        config: SACConfig,
        *,
        thompson_window: int = 20,
        relabel_batch: int = RELABEL_BATCH,
        **kwargs: Any,
    ) -> None:
        if config.her_ratio:
            raise ConfigError(
                "a shared population does not relabel goals (its members take turns in shared "
                "environments); leave her_ratio unset"
            )
        super().__init__(task, rewards, seeds, replace(config, her_ratio=0.0), **kwargs)
        k, n = self.num_members, self.envs_per_member
        self.buffer = ReplayBuffer(
            k, n, self.obs_dim, self.act_dim, config.buffer_size, True, self.device, columns=n
        )
        self.recorder = ReflectionRecorder(k, n, num_rows=n)
        self.thompson = SlidingWindowThompson(
            k, thompson_window, np.random.SeedSequence([*self.seeds, 7919])
        )
        self.relabel_batch = relabel_batch
        self.reward_scale = torch.ones(k, 1, device=self.device)
        self.reward_shift = torch.zeros(k, 1, device=self.device)
        actor = list(self.nets.actor.parameters())
        self._num_actor_params = len(actor)
        self._anchored_params = [*actor, *self.nets.critic.parameters()]
        self._anchor = [p.detach().clone() for p in self._anchored_params]
        self.anchor_weight = torch.zeros(k, device=self.device)
        self.acting = np.zeros(n, dtype=np.int64)  # the member playing each environment
        self._scored = np.zeros(n, dtype=bool)  # its episode counts for Thompson sampling

    @property
    def num_rows(self) -> int:
        return self.envs_per_member

    # --- acting ---------------------------------------------------------------------------
    def _open_env(self) -> None:
        super()._open_env()
        self.recorder.restart()
        for row in range(self.num_rows):
            self._start_episode(row)

    def restart_episodes(self) -> None:
        """Reset every environment (a new episode everywhere, players drawn afresh)."""
        self._open_env()

    def _start_episode(self, row: int) -> None:
        self.acting[row] = self.thompson.sample([e is None for e in self.rewards.errors])
        # an episode that starts with random actions says nothing about its member's policy
        self._scored[row] = self.steps >= self.config.learning_starts

    @torch.no_grad()
    def _act(self) -> tuple[np.ndarray, np.ndarray]:
        if self.steps < self.config.learning_starts:
            env_action = self.env.sample_actions(self._rng).astype(np.float32)
            return (env_action - self.bias) / self.scale, env_action
        obs = self._obs(torch.as_tensor(self.obs, dtype=torch.float32, device=self.device))
        every, _ = self.nets.sample(obs.expand(self.num_members, -1, -1), self.gen)
        rows = torch.arange(self.num_rows, device=self.device)
        acting = torch.as_tensor(self.acting, device=self.device)
        action = every[acting, rows].reshape(-1, *self.act_shape).cpu().numpy()
        return action, action * self.scale + self.bias

    def _observe(self, res: Any, action: np.ndarray) -> None:
        n = self.num_rows
        table, components = self.rewards.evaluate_all(res.variables, n)
        own = table[np.arange(n), self.acting].astype(np.float64)
        self.recorder.update(own, self._acting_components(components), res.episodes, self.acting)
        if self.obs is None:
            raise ConfigError("the environment was not reset before a step")
        self.buffer.add(self.obs, res.final_obs, action, res.terminated, table, res.variables)
        if self.obs_norm is not None:
            self.obs_norm.update(res.obs)
        self.obs = res.obs
        self.steps += n
        for row in np.flatnonzero(res.episodes.done):
            if self._scored[row]:
                self.thompson.update(int(self.acting[row]), bool(res.episodes.success[row]))
            self._start_episode(int(row))

    def _acting_components(self, per_member: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Each row's components under the reward of the member playing it; NaN where that
        reward has no such component, for every name any reward has or had (so no episode
        is credited a 0 for a component its reward does not have)."""
        names = {name for comps in per_member for name in comps} | set(self.recorder.names)
        names.discard(TOTAL)
        out = {name: np.full(self.num_rows, np.nan) for name in names}
        for k in np.unique(self.acting):
            rows = self.acting == k
            for name, value in per_member[k].items():
                out[name][rows] = value[rows]
        return out

    # --- learning -------------------------------------------------------------------------
    def _batch_rewards(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return batch["rewards"] * self.reward_scale + self.reward_shift

    def _penalty(self) -> torch.Tensor | None:
        if not self._any_anchor:
            return None
        w_actor = self.anchor_weight
        w_critic = torch.cat([w_actor, w_actor])
        total = torch.zeros((), device=self.device)
        for i, (p, a) in enumerate(zip(self._anchored_params, self._anchor, strict=True)):
            w = w_actor if i < self._num_actor_params else w_critic
            total = total + (w * (p - a).pow(2).flatten(1).sum(1)).sum()
        return total

    @property
    def _any_anchor(self) -> bool:
        return bool((self.anchor_weight > 0).any())

    # --- replacing members ----------------------------------------------------------------
    def set_rewards(self, rewards: Mapping[int, RewardFunction]) -> None:
        """Give members new rewards; their columns are recomputed over the whole buffer from
        the stored variables, read raw (scale 1, shift 0), and their Thompson windows and
        reflection history start empty. A reward that fails here marks its member failed."""
        members = sorted(int(k) for k in rewards)
        for k in members:
            self.rewards.replace(k, rewards[k])
            self.thompson.reset(k)
            self.recorder.snapshots[k] = []
        with torch.no_grad():
            self.reward_scale[members] = 1.0
            self.reward_shift[members] = 0.0
        fresh = MemberRewards([rewards[k] for k in members], 1)
        self.buffer.relabel_members(members, fresh.all_members, self.relabel_batch)
        for k, error in zip(members, fresh.errors, strict=True):
            self.rewards.errors[k] = self.rewards.errors[k] or error

    @torch.no_grad()
    def rescale(self, k: int, like: int) -> tuple[float, float]:
        """Read member ``k``'s column through the affine map that gives it the mean and spread
        (standard deviation) of member ``like``'s column as ``like`` reads it, over the buffer.
        A constant column keeps its spread and only moves its mean. Returns (scale, shift)."""
        rows = self.buffer.size
        if rows == 0 or k == like:
            return float(self.reward_scale[k]), float(self.reward_shift[k])
        table = self.buffer.data["rewards"][:rows]
        raw = table[..., k].double()
        ref = table[..., like].double() * self.reward_scale[like].double()
        ref = ref + self.reward_shift[like].double()
        spread, ref_spread = float(raw.std()), float(ref.std())
        scale = ref_spread / spread if spread > MIN_SPREAD and ref_spread > MIN_SPREAD else 1.0
        shift = float(ref.mean()) - float(raw.mean()) * scale
        self.reward_scale[k] = scale
        self.reward_shift[k] = shift
        return scale, shift

    @torch.no_grad()
    def copy_member(self, src: int, dst: int) -> None:
        """Member ``dst`` becomes a copy of ``src``: actor, critics, targets, temperature and
        Adam moments (its reward, buffer column and Thompson window are left alone)."""
        k = self.num_members
        for p in self.nets.actor.parameters():
            p.data[dst] = p.data[src]
        for net in (self.nets.critic, self.nets.target):
            if net is None:
                continue
            for p in net.parameters():
                p.data[dst] = p.data[src]
                p.data[k + dst] = p.data[k + src]
        self.nets.log_alpha.data[dst] = self.nets.log_alpha.data[src]
        critic = {id(p) for p in self.nets.critic.parameters()}
        for param, state in self.optimizer.state.items():
            pairs = [(src, dst), (k + src, k + dst)] if id(param) in critic else [(src, dst)]
            for key in ("exp_avg", "exp_avg_sq"):
                if key in state:
                    for s, d in pairs:
                        state[key][d] = state[key][s]

    @torch.no_grad()
    def anchor(self, members: Iterable[int], weight: float) -> None:
        """Pull ``members`` toward their present parameters with ``weight`` (L2, every step)."""
        idx = torch.as_tensor(list(members), dtype=torch.long, device=self.device)
        both = torch.cat([idx, idx + self.num_members])
        for i, (p, a) in enumerate(zip(self._anchored_params, self._anchor, strict=True)):
            rows = idx if i < self._num_actor_params else both
            a[rows] = p.detach()[rows]
        self.anchor_weight[idx] = float(weight)

    @torch.no_grad()
    def release(self, members: Iterable[int]) -> None:
        """Stop pulling ``members`` toward their anchors."""
        idx = torch.as_tensor(list(members), dtype=torch.long, device=self.device)
        self.anchor_weight[idx] = 0.0

    def anchor_distance(self, k: int) -> float:
        """``||theta_k - theta_anchor_k||^2`` over actor and both critics."""
        total = 0.0
        for i, (p, a) in enumerate(zip(self._anchored_params, self._anchor, strict=True)):
            rows = [k] if i < self._num_actor_params else [k, k + self.num_members]
            total += float((p.detach()[rows] - a[rows]).pow(2).sum())
        return total

    def keep(self, indices: Any) -> None:
        raise ConfigError(
            "a shared population keeps all its members; give a member a new reward with "
            "set_rewards() (and copy_member() to restart it from another member) instead"
        )

    # --- evaluation -----------------------------------------------------------------------
    def evaluate_members(
        self, num_episodes: int | None = None, seed: int = EVAL_SEED
    ) -> list[MemberEvaluation]:
        """Every member's policy over ``num_episodes`` episodes (``evaluate_both``), with the
        fitness policy's episodes scored by its own reward as well as by the task."""
        n = num_episodes or self.task.fitness.num_episodes
        size = self.num_members * n
        scorer = MemberRewards(self.rewards.rewards, n)
        own = np.zeros(size)
        sums: dict[str, np.ndarray] = {}

        def observe(result: Any, active: np.ndarray) -> None:
            reward, components = scorer.own(result.variables)
            own[active] += reward[active]
            for name, value in components.items():
                sums.setdefault(name, np.zeros(size))[active] += value[active]

        results = evaluate_both(
            self.task, self.act, self.sampler(seed), self.num_members, policy=self.eval_policy,
            num_episodes=n, seed=seed, observe=observe,
        )  # fmt: skip
        out = []
        for k, result in enumerate(results):
            rows = slice(k * n, (k + 1) * n)
            comps = {
                name: float(v[rows].mean())
                for name, v in sums.items()
                if np.isfinite(v[rows]).all()
            }
            out.append(MemberEvaluation(result, float(own[rows].mean()), comps))
        return out

    # --- saving and loading ---------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training exactly (a copy, on the CPU, for
        ``torch.save``)."""
        return {
            "nets": {k: _copy(v) for k, v in self.nets.state_dict().items()},
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "buffer": self.buffer.state_dict(),
            "thompson": self.thompson.state_dict(),
            "steps": self.steps,
            "vec_steps": self._vec_steps,
            "updates": self._updates,
            "obs_norm": self.obs_norm.state_dict() if self.obs_norm is not None else None,
            "epoch": self._epoch,
            "wall_time": self.wall_time,
            "rng": self._rng.bit_generator.state,
            "gen": self.gen.get_state(),
            "reward_scale": _copy(self.reward_scale),
            "reward_shift": _copy(self.reward_shift),
            "anchor": [_copy(a) for a in self._anchor],
            "anchor_weight": _copy(self.anchor_weight),
            "errors": list(self.rewards.errors),
            "reflection": [[s.to_dict() for s in snaps] for snaps in self.recorder.snapshots],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from ``state_dict()`` of a population with the same members and rewards."""
        with torch.no_grad():
            self.nets.load_state_dict(state["nets"])
            for a, saved in zip(self._anchor, state["anchor"], strict=True):
                a.copy_(saved)
            self.reward_scale.copy_(state["reward_scale"])
            self.reward_shift.copy_(state["reward_shift"])
            self.anchor_weight.copy_(state["anchor_weight"])
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))  # never alias it
        self.buffer.load_state_dict(state["buffer"])
        self.thompson.load_state_dict(state["thompson"])
        self.steps, self._vec_steps = int(state["steps"]), int(state["vec_steps"])
        self._updates = int(state.get("updates", 0))
        if self.obs_norm is not None and state.get("obs_norm") is not None:
            self.obs_norm.load_state_dict(state["obs_norm"])
        self._epoch, self.wall_time = int(state["epoch"]), float(state["wall_time"])
        self._rng.bit_generator.state = state["rng"]
        self.gen.set_state(state["gen"])
        self.rewards.errors = list(state["errors"])
        self.recorder.snapshots = [[_snapshot(s) for s in snaps] for snaps in state["reflection"]]


def _copy(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().to("cpu", copy=True)


def _snapshot(data: Mapping[str, Any]) -> ReflectionSnapshot:
    components = {name: ComponentStats(**c) for name, c in data["components"].items()}
    return ReflectionSnapshot(**{**data, "components": components})


__all__ = ["MemberEvaluation", "SharedSACPopulation"]
