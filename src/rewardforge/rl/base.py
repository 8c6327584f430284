"""The trainer interface: a ``Trainer`` starts a ``Population`` of K members (reward x seed);
the population trains for more steps, drops members, evaluates and saves.

Read in this order: ``Trainer`` (what the search calls), ``Population`` (the state that can be
continued: ``train_more``, ``keep``, ``evaluate``, ``results``, ``save``), then ``ppo.py``,
``sac.py`` and ``sb3.py`` for implementations. Successive halving looks like::

    pop = trainer.start(rewards, seeds)      # K members
    pop.train_more(10_000)                   # every member takes 10k more environment steps
    fit = pop.evaluate()                     # one EvalResult per member
    pop.keep([0, 3, 5])                      # continue the promising ones
    pop.train_more(20_000)
    results = pop.results()                  # TrainResult per member (fitness, reflection)
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rewardforge.errors import ConfigError, TrainerError, did_you_mean
from rewardforge.rewards.base import RewardFunction
from rewardforge.rl.evaluation import EVAL_SEED, check_eval_policy, evaluate_both, with_other
from rewardforge.rl.logger import MetricsLogger
from rewardforge.rl.reflection import ReflectionRecorder
from rewardforge.rl.rewards import MemberRewards
from rewardforge.rl.types import EvalResult, TrainResult
from rewardforge.tasks.spec import Task
from rewardforge.tasks.vecenv import make_env

logger = logging.getLogger(__name__)

#: Reflection snapshots taken per ``train_more`` call, evenly spaced.
REFLECTION_POINTS = 10


def build_config(config_cls: type, task: Task, trainer: str, overrides: dict[str, Any]) -> Any:
    """The trainer's defaults, updated by the task's ``trainers:`` section, then ``overrides``."""
    known = {f.name for f in fields(config_cls)}
    merged = {
        **task.hyperparameters(trainer),
        **{k: v for k, v in overrides.items() if v is not None},
    }
    for key in merged:
        if key not in known:
            raise ConfigError(
                f"{trainer} has no hyperparameter {key!r}.{did_you_mean(key, known)} "
                f"Known: {', '.join(sorted(known))} (check the task's 'trainers: {trainer}:' section)"
            )
    if "net_arch" in merged:
        merged["net_arch"] = tuple(merged["net_arch"])
    return config_cls(**merged)


def pair_members(
    rewards: Sequence[RewardFunction], seeds: Sequence[int]
) -> tuple[list[RewardFunction], list[int]]:
    """Members as (reward, seed) pairs: equal lengths pair up; one reward or one seed broadcasts."""
    rewards, seeds = list(rewards), [int(s) for s in seeds]
    if not rewards or not seeds:
        raise ConfigError("a population needs at least one reward and one seed")
    if len(rewards) == 1:
        rewards = rewards * len(seeds)
    elif len(seeds) == 1:
        seeds = seeds * len(rewards)
    if len(rewards) != len(seeds):
        raise ConfigError(
            f"got {len(rewards)} rewards and {len(seeds)} seeds; pass one seed per reward "
            "(repeat the reward object for several seeds of one candidate)"
        )
    return rewards, seeds


class Population(ABC):
    """K members trained together; all training state lives here so it can be continued."""

    trainer_name = "?"
    #: The policy fitness is measured with unless the trainer is told otherwise, as the
    #: algorithm's literature evaluates it (SAC: the mean action; PPO: sampled actions).
    default_eval_policy = "deterministic"

    def __init__(
        self,
        task: Task,
        rewards: Sequence[RewardFunction],
        seeds: Sequence[int],
        config: Any,
        *,
        device: str = "cpu",
        log_dir: str | Path | None = None,
        progress: bool = False,
        num_threads: int | None = 1,
        planned_steps: int | None = None,
        eval_policy: str | None = None,
    ) -> None:
        self.task = task
        #: ``deterministic`` or ``sampled``: which of the two evaluations is the fitness
        self.eval_policy = check_eval_policy(eval_policy or self.default_eval_policy)
        self.planned_steps = planned_steps or task.budget.num_steps  # schedules (PPO's annealing)
        self.config = config
        self.device = torch.device(device)
        rewards, seeds = pair_members(rewards, seeds)
        self.seeds = seeds
        self.num_threads = num_threads
        self.progress = progress
        self.envs_per_member = int(getattr(config, "num_envs", None) or task.budget.num_envs)
        self.rewards = MemberRewards(rewards, self.envs_per_member)
        self.recorder = ReflectionRecorder(len(seeds), self.envs_per_member)
        self.metrics = MetricsLogger(
            log_dir, {"trainer": self.trainer_name, "task": task.id, **asdict(config)}
        )
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.steps = 0  # environment steps taken by each member
        self.wall_time = 0.0
        self._epoch = 0
        self._rng = np.random.default_rng(np.random.SeedSequence(self.seeds))
        self.gen = torch.Generator(self.device).manual_seed(int(self._rng.integers(2**62)))
        self.env: Any = None
        self.obs: np.ndarray | None = None
        self._eval_env: Any = None  # kept between evaluations: building one can take seconds

    # --- members --------------------------------------------------------------------------
    @property
    def num_members(self) -> int:
        return len(self.seeds)

    @property
    def member_names(self) -> list[str]:
        return [f"{r.name}/seed{s}" for r, s in zip(self.rewards.rewards, self.seeds, strict=True)]

    @property
    def num_rows(self) -> int:
        """Environments in the vector env: ``K * n``, member ``k`` owning rows ``k*n:(k+1)*n``."""
        return self.num_members * self.envs_per_member

    def _open_env(self) -> None:
        """(Re)build the vector env of ``num_rows`` environments and reset it."""
        seed = int(np.random.SeedSequence([*self.seeds, self._epoch]).generate_state(1)[0])
        self.env = self._make_env(self.num_rows, seed)
        self.obs = self.env.reset()
        self._epoch += 1

    def _make_env(self, num_envs: int, seed: int) -> Any:
        """A new vector env in place of ``self.env`` (hook: trainers may keep a worker)."""
        if self.env is not None:
            self.env.close()
        return make_env(self.task, num_envs=num_envs, seed=seed)

    def keep(self, indices: Sequence[int]) -> None:
        """Continue only members ``indices`` (in that order); the others are dropped for good."""
        indices = [int(i) for i in indices]
        if not indices or any(i < 0 or i >= self.num_members for i in indices):
            raise ConfigError(
                f"keep() needs member indices in 0..{self.num_members - 1}, got {indices}"
            )
        self.seeds = [self.seeds[i] for i in indices]
        self.rewards.keep(indices)
        self.recorder.keep(indices)
        self._keep(torch.as_tensor(indices, dtype=torch.long, device=self.device))
        self._open_env()

    # --- training -------------------------------------------------------------------------
    def train_more(self, num_steps: int) -> None:
        """Train every member for ``num_steps`` more environment steps (its own envs' steps)."""
        if num_steps <= 0:
            raise ConfigError(f"num_steps must be positive, got {num_steps}")
        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        if self.env is None:
            self._open_env()
        bar = self._progress_bar(num_steps)
        start, target = time.perf_counter(), self.steps + num_steps
        points = [
            self.steps + round(num_steps * (i + 1) / REFLECTION_POINTS)
            for i in range(REFLECTION_POINTS)
        ]
        try:
            for point in points:
                before = self.steps
                if point > self.steps:
                    self._train_until(min(point, target))
                self.recorder.snapshot([self.steps] * self.num_members)
                self._log_snapshot()
                if bar is not None:
                    bar.update(self.steps - before)
        finally:
            if bar is not None:
                bar.close()
            self.wall_time += time.perf_counter() - start
            self.metrics.flush()

    def _progress_bar(self, total: int) -> Any:
        if not self.progress:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=f"{self.trainer_name} x{self.num_members}", unit="step")

    def _log_snapshot(self) -> None:
        if not self.metrics.enabled:
            return
        for k, snaps in enumerate(self.recorder.snapshots):
            s = snaps[-1]
            values = {
                "success_rate": s.success_rate,
                "episode_length": s.mean_length,
                "env_return": s.mean_env_return,
            }
            values.update({f"reward/{n}": c.mean for n, c in s.components.items()})
            self.metrics.log(self.steps, k, self.member_names[k], values)

    # --- results --------------------------------------------------------------------------
    def evaluate(
        self, num_episodes: int | None = None, seed: int | None = None, *, both: bool = True
    ) -> list[EvalResult]:
        """Fitness of every member over ``num_episodes`` episodes, played with deterministic
        and with sampled actions from the same starts (``evaluate_both``); the fitness is
        ``eval_policy``'s. With ``both`` off only ``eval_policy`` plays (a check whose results
        are not kept; ``evaluate_other`` completes them). The sampled actions come from a random
        stream of their own, so an evaluation leaves training as it was."""
        seed = EVAL_SEED if seed is None else seed
        results = evaluate_both(
            self.task, self.act, self.sampler(seed), self.num_members, policy=self.eval_policy,
            num_episodes=num_episodes, seed=seed, env=self._evaluation_env(num_episodes),
            both=both,
        )  # fmt: skip
        for k, r in enumerate(results):
            self.metrics.log(
                self.steps,
                k,
                self.member_names[k],
                {"eval/fitness": r.fitness, "eval/mean_return": r.mean_return},
            )
        return results

    def evaluate_other(
        self, results: list[EvalResult], num_episodes: int | None = None, seed: int | None = None
    ) -> list[EvalResult]:
        """``results`` of ``evaluate(both=False)`` with the other policy evaluated from the same
        starts, as ``evaluate()`` would have given them."""
        seed = EVAL_SEED if seed is None else seed
        return with_other(
            self.task, results, self.act, self.sampler(seed), self.num_members,
            num_episodes=num_episodes, seed=seed, env=self._evaluation_env(num_episodes),
        )  # fmt: skip

    def _evaluation_env(self, num_episodes: int | None) -> Any:
        """The evaluation environments, built once (building one can take seconds)."""
        size = self.num_members * (num_episodes or self.task.fitness.num_episodes)
        if self._eval_env is None or self._eval_env.num_envs != size:
            if self._eval_env is not None:
                self._eval_env.close()
            self._eval_env = make_env(self.task, num_envs=size)
        return self._eval_env

    def results(
        self,
        fitness: Sequence[EvalResult] | None = None,
        evaluate: bool = True,
        checkpoints: Sequence[str] | None = None,
    ) -> list[TrainResult]:
        """One ``TrainResult`` per member (evaluates unless ``fitness`` is given or ``evaluate`` is off)."""
        if fitness is None and evaluate:
            fitness = self.evaluate()
        return [
            TrainResult(
                reward_name=self.rewards.rewards[k].name,
                seed=self.seeds[k],
                trainer=self.trainer_name,
                num_steps=self.steps,
                wall_time=self.wall_time,
                fitness=fitness[k] if fitness is not None else None,
                reflection=tuple(self.recorder.snapshots[k]),
                checkpoint=checkpoints[k] if checkpoints else None,
                error=self.rewards.errors[k],
            )
            for k in range(self.num_members)
        ]

    def save(self, directory: str | Path, members: Sequence[int] | None = None) -> list[str]:
        """One checkpoint file per member (``member{k}_seed{s}.pt``), for ``members`` (default
        all, in order); load with ``rl.load_policy``."""
        from rewardforge.rl.checkpoint import save_policy

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for k in range(self.num_members) if members is None else members:
            path = directory / f"member{k}_seed{self.seeds[k]}.pt"
            save_policy(path, self._policy_payload(k))
            paths.append(str(path))
        return paths

    def close(self) -> None:
        if self.env is not None:
            self.env.close()
            self.env = None
        if self._eval_env is not None:
            self._eval_env.close()
            self._eval_env = None
        self.metrics.close()

    def __enter__(self) -> Population:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- implementations ------------------------------------------------------------------
    @abstractmethod
    def _train_until(self, target_steps: int) -> None:
        """Collect and learn until ``self.steps >= target_steps``."""

    @abstractmethod
    def _keep(self, index: torch.Tensor) -> None:
        """Slice every member-indexed tensor (weights, optimizer state) to ``index``."""

    @abstractmethod
    def act(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic actions for member-major ``obs`` (K*N rows)."""

    @abstractmethod
    def _policy_payload(self, k: int) -> dict[str, Any]:
        """What ``save_policy`` stores for member ``k``."""

    @abstractmethod
    def act_sampled(self, obs: np.ndarray, gen: torch.Generator) -> np.ndarray:
        """Actions drawn from the policies' distributions for member-major ``obs``, with
        ``gen``."""

    def sampler(self, seed: int) -> Callable[[np.ndarray], np.ndarray]:
        """``act_sampled`` with a random stream of its own for one evaluation (a function of
        the members' seeds and ``seed``)."""
        state = np.random.SeedSequence([*self.seeds, seed]).generate_state(2)
        gen = torch.Generator(self.device).manual_seed(int(state[0]) << 32 | int(state[1]))
        return lambda obs: self.act_sampled(obs, gen)


class Trainer:
    """Makes populations of one algorithm for one task, with fixed hyperparameters."""

    name = "?"
    population_cls: type[Population]
    #: The policy fitness is measured with (None: the population's ``default_eval_policy``).
    eval_policy: str | None = None

    def __init__(self, task: Task, config: Any, device: str = "cpu", num_threads: int | None = 1):
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise TrainerError(
                "--device cuda was asked for but torch sees no CUDA device; use --device cpu"
            )
        self.task, self.config, self.device, self.num_threads = task, config, device, num_threads

    def start(
        self,
        rewards: Sequence[RewardFunction],
        seeds: Sequence[int],
        *,
        log_dir: str | Path | None = None,
        progress: bool = False,
        planned_steps: int | None = None,
    ) -> Population:
        """K members (``pair_members``); ``planned_steps`` sets schedules (default: task budget)."""
        return self.population_cls(
            self.task,
            rewards,
            seeds,
            self.config,
            device=self.device,
            log_dir=log_dir,
            progress=progress,
            num_threads=self.num_threads,
            planned_steps=planned_steps,
            eval_policy=self.eval_policy,
        )

    def train(
        self,
        rewards: Sequence[RewardFunction],
        seeds: Sequence[int],
        num_steps: int | None = None,
        *,
        log_dir: str | Path | None = None,
        progress: bool = False,
        num_eval_episodes: int | None = None,
        checkpoint_dir: str | Path | None = None,
    ) -> list[TrainResult]:
        """Train K members for ``num_steps`` (default: the task's budget), evaluate, save."""
        num_steps = num_steps or self.task.budget.num_steps
        with self.start(
            rewards, seeds, log_dir=log_dir, progress=progress, planned_steps=num_steps
        ) as pop:
            pop.train_more(num_steps)
            fitness = pop.evaluate(num_episodes=num_eval_episodes)
            paths = pop.save(checkpoint_dir) if checkpoint_dir is not None else None
            return pop.results(fitness=fitness, checkpoints=paths)
