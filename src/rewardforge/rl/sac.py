"""SAC for a population: K actors, 2K critics and K temperatures as batched networks.

Read it like CleanRL's ``sac_continuous_action.py``: ``SACConfig``, the networks, then the loop
(``_collect`` one vector step, ``_update`` one gradient step). One gradient step updates every
member's critics, actor and temperature with a single backward pass and one fused Adam step
(the actor and temperature losses use the critics and temperature from before the step, as in
the original SAC). Members keep private replay columns unless ``share_buffer`` is set, in which
case every member learns from every member's transitions, relabelled with its own reward.

What makes it solve fast (chosen by measured time to solve, ``benchmarks/time_to_solve.py``):
- ``critic``: ``crossq`` (CrossQ, ICLR 2024: batch-normalised critics, no target network, the
  current and next state-action pairs in one forward pass) or ``layernorm`` critics;
- goal relabelling (``her_ratio``) on tasks that declare a goal (``rl/her.py``);
- observation normalisation (``normalize_obs``), folded into the saved actor;
- the environments step in a worker process while the networks update (``async_env``): the
  next action is sent, the gradient steps run, then the step's result is collected. The order
  of work is the same either way, so a run gives the same result with or without the worker.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rewardforge.errors import ConfigError, TrainerError
from rewardforge.rl.base import Population, Trainer
from rewardforge.rl.her import DEFAULT_RATIO, GoalRelabeler
from rewardforge.rl.nets import (
    BatchedMLP,
    RunningNorm,
    fold_normalization,
    make_adam,
    member_state,
    select_members,
)
from rewardforge.rl.replay import ReplayBuffer
from rewardforge.tasks.env_worker import EnvWorker, usable_cores
from rewardforge.tasks.vecenv import make_env, observation_slice

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
    critic: str = "sac"
    """critics: sac (plain, with target networks), layernorm (LayerNorm after each hidden
    layer, with target networks) or crossq (BatchNorm, no target network)"""
    critic_arch: tuple[int, ...] | None = None
    """hidden sizes of each critic (None: net_arch)"""
    policy_delay: int = 1
    """gradient steps per actor and temperature update (CrossQ: 3)"""
    adam_beta1: float = 0.9
    """Adam's first-moment decay (CrossQ: 0.5)"""
    normalize_obs: bool = False
    """normalise observations by their running mean and standard deviation"""
    her_ratio: float | None = None
    """share of sampled transitions relabelled with a later achieved goal of their episode
    (None: 0.8 on tasks that declare a goal, else 0)"""
    async_env: bool | None = None
    """step the environments in a worker process during the gradient steps (None: when this
    process may use two or more cores and an environment step is slow enough to pay for it)"""

    def __post_init__(self) -> None:
        if self.critic not in CRITICS:
            raise ConfigError(f"critic must be one of {', '.join(CRITICS)}, got {self.critic!r}")
        if self.policy_delay < 1:
            raise ConfigError(f"policy_delay must be at least 1, got {self.policy_delay}")
        if self.her_ratio is not None and not 0.0 <= self.her_ratio <= 1.0:
            raise ConfigError(f"her_ratio must be in [0, 1], got {self.her_ratio}")


CRITICS = ("sac", "layernorm", "crossq")
_CRITIC_NORM = {"sac": "none", "layernorm": "layer", "crossq": "batch"}
#: An environment step (all of a population's environments) must take this long before
#: ``async_env=None`` moves the environments to a worker process (a round trip costs ~0.1 ms).
ASYNC_MIN_STEP_S = 0.4e-3


class SACNets(nn.Module):
    """Actor ``(K, B, obs) -> (mean, log_std)``; critics ``(2K, B, obs+act) -> Q`` (Q1 then Q2)."""

    def __init__(self, num_members: int, obs_dim: int, act_dim: int, cfg: SACConfig) -> None:
        super().__init__()
        self.act_dim = act_dim
        self.actor = BatchedMLP(num_members, obs_dim, 2 * act_dim, cfg.net_arch, cfg.activation)
        critic_arch = cfg.critic_arch or cfg.net_arch
        norm = _CRITIC_NORM[cfg.critic]
        self.critic = BatchedMLP(
            2 * num_members, obs_dim + act_dim, 1, critic_arch, cfg.activation, norm
        )
        self.target: BatchedMLP | None = None
        if cfg.critic != "crossq":
            self.target = BatchedMLP(
                2 * num_members, obs_dim + act_dim, 1, critic_arch, cfg.activation, norm
            )
        self.log_alpha = nn.Parameter(torch.full((num_members, 1), math.log(cfg.ent_coef_init)))

    def init_members(self, seeds: list[int]) -> None:
        self.actor.init_members(seeds, "uniform")
        self.critic.init_members([s + 7919 for s in seeds] + [s + 104729 for s in seeds], "uniform")
        if self.target is not None:
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

    def q_joint(
        self,
        obs: torch.Tensor,
        action: torch.Tensor,
        next_obs: torch.Tensor,
        next_action: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """CrossQ: ``Q(s, a)`` and ``Q(s', a')``, each ``(2, K, B)``, from one forward pass of
        the critics over both batches (the batch statistics see both distributions)."""
        x = torch.cat([torch.cat([obs, action], -1), torch.cat([next_obs, next_action], -1)], 1)
        q = self.critic(torch.cat([x, x])).view(2, obs.shape[0], 2 * obs.shape[1])
        return q[..., : obs.shape[1]], q[..., obs.shape[1] :]


class SACPopulation(Population):
    trainer_name = "sac"

    def __init__(self, task: Any, rewards: Any, seeds: Any, config: SACConfig, **kwargs: Any):
        super().__init__(task, rewards, seeds, config, **kwargs)
        probe = make_env(task, num_envs=1, seed=0)
        try:
            if probe.discrete:
                raise TrainerError(
                    f"SAC needs continuous actions; task {task.id!r} is discrete. Use --trainer ppo"
                )
            space, obs_space = probe.single_action_space, probe.single_observation_space
            slices = probe.observation_slices
            self._async = self._want_async(probe)
        finally:
            probe.close()
        self.obs_dim, self.act_dim = int(np.prod(obs_space.shape)), int(np.prod(space.shape))
        self.act_shape = tuple(space.shape)
        self.low, self.high = space.low.astype(np.float32), space.high.astype(np.float32)
        self.scale, self.bias = (self.high - self.low) / 2, (self.high + self.low) / 2
        self.nets = SACNets(self.num_members, self.obs_dim, self.act_dim, config).to(self.device)
        self.nets.init_members(self.seeds)
        if self.nets.target is not None:
            self.nets.target.requires_grad_(False)
        trainable = [p for name, p in self.nets.named_parameters() if not name.startswith("target")]
        self.optimizer = make_adam(
            trainable, config.learning_rate, self.device, betas=(config.adam_beta1, 0.999)
        )
        self.target_entropy = (
            config.target_entropy if config.target_entropy is not None else -float(self.act_dim)
        )
        her_ratio = config.her_ratio
        if her_ratio is None:
            her_ratio = DEFAULT_RATIO if task.goal is not None and not config.share_buffer else 0.0
        self.buffer = ReplayBuffer(
            self.num_members,
            self.envs_per_member,
            self.obs_dim,
            self.act_dim,
            config.buffer_size,
            config.share_buffer,
            self.device,
            track_episodes=her_ratio > 0,
        )
        self.relabeler: GoalRelabeler | None = None
        if her_ratio > 0:
            if config.share_buffer:
                raise ConfigError("goal relabelling (her_ratio) needs private buffers")
            if task.goal is None:
                raise ConfigError(
                    f"her_ratio={her_ratio} but task {task.id} declares no goal; set her_ratio=0"
                )
            where = observation_slice(slices, task.goal.observation, task.id)
            self.relabeler = GoalRelabeler(task, where, her_ratio, self.rewards)
        self.obs_norm = RunningNorm(self.obs_dim, self.device) if config.normalize_obs else None
        self._vec_steps = 0
        self._updates = 0
        self._critic_params: list[torch.Tensor] = list(self.nets.critic.parameters())
        self._target_params: list[torch.Tensor] = (
            list(self.nets.target.parameters()) if self.nets.target is not None else []
        )

    def _want_async(self, probe: Any) -> bool:
        """``async_env``, or when it is None: two or more usable cores and an environment step
        slow enough that overlapping it with the gradient steps pays for the round trip."""
        if self.config.async_env is not None:
            return bool(self.config.async_env)
        if usable_cores() < 2:
            return False
        probe.reset()
        rng = np.random.default_rng(0)
        times = []
        for _ in range(8):
            action = probe.sample_actions(rng)
            start = time.perf_counter()
            probe.step(action)
            times.append(time.perf_counter() - start)
        per_env = sorted(times)[len(times) // 2]
        return per_env * self.num_rows >= ASYNC_MIN_STEP_S

    def _make_env(self, num_envs: int, seed: int) -> Any:
        if not self._async:
            return super()._make_env(num_envs, seed)
        if isinstance(self.env, EnvWorker):
            self.env.rebuild(num_envs, seed)
            return self.env
        return EnvWorker(self.task, num_envs=num_envs, seed=seed)

    # --- loop -----------------------------------------------------------------------------
    def _train_until(self, target_steps: int) -> None:
        """Each vector step: choose actions, send them, run the gradient steps due while the
        environments step (in a worker when ``async_env``), then store the transitions."""
        cfg = self.config
        self.buffer.reserve(target_steps)
        while self.steps < target_steps:
            action, env_action = self._act()
            learn = (
                self.steps >= cfg.learning_starts
                and self.buffer.size > 0
                and self._vec_steps % cfg.train_freq == 0
            )
            updates = cfg.gradient_steps if learn else 0
            if updates and isinstance(self.env, EnvWorker):
                self.env.step_async(env_action)
                for _ in range(updates):
                    self._update()
                res = self.env.step_wait()
            else:
                for _ in range(updates):
                    self._update()
                res = self.env.step(env_action)
            self._observe(res, action)
            self._vec_steps += 1

    def _obs(self, obs: torch.Tensor) -> torch.Tensor:
        return self.obs_norm(obs) if self.obs_norm is not None else obs

    @torch.no_grad()
    def _act(self) -> tuple[np.ndarray, np.ndarray]:
        """The actions to take: ``(action in [-1, 1], the environment's action)``."""
        if self.steps < self.config.learning_starts:
            env_action = self.env.sample_actions(self._rng).astype(np.float32)
            return (env_action - self.bias) / self.scale, env_action
        obs = self._obs(torch.as_tensor(self.obs, dtype=torch.float32, device=self.device))
        action_t, _ = self.nets.sample(
            obs.view(self.num_members, self.envs_per_member, -1), self.gen
        )
        action = action_t.reshape(-1, *self.act_shape).cpu().numpy()
        return action, action * self.scale + self.bias

    def _observe(self, res: Any, action: np.ndarray) -> None:
        """Score, record and store one vector step's transitions."""
        reward, components = self.rewards.own(res.variables)
        self.recorder.update(reward, components, res.episodes)
        if self.config.share_buffer:
            table = self.rewards.all_members(res.variables, len(reward))
        else:
            table = reward
        if self.obs is None:
            raise TrainerError("the environment was not reset before a step")
        self.buffer.add(
            self.obs,
            res.final_obs,
            action,
            res.terminated,
            table,
            res.variables,
            done=res.episodes.done,
        )
        if self.obs_norm is not None:
            self.obs_norm.update(res.obs)
        self.obs = res.obs
        self.steps += self.envs_per_member

    def _update(self) -> None:
        cfg, nets = self.config, self.nets
        t, e = self.buffer.sample_index(cfg.batch_size, self._rng)
        b = self.buffer.gather(t, e)
        if self.relabeler is not None:
            self.relabeler.relabel(self.buffer, t, e, b, self._rng)
        obs, next_obs = self._obs(b["obs"]), self._obs(b["next_obs"])
        alpha = nets.log_alpha.exp().detach()  # (K, 1)
        with torch.no_grad():
            next_a, next_logp = nets.sample(next_obs, self.gen)
        if nets.target is None:  # CrossQ: one pass over both batches, no target network
            q, q_next_all = nets.q_joint(obs, b["actions"], next_obs, next_a)
            q_next = q_next_all.detach().min(0).values - alpha * next_logp
        else:
            with torch.no_grad():
                q_next = nets.q(nets.target, next_obs, next_a).min(0).values - alpha * next_logp
            q = nets.q(nets.critic, obs, b["actions"])
        target = self._batch_rewards(b) + cfg.gamma * (1 - b["terminated"]) * q_next
        loss = 0.5 * ((q - target.detach()) ** 2).mean(-1).sum()
        self._updates += 1
        if self._updates % cfg.policy_delay == 0:
            loss = loss + self._actor_loss(obs, alpha)
        penalty = self._penalty()
        if penalty is not None:
            loss = loss + penalty
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self._target_params:
            with torch.no_grad():
                torch._foreach_lerp_(self._target_params, self._critic_params, cfg.tau)

    def _actor_loss(self, obs: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """Actor and temperature losses; the critics are read, never moved (CrossQ's in eval
        mode: their running statistics)."""
        nets = self.nets
        action, logp = nets.sample(obs, self.gen)
        for p in self._critic_params:
            p.requires_grad = False
        crossq = nets.target is None
        if crossq:
            nets.critic.eval()
        q_pi = nets.q(nets.critic, obs, action).min(0).values
        if crossq:
            nets.critic.train()
        for p in self._critic_params:
            p.requires_grad = True
        actor_loss = (alpha * logp - q_pi).mean(-1).sum()
        alpha_loss = -(nets.log_alpha * (logp.detach() + self.target_entropy)).mean(-1).sum()
        return actor_loss + alpha_loss

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
            if net is not None:
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
        a = self.nets.mean_action(self._obs(t)).reshape(-1, *self.act_shape).cpu().numpy()
        return a * self.scale + self.bias

    @torch.no_grad()
    def act_sampled(self, obs: np.ndarray, gen: torch.Generator) -> np.ndarray:
        t = torch.as_tensor(obs, dtype=torch.float32, device=self.device).view(
            self.num_members, -1, self.obs_dim
        )
        a = self.nets.sample(self._obs(t), gen)[0].reshape(-1, *self.act_shape).cpu().numpy()
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
            "actor": self._actor_state(k),
            "low": self.low.tolist(),
            "high": self.high.tolist(),
            "reward": self.rewards.rewards[k].name,
            "seed": self.seeds[k],
            "steps": self.steps,
        }

    def _actor_state(self, k: int) -> dict[str, torch.Tensor]:
        """Member ``k``'s actor, reading raw observations (normalisation folded in)."""
        state = member_state(self.nets.actor, k)
        if self.obs_norm is None:
            return state
        return fold_normalization(state, self.obs_norm.mean, self.obs_norm.std)


class SACTrainer(Trainer):
    name = "sac"
    population_cls = SACPopulation


__all__ = ["SACConfig", "SACPopulation", "SACTrainer"]
