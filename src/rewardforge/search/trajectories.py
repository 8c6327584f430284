"""Trajectories for screening: the task's variables along episodes of trained policies.

They are collected from every member at each halving rung (when most policies still fail
and a few succeed, which is the contrast screening needs) and kept in one ``.npz`` file per
iteration in the run's folder, so a resumed run screens with exactly what it had."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from rewardforge.rewards.program import RewardProgram
from rewardforge.rewards.sandbox import RewardSandbox, SandboxedReward
from rewardforge.rl.evaluation import first_episodes
from rewardforge.search.screening import (
    ScreenVerdict,
    Trajectory,
    episode_returns,
    has_contrast,
    ranking_auc,
    screen,
)
from rewardforge.tasks.spec import Task
from rewardforge.tasks.vecenv import make_env

logger = logging.getLogger(__name__)

ActFn = Callable[[np.ndarray], np.ndarray]

#: Evaluation seed for trajectories, apart from fitness evaluation and training seeds.
TRAJECTORY_SEED = 2_000_003


def collect_trajectories(
    task: Task, act: ActFn, num_members: int, episodes: int = 2, seed: int = TRAJECTORY_SEED
) -> list[Trajectory]:
    """``episodes`` first episodes per member (row ``k*episodes + i`` plays member ``k``)."""
    total = num_members * episodes
    env = make_env(task, num_envs=total, seed=seed)
    steps: list[dict[str, np.ndarray]] = []
    alive_rows: list[np.ndarray] = []
    success = np.zeros(total, dtype=bool)
    for result, alive, new in first_episodes(env, act, task.max_episode_steps):
        alive_rows.append(alive)
        steps.append({k: np.asarray(v) for k, v in result.variables.items()})
        success[new] = result.episodes.success[new]
    names = [n for n in steps[0] if not n.startswith("_")] if steps else []
    alive = np.stack(alive_rows)  # (T, total)
    out = []
    for row in range(total):
        t = alive[:, row]
        variables = {n: np.stack([s[n][row] for s in steps])[t] for n in names}
        out.append(Trajectory(variables=variables, success=bool(success[row])))
    return out


def save_trajectories(path: Path, trajectories: Sequence[Trajectory]) -> None:
    arrays: dict[str, np.ndarray] = {
        "success": np.array([t.success for t in trajectories], dtype=bool)
    }
    for i, traj in enumerate(trajectories):
        for name, values in traj.variables.items():
            arrays[f"{i}/{name}"] = values
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]
    tmp.replace(path)  # a kill leaves the old file or the new one, never half of one


def load_trajectories(path: Path) -> list[Trajectory]:
    if not path.exists():
        return []
    with np.load(path) as data:
        success = data["success"]
        per: dict[int, dict[str, np.ndarray]] = {}
        for key in data.files:
            if "/" in key:
                i, name = key.split("/", 1)
                per.setdefault(int(i), {})[name] = data[key]
    return [Trajectory(variables=per[i], success=bool(success[i])) for i in sorted(per)]


def screen_programs(
    programs: Sequence[RewardProgram],
    paths: Sequence[Path],
    sandbox: RewardSandbox,
    min_auc: float,
    fraction: float,
) -> list[ScreenVerdict] | None:
    """A verdict per program from the trajectories stored at ``paths`` (``screen``), or None
    when they hold no contrast (no success beside a failure) to screen with."""
    trajectories = [t for path in paths for t in load_trajectories(path)]
    if not has_contrast(trajectories):
        return None
    success = np.array([t.success for t in trajectories], dtype=bool)
    aucs: list[float | None] = []
    for program in programs:
        reward = SandboxedReward(sandbox, program)
        try:
            returns = episode_returns(lambda batch: reward(batch).reward, trajectories)  # noqa: B023
            aucs.append(ranking_auc(returns, success))
        except Exception as exc:  # noqa: BLE001 - a reward that fails here trains and fails there
            logger.info("screening could not score %s: %s", reward.name, exc)
            aucs.append(None)
        finally:
            reward.close()
    return screen(aucs, min_auc, fraction)
