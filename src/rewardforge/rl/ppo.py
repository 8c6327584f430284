"""PPO for a population: K members as one batched actor-critic, one fused Adam for all.

Read it like CleanRL's ``ppo.py``: ``PPOConfig`` (one docstring line per field), the agent,
then the loop (``_rollout`` -> ``_advantages`` -> ``_update``). Every member has its own
``num_envs`` environments (rows ``k*n:(k+1)*n`` of one vector env) and its own reward; losses
are per-member means summed over members, so members never share gradients. Truncated episodes
are bootstrapped with the value of the final observation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from rewardforge.rl.base import Population, Trainer
from rewardforge.rl.nets import (
    BatchedMLP,
    RunningNorm,
    clip_grad_norm_per_member,
    fold_normalization,
    make_adam,
    member_state,
    select_members,
    select_optimizer_state,
)
from rewardforge.tasks.vecenv import make_env


@dataclass(frozen=True)
class PPOConfig:
    """PPO hyperparameters. Defaults are CleanRL's; tasks override them in ``trainers: ppo:``."""

    num_envs: int | None = None
    """environments per member (None: the task's ``budget.num_envs``)"""
    rollout_steps: int = 128
    """steps per environment between updates (a rollout holds ``rollout_steps * num_envs``)"""
    learning_rate: float = 2.5e-4
    """Adam step size"""
    anneal_lr: bool = True
    """decay the step size linearly to 10% over ``anneal_steps``"""
    anneal_steps: int | None = None
    """steps per member over which the step size decays (None: the planned steps)"""
    gamma: float = 0.99
    """discount factor"""
    gae_lambda: float = 0.95
    """GAE lambda"""
    num_minibatches: int = 4
    """minibatches per epoch"""
    update_epochs: int = 4
    """passes over each rollout"""
    norm_adv: bool = True
    """normalise advantages per minibatch"""
    clip_coef: float = 0.2
    """policy ratio clip"""
    clip_vloss: bool = True
    """clip the value loss as in the PPO paper"""
    ent_coef: float = 0.0
    """entropy bonus coefficient"""
    vf_coef: float = 0.5
    """value loss coefficient"""
    max_grad_norm: float = 0.5
    """gradient norm clip, per member"""
    target_kl: float | None = None
    """stop an update's epochs early once the approximate KL exceeds this (None: never)"""
    net_arch: tuple[int, ...] = (64, 64)
    """hidden sizes of the actor and of the critic"""
    activation: str = "tanh"
    """hidden activation: tanh or relu"""
    log_std_init: float = 0.0
    """initial log standard deviation of continuous actions"""
    normalize_obs: bool = False
    """normalise observations by their running mean and standard deviation (folded into the
    saved actor)"""
    normalize_reward: bool = False
    """divide each member's rewards by the running standard deviation of its discounted return
    (Gymnasium's NormalizeReward), clipped to [-10, 10]"""


class PPOAgent(nn.Module):
    """K actor-critics. Discrete: categorical logits; continuous: Gaussian with a learned log std."""

    def __init__(
        self, num_members: int, obs_dim: int, act_dim: int, discrete: bool, cfg: PPOConfig
    ):
        super().__init__()
        self.discrete = discrete
        self.actor = BatchedMLP(num_members, obs_dim, act_dim, cfg.net_arch, cfg.activation)
        self.critic = BatchedMLP(num_members, obs_dim, 1, cfg.net_arch, cfg.activation)
        self.log_std = nn.Parameter(torch.full((num_members, 1, act_dim), cfg.log_std_init))

    def init_members(self, seeds: list[int]) -> None:
        self.actor.init_members(seeds, "orthogonal", hidden_gain=2**0.5, out_gain=0.01)
        self.critic.init_members([s + 7919 for s in seeds], "orthogonal", hidden_gain=2**0.5)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)

    def dist(self, obs: torch.Tensor) -> torch.distributions.Distribution:
        out = self.actor(obs)
        if self.discrete:
            return torch.distributions.Categorical(logits=out)
        return torch.distributions.Normal(out, self.log_std.exp().expand_as(out))

    def log_prob_entropy(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, ...]:
        d = self.dist(obs)
        if self.discrete:
            return d.log_prob(action), d.entropy()
        return d.log_prob(action).sum(-1), d.entropy().sum(-1)

    def sample(self, obs: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.actor(obs)
        if self.discrete:
            probs = torch.softmax(out, -1)
            action = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=gen)
            action = action.view(out.shape[:-1])
            return action, torch.log(probs.gather(-1, action.unsqueeze(-1)).squeeze(-1) + 1e-12)
        std = self.log_std.exp()
        action = out + std * torch.randn(out.shape, generator=gen, device=out.device)
        logp = torch.distributions.Normal(out, std.expand_as(out)).log_prob(action).sum(-1)
        return action, logp

    def deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        out = self.actor(obs)
        return out.argmax(-1) if self.discrete else out


class PPOPopulation(Population):
    trainer_name = "ppo"
    #: PPO's papers and Eureka report the stochastic policy (the episodes it plays in training)
    default_eval_policy = "sampled"

    def __init__(self, task: Any, rewards: Any, seeds: Any, config: PPOConfig, **kwargs: Any):
        super().__init__(task, rewards, seeds, config, **kwargs)
        probe = make_env(task, num_envs=1)
        self.discrete = probe.discrete
        space, obs_space = probe.single_action_space, probe.single_observation_space
        probe.close()
        self.obs_dim = int(np.prod(obs_space.shape))
        self.act_dim = int(space.n) if self.discrete else int(np.prod(space.shape))
        self.act_shape = () if self.discrete else tuple(space.shape)
        if not self.discrete:
            self.low, self.high = space.low.astype(np.float32), space.high.astype(np.float32)
        self.agent = PPOAgent(self.num_members, self.obs_dim, self.act_dim, self.discrete, config)
        self.agent.init_members(self.seeds)
        self.agent.to(self.device)
        self.optimizer = make_adam(
            self.agent.parameters(), config.learning_rate, self.device, eps=1e-5
        )
        self.horizon = config.anneal_steps or self.planned_steps
        self.obs_norm = RunningNorm(self.obs_dim, self.device) if config.normalize_obs else None
        self.reward_scale = (
            ReturnScale(self.num_members, config.gamma) if config.normalize_reward else None
        )

    # --- loop -----------------------------------------------------------------------------
    def _train_until(self, target_steps: int) -> None:
        cfg = self.config
        while self.steps < target_steps:
            if cfg.anneal_lr:
                frac = max(1.0 - self.steps / self.horizon, 0.1)
                for group in self.optimizer.param_groups:
                    group["lr"] = frac * cfg.learning_rate
            batch = self._rollout()
            self._advantages(batch)
            self._update(batch)

    def _obs_tensor(self, obs: np.ndarray | None) -> torch.Tensor:
        t = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        if self.obs_norm is not None:
            t = self.obs_norm(t)
        return t.view(self.num_members, self.envs_per_member, self.obs_dim)

    def _env_action(self, action: torch.Tensor) -> np.ndarray:
        a = action.reshape(self.num_members * self.envs_per_member, *self.act_shape).cpu().numpy()
        return a if self.discrete else np.clip(a, self.low, self.high)

    @torch.no_grad()
    def _rollout(self) -> dict[str, torch.Tensor]:
        cfg, K, n = self.config, self.num_members, self.envs_per_member
        T, dev = cfg.rollout_steps, self.device
        obs_buf = torch.zeros(T, K, n, self.obs_dim, device=dev)
        act_buf = torch.zeros(
            T,
            K,
            n,
            *self.act_shape,
            device=dev,
            dtype=torch.long if self.discrete else torch.float32,
        )
        logp_buf, val_buf, rew_buf, done_buf = (torch.zeros(T, K, n, device=dev) for _ in range(4))
        for t in range(T):
            obs = self._obs_tensor(self.obs)
            action, logp = self.agent.sample(obs, self.gen)
            res = self.env.step(self._env_action(action))
            reward, components = self.rewards.own(res.variables)
            self.recorder.update(reward, components, res.episodes)
            if self.reward_scale is not None:
                reward = self.reward_scale(reward.reshape(K, n), res.episodes.done.reshape(K, n))
            reward_t = torch.as_tensor(reward, dtype=torch.float32, device=dev).view(K, n)
            if res.truncated.any():  # bootstrap: the episode did not really end
                trunc = torch.as_tensor(res.truncated & ~res.terminated, device=dev).view(K, n)
                final_v = self.agent.value(self._obs_tensor(res.final_obs))
                reward_t = reward_t + cfg.gamma * final_v * trunc
            obs_buf[t], act_buf[t], logp_buf[t] = obs, action, logp
            val_buf[t], rew_buf[t] = self.agent.value(obs), reward_t
            done_buf[t] = torch.as_tensor(res.terminated | res.truncated, device=dev).view(K, n)
            if self.obs_norm is not None:
                self.obs_norm.update(res.obs)
            self.obs = res.obs
        self.steps += T * n
        last_value = self.agent.value(self._obs_tensor(self.obs))
        return {
            "obs": obs_buf,
            "actions": act_buf,
            "logp": logp_buf,
            "values": val_buf,
            "rewards": rew_buf,
            "dones": done_buf,
            "last_value": last_value,
        }

    def _advantages(self, b: dict[str, torch.Tensor]) -> None:
        """GAE; ``dones[t]`` means the episode ended with step ``t`` (same-step autoreset)."""
        cfg = self.config
        adv = torch.zeros_like(b["rewards"])
        last = torch.zeros_like(b["last_value"])
        for t in reversed(range(cfg.rollout_steps)):
            next_value = b["last_value"] if t == cfg.rollout_steps - 1 else b["values"][t + 1]
            alive = 1.0 - b["dones"][t]
            delta = b["rewards"][t] + cfg.gamma * next_value * alive - b["values"][t]
            last = delta + cfg.gamma * cfg.gae_lambda * alive * last
            adv[t] = last
        b["advantages"], b["returns"] = adv, adv + b["values"]

    def _update(self, b: dict[str, torch.Tensor]) -> None:
        cfg, K = self.config, self.num_members
        size = cfg.rollout_steps * self.envs_per_member
        flat = {
            k: v.transpose(0, 1).reshape(K, size, *v.shape[3:])
            for k, v in b.items()
            if k != "last_value"
        }
        mb = max(size // cfg.num_minibatches, 1)
        rows = torch.arange(K, device=self.device)[:, None]
        params: list[torch.Tensor] = list(self.agent.parameters())
        for _ in range(cfg.update_epochs):
            perm = torch.rand(K, size, generator=self.gen, device=self.device).argsort(1)
            for start in range(0, size, mb):
                idx = perm[:, start : start + mb]
                kl = self._minibatch_step({k: v[rows, idx] for k, v in flat.items()}, params)
            if cfg.target_kl is not None and kl > cfg.target_kl:
                break

    def _minibatch_step(self, m: dict[str, torch.Tensor], params: list[torch.Tensor]) -> float:
        cfg = self.config
        logp, entropy = self.agent.log_prob_entropy(m["obs"], m["actions"])
        log_ratio = logp - m["logp"]
        ratio = log_ratio.exp()
        adv = m["advantages"]
        if cfg.norm_adv:
            adv = (adv - adv.mean(1, keepdim=True)) / (adv.std(1, keepdim=True) + 1e-8)
        pg_loss = torch.max(-adv * ratio, -adv * ratio.clamp(1 - cfg.clip_coef, 1 + cfg.clip_coef))
        value = self.agent.value(m["obs"])
        v_loss = (value - m["returns"]) ** 2
        if cfg.clip_vloss:
            clipped = m["values"] + (value - m["values"]).clamp(-cfg.clip_coef, cfg.clip_coef)
            v_loss = torch.max(v_loss, (clipped - m["returns"]) ** 2)
        loss_k = (
            pg_loss.mean(1) - cfg.ent_coef * entropy.mean(1) + cfg.vf_coef * 0.5 * v_loss.mean(1)
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss_k.sum().backward()
        clip_grad_norm_per_member(params, cfg.max_grad_norm)
        self.optimizer.step()
        with torch.no_grad():
            return float(((ratio - 1) - log_ratio).mean())

    # --- population -----------------------------------------------------------------------
    def _keep(self, index: torch.Tensor) -> None:
        select_members(self.agent, index)
        select_optimizer_state(self.optimizer, index)
        if self.reward_scale is not None:
            self.reward_scale.keep([int(i) for i in index.tolist()])

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        t = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        if self.obs_norm is not None:
            t = self.obs_norm(t)
        action = self.agent.deterministic(t.view(self.num_members, -1, self.obs_dim))
        a = action.reshape(-1, *self.act_shape).cpu().numpy()
        return a if self.discrete else np.clip(a, self.low, self.high)

    @torch.no_grad()
    def act_sampled(self, obs: np.ndarray, gen: torch.Generator) -> np.ndarray:
        t = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        if self.obs_norm is not None:
            t = self.obs_norm(t)
        action, _ = self.agent.sample(t.view(self.num_members, -1, self.obs_dim), gen)
        a = action.reshape(-1, *self.act_shape).cpu().numpy()
        return a if self.discrete else np.clip(a, self.low, self.high)

    def _policy_payload(self, k: int) -> dict[str, Any]:
        return {
            "algo": "ppo",
            "task": self.task.id,
            "kind": "categorical" if self.discrete else "gaussian",
            "obs_dim": self.obs_dim,
            "act_dim": self.act_dim,
            "act_shape": list(self.act_shape),
            "net_arch": list(self.config.net_arch),
            "activation": self.config.activation,
            "actor": self._actor_state(k),
            "low": None if self.discrete else self.low.tolist(),
            "high": None if self.discrete else self.high.tolist(),
            "reward": self.rewards.rewards[k].name,
            "seed": self.seeds[k],
            "steps": self.steps,
        }

    def _actor_state(self, k: int) -> dict[str, torch.Tensor]:
        state = member_state(self.agent.actor, k)
        if self.obs_norm is None:
            return state
        return fold_normalization(state, self.obs_norm.mean, self.obs_norm.std)


class ReturnScale:
    """Gymnasium's ``NormalizeReward`` for K members: each row keeps its discounted return, and
    a member's rewards are divided by the running standard deviation of its rows' returns."""

    def __init__(self, num_members: int, gamma: float, clip: float = 10.0, eps: float = 1e-8):
        self.gamma, self.clip, self.eps = gamma, clip, eps
        self.returns: np.ndarray | None = None
        self.stats = [RunningNorm(1, torch.device("cpu")) for _ in range(num_members)]

    def __call__(self, reward: np.ndarray, done: np.ndarray) -> np.ndarray:
        """``reward`` and ``done`` are ``(K, n)``; returns the scaled rewards, flat."""
        if self.returns is None or self.returns.shape != reward.shape:
            self.returns = np.zeros(reward.shape)
        self.returns = self.returns * self.gamma + reward
        out = np.empty_like(reward, dtype=np.float64)
        for k, stat in enumerate(self.stats):
            stat.update(self.returns[k][:, None])
            out[k] = np.clip(reward[k] / stat.std[0], -self.clip, self.clip)
        self.returns[done] = 0.0
        return out.reshape(-1)

    def keep(self, indices: list[int]) -> None:
        self.stats = [self.stats[i] for i in indices]
        self.returns = None


class PPOTrainer(Trainer):
    name = "ppo"
    population_cls = PPOPopulation
