"""The Stable-Baselines3 backend: any SB3 or sb3-contrib algorithm, the candidate reward applied
by a vectorized reward wrapper.

``sb3:PPO``, ``sb3:SAC``, ``sb3-contrib:TQC``... Members are trained one after the other, each
with its own SB3 model and environments. Hyperparameters: SB3's defaults, then the task's
``trainers: "sb3:ALGO":`` section, then keyword overrides (``policy_kwargs`` included).
Off-policy algorithms get one environment by default (SB3's own setting), on-policy ones the
task's ``num_envs``; pass ``num_envs`` to change that. This backend is the reference the
built-in trainers are measured against.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from rewardforge.errors import ConfigError, MissingExtraError, TrainerError
from rewardforge.rewards.base import RewardFunction
from rewardforge.rl.base import Population, Trainer
from rewardforge.rl.reflection import ReflectionRecorder
from rewardforge.rl.rewards import MemberRewards
from rewardforge.tasks.spec import Task

ON_POLICY = {"PPO", "A2C", "RecurrentPPO", "TRPO", "MaskablePPO"}


@dataclass(frozen=True)
class SB3Config:
    """An SB3 algorithm by name, environments per member (None: see the module docstring) and
    keyword arguments for the algorithm's constructor."""

    algo: str
    num_envs: int | None = None
    hparams: dict[str, Any] = field(default_factory=dict)


def load_algorithm(name: str) -> type:
    """``sb3:SAC`` -> ``stable_baselines3.SAC``; ``sb3-contrib:TQC`` -> ``sb3_contrib.TQC``."""
    prefix, _, algo = name.partition(":")
    module_name = {"sb3": "stable_baselines3", "sb3-contrib": "sb3_contrib"}[prefix]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        raise MissingExtraError(module_name, "sb3", f"trainer {name}") from None
    cls = getattr(module, algo, None)
    if not isinstance(cls, type):
        known = [n for n in dir(module) if n[:1].isupper() and isinstance(getattr(module, n), type)]
        from rewardforge.errors import did_you_mean

        raise ConfigError(f"{module_name} has no algorithm {algo!r}.{did_you_mean(algo, known)}")
    return cls


def _vec_env_base() -> type:
    from stable_baselines3.common.vec_env import VecEnv

    return VecEnv


def make_reward_vec_env(task: Task, reward: RewardFunction, num_envs: int, seed: int) -> Any:
    """An SB3 ``VecEnv`` over a ``TaskVecEnv`` whose reward is ``reward`` (batched per step)."""

    class RewardVecEnv(_vec_env_base()):  # type: ignore[misc]
        def __init__(self) -> None:
            self.env = task.make_env(num_envs=num_envs, seed=seed)
            self.rewards = MemberRewards([reward], num_envs)
            self.recorder = ReflectionRecorder(1, num_envs)
            super().__init__(
                num_envs, self.env.single_observation_space, self.env.single_action_space
            )
            self._actions: np.ndarray | None = None

        def reset(self) -> np.ndarray:
            return self.env.reset()

        def step_async(self, actions: np.ndarray) -> None:
            self._actions = actions

        def step_wait(self) -> tuple[Any, ...]:
            res = self.env.step(self._actions)
            rew, components = self.rewards.own(res.variables)
            self.recorder.update(rew, components, res.episodes)
            dones = res.terminated | res.truncated
            infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
            for i in np.flatnonzero(dones):
                infos[i] = {
                    "terminal_observation": res.final_obs[i],
                    "TimeLimit.truncated": bool(res.truncated[i] and not res.terminated[i]),
                }
            return res.obs, rew.astype(np.float32), dones, infos

        def close(self) -> None:
            self.env.close()

        def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
            return [getattr(self, attr_name, None)] * len(self._indices(indices))

        def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
            return None

        def env_method(
            self, method_name: str, *args: Any, indices: Any = None, **kw: Any
        ) -> list[Any]:
            return [None] * len(self._indices(indices))

        def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
            return [False] * len(self._indices(indices))

        def _indices(self, indices: Any) -> list[int]:
            if indices is None:
                return list(range(self.num_envs))
            return [indices] if isinstance(indices, int) else list(indices)

    return RewardVecEnv()


class _Recorders:
    """The per-member recorders of sequential SB3 runs, seen as one ``ReflectionRecorder``."""

    def __init__(self, venvs: list[Any]) -> None:
        self.venvs = venvs

    @property
    def snapshots(self) -> list[list[Any]]:
        return [v.recorder.snapshots[0] for v in self.venvs]

    def snapshot(self, steps: Sequence[int]) -> None:
        for v, s in zip(self.venvs, steps, strict=True):
            v.recorder.snapshot([s])

    def keep(self, indices: Sequence[int]) -> None:
        self.venvs = [self.venvs[i] for i in indices]


class SB3Population(Population):
    """K members, each an SB3 model trained in turn (same interface as the built-in trainers)."""

    def __init__(self, task: Task, rewards: Any, seeds: Any, config: SB3Config, **kwargs: Any):
        self.trainer_name = config.algo
        self.algo = load_algorithm(config.algo)
        if config.num_envs is None:
            config = replace(
                config, num_envs=task.num_envs if self.algo.__name__ in ON_POLICY else 1
            )
        super().__init__(task, rewards, seeds, config, **kwargs)
        hparams = dict(config.hparams)
        self.venvs = [
            make_reward_vec_env(task, r, self.envs_per_member, s)
            for r, s in zip(self.rewards.rewards, self.seeds, strict=True)
        ]
        self.recorder = _Recorders(self.venvs)  # type: ignore[assignment]
        try:
            self.models = [
                self.algo("MlpPolicy", v, seed=s, device=str(self.device), verbose=0, **hparams)
                for v, s in zip(self.venvs, self.seeds, strict=True)
            ]
        except TypeError as exc:
            raise ConfigError(
                f"{config.algo}: bad hyperparameter ({exc}); check the task's "
                f"'trainers: \"{config.algo}\":' section"
            ) from None
        self.env = self.venvs  # members own their environments

    def _open_env(self) -> None:
        return None

    def _train_until(self, target_steps: int) -> None:
        for model in self.models:
            remaining = target_steps - model.num_timesteps
            if remaining > 0:
                model.learn(remaining, reset_num_timesteps=False)
        self.steps = target_steps

    def _keep(self, index: Any) -> None:
        keep = [int(i) for i in index.tolist()]
        for i, v in enumerate(self.venvs):
            if i not in keep:
                v.close()
        self.models = [self.models[i] for i in keep]
        self.venvs = [self.venvs[i] for i in keep]
        self.env = self.venvs

    def act(self, obs: np.ndarray) -> np.ndarray:
        chunks = np.split(obs, len(self.models))
        return np.concatenate(
            [
                np.asarray(m.predict(c, deterministic=True)[0])
                for m, c in zip(self.models, chunks, strict=True)
            ]
        )

    def save(self, directory: str | Path) -> list[str]:
        """SB3's own zip per member (load with ``ALGO.load(path)``)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for k, model in enumerate(self.models):
            path = directory / f"member{k}_seed{self.seeds[k]}.zip"
            model.save(str(path))
            paths.append(str(path))
        return paths

    def _policy_payload(self, k: int) -> dict[str, Any]:
        raise TrainerError("SB3 members are saved with SB3's own format; use save()")

    def close(self) -> None:
        for v in self.venvs:
            v.close()
        self.venvs = []
        self.env = None
        super().close()


class SB3Trainer(Trainer):
    population_cls = SB3Population

    def __init__(
        self,
        name: str,
        task: Task,
        device: str = "cpu",
        num_threads: int | None = 1,
        **hparams: Any,
    ) -> None:
        load_algorithm(name)  # fail early on a bad name
        self.name = name
        merged = {
            **task.hyperparameters(name),
            **{k: v for k, v in hparams.items() if v is not None},
        }
        num_envs = merged.pop("num_envs", None)
        config = SB3Config(name, int(num_envs) if num_envs else None, merged)
        super().__init__(task, config, device, num_threads)
