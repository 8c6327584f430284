"""SAC for a population: K actors, 2K critics and K temperatures as batched networks.

Read it like CleanRL's ``sac_continuous_action.py``: ``SACConfig``, the networks, then the loop
(``_collect`` one vector step, ``_update`` one gradient step). One gradient step updates every
member's critics, actor and temperature with a single backward pass and one fused Adam step
(the actor and temperature losses use the critics and temperature from before the step, as in
the original SAC). Members keep private replay columns unless ``share_buffer`` is set, in which
case every member learns from every member's transitions, relabelled with its own reward.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rewardforge.errors import TrainerError
from rewardforge.rl.base import Population, Trainer
from rewardforge.rl.nets import BatchedMLP, make_adam, member_state, select_members
from rewardforge.rl.replay import ReplayBuffer

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


@dataclass(frozen=True)
class SACConfig:
    """SAC hyperparameters. Defaults are SB3's; tasks override them in ``trainers: sac:``."""

    num_envs: int | None = None
    """environments per member (None: the task's ``budget.num_envs``)"""
    buffer_size: int = 1_000_000
    """replay capacity in transitions per member"""
    learning_starts: int = 100
    """steps per member taken with uniform random actions before learning starts"""
    batch_size: int = 256
    """transitions per member per gradient step"""
    learning_rate: float = 3e-4
    """Adam step size for actor, critics and temperature"""
    gamma: float = 0.99
    """discount factor"""
    tau: float = 0.005
    """target critic smoothing (Polyak) coefficient"""
    train_freq: int = 1
    """vector steps between updates"""
    gradient_steps: int = 1
    """gradient steps per update (update-to-data ratio = gradient_steps / (train_freq * num_envs))"""
    ent_coef_init: float = 1.0
    """initial entropy temperature (learned)"""
    target_entropy: float | None = None
    """entropy target (None: minus the action dimension)"""
    net_arch: tuple[int, ...] = (256, 256)
    """hidden sizes of the actor and of each critic"""
    activation: str = "relu"
    """hidden activation: relu or tanh"""
    share_buffer: bool = False
    """members learn from every member's transitions, relabelled with their own reward"""


class SACNets(nn.Module):
    """Actor ``(K, B, obs) -> (mean, log_std)``; critics ``(2K, B, obs+act) -> Q`` (Q1 then Q2)."""

    def __init__(self, num_members: int, obs_dim: int, act_dim: int, cfg: SACConfig) -> None:
        super().__init__()
        self.act_dim = act_dim
        self.actor = BatchedMLP(num_members, obs_dim, 2 * act_dim, cfg.net_arch, cfg.activation)
        self.critic = BatchedMLP(
            2 * num_members, obs_dim + act_dim, 1, cfg.net_arch, cfg.activation
        )
        self.target = BatchedMLP(
            2 * num_members, obs_dim + act_dim, 1, cfg.net_arch, cfg.activation
        )
        self.log_alpha = nn.Parameter(torch.full((num_members, 1), math.log(cfg.ent_coef_init)))

    def init_members(self, seeds: list[int]) -> None:
        self.actor.init_members(seeds, "uniform")
        self.critic.init_members([s + 7919 for s in seeds] + [s + 104729 for s in seeds], "uniform")
        self.target.load_state_dict(self.critic.state_dict())

    def sample(self, obs: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Squashed-Gaussian action in [-1, 1] and its log-probability."""
        mean, log_std = self.actor(obs).split(self.act_dim, -1)
        std = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX).exp()
        u = mean + std * torch.randn(mean.shape, generator=gen, device=mean.device)
        logp = (-0.5 * ((u - mean) / std) ** 2 - std.log() - 0.5 * math.log(2 * math.pi)).sum(-1)
        logp = logp - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1)
        return torch.tanh(u), logp

    def mean_action(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.actor(obs)[..., : self.act_dim])

    def q(self, net: BatchedMLP, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """``(2, K, B)``: both critics of every member."""
        x = torch.cat([obs, action], -1)
        return net(torch.cat([x, x])).view(2, obs.shape[0], obs.shape[1])


class SACPopulation(Population):
    trainer_name = "sac"

    def __init__(self, task: Any, rewards: Any, seeds: Any, config: SACConfig, **kwargs: Any):
        super().__init__(task, rewards, seeds, config, **kwargs)
        probe = task.make_env(num_envs=1)
        if probe.discrete:
            probe.close()
            raise TrainerError(
                f"SAC needs continuous actions; task {task.id!r} is discrete. Use --trainer ppo"
            )
        space, obs_space = probe.single_action_space, probe.single_observation_space
        probe.close()
        self.obs_dim, self.act_dim = int(np.prod(obs_space.shape)), int(np.prod(space.shape))
        self.act_shape = tuple(space.shape)
        self.low, self.high = space.low.astype(np.float32), space.high.astype(np.float32)
        self.scale, self.bias = (self.high - self.low) / 2, (self.high + self.low) / 2
        self.nets = SACNets(self.num_members, self.obs_dim, self.act_dim, config).to(self.device)
        self.nets.init_members(self.seeds)
        self.nets.target.requires_grad_(False)
        trainable = [p for name, p in self.nets.named_parameters() if not name.startswith("target")]
        self.optimizer = make_adam(trainable, config.learning_rate, self.device)
        self.target_entropy = (
            config.target_entropy if config.target_entropy is not None else -float(self.act_dim)
        )
        self.buffer = ReplayBuffer(
            self.num_members,
            self.envs_per_member,
            self.obs_dim,
            self.act_dim,
            config.buffer_size,
            config.share_buffer,
            self.device,
        )
        self._vec_steps = 0
        self._critic_params: list[torch.Tensor] = list(self.nets.critic.parameters())
        self._target_params: list[torch.Tensor] = list(self.nets.target.parameters())

    # --- loop -----------------------------------------------------------------------------
    def _train_until(self, target_steps: int) -> None:
        cfg = self.config
        self.buffer.reserve(target_steps)
        while self.steps < target_steps:
            self._collect()
            self._vec_steps += 1
            if self.steps >= cfg.learning_starts and self._vec_steps % cfg.train_freq == 0:
                for _ in range(cfg.gradient_steps):
                    self._update()

    @torch.no_grad()
    def _collect(self) -> None:
        if self.steps < self.config.learning_starts:
            env_action = self.env.sample_actions(self._rng).astype(np.float32)
            action = (env_action - self.bias) / self.scale
        else:
            obs = torch.as_tensor(self.obs, dtype=torch.float32, device=self.device)
            action_t, _ = self.nets.sample(
                obs.view(self.num_members, self.envs_per_member, -1), self.gen
            )
            action = action_t.reshape(-1, *self.act_shape).cpu().numpy()
            env_action = action * self.scale + self.bias
        res = self.env.step(env_action)
        reward, components = self.rewards.own(res.variables)
        self.recorder.update(reward, components, res.episodes)
        if self.config.share_buffer:
            table = self.rewards.all_members(res.variables, len(reward))
        else:
            table = reward
        assert self.obs is not None
        self.buffer.add(self.obs, res.final_obs, action, res.terminated, table, res.variables)
        self.obs = res.obs
        self.steps += self.envs_per_member

    def _update(self) -> None:
        cfg, nets = self.config, self.nets
        b = self.buffer.sample(cfg.batch_size, self._rng)
        alpha = nets.log_alpha.exp().detach()  # (K, 1)
        with torch.no_grad():
            next_a, next_logp = nets.sample(b["next_obs"], self.gen)
            q_next = nets.q(nets.target, b["next_obs"], next_a).min(0).values - alpha * next_logp
            target = self._batch_rewards(b) + cfg.gamma * (1 - b["terminated"]) * q_next
        q = nets.q(nets.critic, b["obs"], b["actions"])
        critic_loss = 0.5 * ((q - target) ** 2).mean(-1).sum()
        action, logp = nets.sample(b["obs"], self.gen)
        for p in self._critic_params:  # the actor's loss must not move the critics
            p.requires_grad = False
        q_pi = nets.q(nets.critic, b["obs"], action).min(0).values
        for p in self._critic_params:
            p.requires_grad = True
        actor_loss = (alpha * logp - q_pi).mean(-1).sum()
        alpha_loss = -(nets.log_alpha * (logp.detach() + self.target_entropy)).mean(-1).sum()
        loss = critic_loss + actor_loss + alpha_loss
        penalty = self._penalty()
        if penalty is not None:
            loss = loss + penalty
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            torch._foreach_lerp_(self._target_params, self._critic_params, cfg.tau)

    def relabel(self) -> None:
        """Recompute every stored reward from the stored variables (after a reward changed in
        place, e.g. a reward model learned from preferences)."""
        if self.buffer.size:
            self.buffer.relabel(self.rewards)

    def _batch_rewards(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The ``(K, B)`` rewards a gradient step learns from (hook: the stored ones)."""
        return batch["rewards"]

    def _penalty(self) -> torch.Tensor | None:
        """A loss term added to every gradient step (hook: none)."""
        return None

    # --- population -----------------------------------------------------------------------
    def _keep(self, index: torch.Tensor) -> None:
        critic_index = torch.cat([index, index + self.num_members_before_keep])
        select_members(self.nets.actor, index)
        for net in (self.nets.critic, self.nets.target):
            select_members(net, critic_index)
        with torch.no_grad():
            self.nets.log_alpha.data = self.nets.log_alpha.data.index_select(0, index).contiguous()
        self._select_optimizer(index, critic_index)
        self.buffer.keep(index)

    def _select_optimizer(self, index: torch.Tensor, critic_index: torch.Tensor) -> None:
        critic_params = {id(p) for p in self.nets.critic.parameters()}
        for p, state in self.optimizer.state.items():
            idx = critic_index if id(p) in critic_params else index
            for key in ("exp_avg", "exp_avg_sq"):
                if key in state:
                    state[key] = state[key].index_select(0, idx).contiguous()

    def keep(self, indices: Any) -> None:
        self.num_members_before_keep = self.num_members
        super().keep(indices)

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        t = torch.as_tensor(obs, dtype=torch.float32, device=self.device).view(
            self.num_members, -1, self.obs_dim
        )
        a = self.nets.mean_action(t).reshape(-1, *self.act_shape).cpu().numpy()
        return a * self.scale + self.bias

    def _policy_payload(self, k: int) -> dict[str, Any]:
        return {
            "algo": "sac",
            "task": self.task.id,
            "kind": "squashed",
            "obs_dim": self.obs_dim,
            "act_dim": self.act_dim,
            "act_shape": list(self.act_shape),
            "net_arch": list(self.config.net_arch),
            "activation": self.config.activation,
            "actor": member_state(self.nets.actor, k),
            "low": self.low.tolist(),
            "high": self.high.tolist(),
            "reward": self.rewards.rewards[k].name,
            "seed": self.seeds[k],
            "steps": self.steps,
        }


class SACTrainer(Trainer):
    name = "sac"
    population_cls = SACPopulation


__all__ = ["SACConfig", "SACPopulation", "SACTrainer"]
