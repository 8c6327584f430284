"""The Stable-Baselines3 backend: any SB3 or sb3-contrib algorithm, the candidate reward applied
by a vectorized reward wrapper.

``sb3:PPO``, ``sb3:SAC``, ``sb3-contrib:TQC``... Members are trained one after the other, each
with its own SB3 model and environments. Hyperparameters: SB3's defaults, then the task's
``trainers: "sb3:ALGO":`` section, then keyword overrides (``policy_kwargs`` included).
Off-policy algorithms get one environment by default (SB3's own setting), on-policy ones the
task's ``num_envs``; pass ``num_envs`` to change that. This backend is the reference the
built-in trainers are measured against.

Two options are ours, not SB3's: ``normalize: true`` wraps the environments in SB3's
``VecNormalize`` (observations only), and ``her: true`` (or ``her: {n_sampled_goal: 4,
goal_selection_strategy: future}``) trains an off-policy algorithm with SB3's
``HerReplayBuffer`` on a task that declares a goal: the environment is then a goal environment
(``observation``, ``achieved_goal``, ``desired_goal``) whose ``compute_reward`` recomputes the
candidate reward on each stored transition's variables with the new goal (``rl/her.py``), as
the RL Zoo's FetchReach and FetchPush settings do for the environment's own reward.
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
from rewardforge.tasks.vecenv import make_env

ON_POLICY = {"PPO", "A2C", "RecurrentPPO", "TRPO", "MaskablePPO"}


@dataclass(frozen=True)
class SB3Config:
    """An SB3 algorithm by name, environments per member (None: see the module docstring) and
    keyword arguments for the algorithm's constructor."""

    algo: str
    num_envs: int | None = None
    hparams: dict[str, Any] = field(default_factory=dict)
    normalize: bool = False
    her: dict[str, Any] | None = None


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


def make_reward_vec_env(
    task: Task, reward: RewardFunction, num_envs: int, seed: int, goal: bool = False
) -> Any:
    """An SB3 ``VecEnv`` over a ``TaskVecEnv`` whose reward is ``reward`` (batched per step);
    with ``goal``, a goal environment for SB3's HER buffer (see the module docstring)."""

    class RewardVecEnv(_vec_env_base()):  # type: ignore[misc]
        def __init__(self) -> None:
            self.env = make_env(task, num_envs=num_envs, seed=seed)
            self.rewards = MemberRewards([reward], num_envs)
            self.recorder = ReflectionRecorder(1, num_envs)
            self.goals = GoalView(task, self.env, reward) if goal else None
            space = self.env.single_observation_space
            super().__init__(
                num_envs,
                self.goals.space if self.goals else space,
                self.env.single_action_space,
            )
            self._actions: np.ndarray | None = None

        def _obs(self, obs: np.ndarray) -> Any:
            return self.goals.split(obs) if self.goals else obs

        def reset(self) -> Any:
            return self._obs(self.env.reset())

        def step_async(self, actions: np.ndarray) -> None:
            self._actions = actions

        def step_wait(self) -> tuple[Any, ...]:
            if self._actions is None:
                raise TrainerError("step_wait() came before step_async(actions)")
            res = self.env.step(self._actions)
            rew, components = self.rewards.own(res.variables)
            self.recorder.update(rew, components, res.episodes)
            dones = res.terminated | res.truncated
            infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
            if self.goals is not None:  # what compute_reward needs to relabel the transition
                for i in range(self.num_envs):
                    infos[i]["variables"] = {k: v[i] for k, v in res.variables.items()}
            for i in map(int, np.flatnonzero(dones)):
                final = res.final_obs[i : i + 1]
                infos[i]["terminal_observation"] = (
                    {k: v[0] for k, v in self.goals.split(final).items()}
                    if self.goals
                    else res.final_obs[i]
                )
                infos[i]["TimeLimit.truncated"] = bool(res.truncated[i] and not res.terminated[i])
            return self._obs(res.obs), rew.astype(np.float32), dones, infos

        def compute_reward(self, achieved: Any, desired: Any, infos: Any) -> np.ndarray:
            if self.goals is None:
                raise TrainerError("compute_reward needs a goal environment (her: true)")
            return self.goals.compute_reward(desired, infos)

        def close(self) -> None:
            self.env.close()

        def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
            return [getattr(self, attr_name, None)] * len(self._indices(indices))

        def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
            return None

        def env_method(
            self, method_name: str, *args: Any, indices: Any = None, **kw: Any
        ) -> list[Any]:
            if method_name == "compute_reward" and self.goals is not None:
                return [self.compute_reward(*args, **kw)] * len(self._indices(indices))
            return [None] * len(self._indices(indices))

        def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
            return [False] * len(self._indices(indices))

        def _indices(self, indices: Any) -> list[int]:
            if indices is None:
                return list(range(self.num_envs))
            return [indices] if isinstance(indices, int) else list(indices)

    return RewardVecEnv()


class GoalView:
    """A task's flat observation seen as a goal environment's dict, and the candidate reward
    recomputed for other goals from the transitions' variables (kept in each step's info)."""

    def __init__(self, task: Task, env: Any, reward: RewardFunction) -> None:
        import gymnasium as gym

        from rewardforge.rl.her import GoalRelabeler
        from rewardforge.tasks.vecenv import observation_slice

        goal = task.goal
        if goal is None or goal.achieved_observation is None:
            raise ConfigError(
                f"her: task {task.id} must declare a goal with achieved_observation (where the "
                "achieved value sits in the observation) for SB3's HER buffer"
            )
        self.desired = observation_slice(env.observation_slices, goal.observation, task.id)
        self.achieved = observation_slice(
            env.observation_slices, goal.achieved_observation, task.id
        )
        space = env.single_observation_space
        dim = space.shape[0]
        self.rest = np.array([i for i in range(dim) if i not in range(dim)[self.desired]])
        box = lambda idx: gym.spaces.Box(space.low[idx], space.high[idx], dtype=space.dtype)  # noqa: E731
        self.space = gym.spaces.Dict(
            {
                "observation": box(self.rest),
                "achieved_goal": box(np.arange(dim)[self.achieved]),
                "desired_goal": box(np.arange(dim)[self.desired]),
            }
        )
        self.variable = goal.variable
        self.relabeler = GoalRelabeler(task, self.desired, 1.0, MemberRewards([reward], 1))

    def split(self, obs: np.ndarray) -> dict[str, np.ndarray]:
        return {
            "observation": obs[:, self.rest],
            "achieved_goal": obs[:, self.achieved],
            "desired_goal": obs[:, self.desired],
        }

    def compute_reward(self, desired: np.ndarray, infos: Any) -> np.ndarray:
        """The reward of each transition (its variables in ``infos``) for goal ``desired``."""
        names = infos[0]["variables"].keys()
        batch = {k: np.stack([info["variables"][k] for info in infos]) for k in names}
        batch[self.variable] = np.asarray(desired, dtype=batch[self.variable].dtype)
        relabelled = self.relabeler.recompute(batch)
        rewards = self.relabeler.rewards.own(relabelled, rows_per_member=len(infos))[0]
        return rewards.astype(np.float32)


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
                config, num_envs=task.budget.num_envs if self.algo.__name__ in ON_POLICY else 1
            )
        super().__init__(task, rewards, seeds, config, **kwargs)
        hparams = dict(config.hparams)
        policy = "MlpPolicy"
        if config.her is not None:
            from stable_baselines3 import HerReplayBuffer

            policy = "MultiInputPolicy"
            hparams["replay_buffer_class"] = HerReplayBuffer
            hparams["replay_buffer_kwargs"] = {**config.her, "copy_info_dict": True}
        self.venvs = [
            make_reward_vec_env(task, r, self.envs_per_member, s, goal=config.her is not None)
            for r, s in zip(self.rewards.rewards, self.seeds, strict=True)
        ]
        self.recorder = _Recorders(self.venvs)  # type: ignore[assignment]
        self.normalizers: list[Any] = [None] * len(self.venvs)
        if config.normalize:
            from stable_baselines3.common.vec_env import VecNormalize

            self.normalizers = [
                VecNormalize(v, norm_obs=True, norm_reward=False) for v in self.venvs
            ]
        try:
            self.models = [
                self.algo(policy, n or v, seed=s, device=str(self.device), verbose=0, **hparams)
                for v, n, s in zip(self.venvs, self.normalizers, self.seeds, strict=True)
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
        self.normalizers = [self.normalizers[i] for i in keep]
        self.env = self.venvs

    def act(self, obs: np.ndarray) -> np.ndarray:
        actions = []
        for model, venv, norm, chunk in zip(
            self.models, self.venvs, self.normalizers, np.split(obs, len(self.models)), strict=True
        ):
            seen = venv.goals.split(chunk) if venv.goals is not None else chunk
            if norm is not None:
                seen = norm.normalize_obs(seen)
            actions.append(np.asarray(model.predict(seen, deterministic=True)[0]))
        return np.concatenate(actions)

    def save(self, directory: str | Path, members: Sequence[int] | None = None) -> list[str]:
        """SB3's own zip per member (load with ``ALGO.load(path)``)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for k in range(len(self.models)) if members is None else members:
            model = self.models[k]
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
        normalize = bool(merged.pop("normalize", False))
        her = merged.pop("her", None)
        if her is True:
            her = {"n_sampled_goal": 4, "goal_selection_strategy": "future"}
        elif her is False:
            her = None
        elif her is not None and not isinstance(her, dict):
            raise ConfigError(f"her must be true, false or a mapping of HER options, got {her!r}")
        config = SB3Config(name, int(num_envs) if num_envs else None, merged, normalize, her)
        super().__init__(task, config, device, num_threads)
