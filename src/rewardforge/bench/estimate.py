"""How long a plan takes here: each task's trainer timed on this machine, then the cells'
trainings priced with those times and packed onto the workers.

``measure_speed`` times one trainer on one task for about a second each with one member and
with four (learning from the first step, so the gradient updates are in the figure) and times
the task's environment alone (evaluation episodes are mostly environment steps). The figures
are kept per host in the workspace (``bench_speeds.json``), so a second dry run measures
nothing. ``estimate`` prices every segment of every cell (a vector step of K members costs
``t1 + (t4 - t1) (K - 1) / 3``; each evaluation plays both policies' episodes) and packs the
cells onto ``workers`` longest first. It is an upper bound in one way (a search that reaches
its success target stops early) and a guess in others (load on the machine, how a reward
shapes episode lengths)."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rewardforge import __version__
from rewardforge.bench.plan import BenchPlan, Cell, Segment
from rewardforge.tasks.registry import get_task
from rewardforge.tasks.spec import Task

logger = logging.getLogger(__name__)

SPEED_FILE = "bench_speeds.json"
#: Seconds each timing runs for (one member, four members, the environment alone).
PROBE_S = 1.0
#: Per step of an evaluation episode, besides the environments: the policies' forward pass.
FORWARD_S = 50e-6


@dataclass(frozen=True)
class Speed:
    """Seconds per vector step of a population (one member, four members) and per
    environment step of the task alone."""

    step_s_1: float
    step_s_4: float
    env_step_s: float

    def vector_step_s(self, members: int) -> float:
        return self.step_s_1 + (self.step_s_4 - self.step_s_1) * (members - 1) / 3

    def evaluation_s(self, task: Task, members: int) -> float:
        """Both policies' episodes for ``members`` members (``Population.evaluate``)."""
        rows = members * task.fitness.num_episodes
        return 2 * task.max_episode_steps * (rows * self.env_step_s + FORWARD_S)


@dataclass(frozen=True)
class CellEstimate:
    cell: Cell
    seconds: float


@dataclass(frozen=True)
class Estimate:
    cells: tuple[CellEstimate, ...]
    workers: int
    seconds: float  # wall-clock with the cells packed onto the workers
    measured: tuple[str, ...]  # the speeds measured now (the others came from the file)

    @property
    def cpu_seconds(self) -> float:
        return sum(c.seconds for c in self.cells)

    def of(self, key: str) -> float:
        return next(c.seconds for c in self.cells if c.cell.key == key)


def speed_key(cell: Cell) -> str:
    return f"{cell.task}|{cell.trainer}|{cell.num_envs}"


def cell_seconds(cell: Cell, speed: Speed, task: Task) -> float:
    """The cell's trainings and evaluations at ``speed`` (vector steps of ``num_envs``)."""
    return sum(_segment_s(s, speed, task, cell.num_envs) for s in cell.segments)


def _segment_s(segment: Segment, speed: Speed, task: Task, num_envs: int) -> float:
    vector_steps = segment.steps / max(num_envs, 1)
    train = vector_steps * speed.vector_step_s(segment.members)
    return train + segment.evaluations * speed.evaluation_s(task, segment.members)


def pack(seconds: Sequence[float], workers: int) -> float:
    """The wall-clock of jobs of ``seconds`` on ``workers``, longest first to the least busy."""
    loads = [0.0] * max(1, workers)
    for s in sorted(seconds, reverse=True):
        loads[loads.index(min(loads))] += s
    return max(loads)


def estimate(
    plan: BenchPlan,
    workers: int,
    workspace_root: Path | None,
    *,
    measure: bool = True,
    on_measure: Callable[[str], None] | None = None,
) -> Estimate:
    """Price every cell of ``plan`` (measuring the speeds not yet known here when ``measure``;
    cells whose speed is unknown then cost nothing) and pack them onto ``workers``."""
    speeds = load_speeds(workspace_root)
    measured = []
    out = []
    for cell in plan.cells:
        key = speed_key(cell)
        if key not in speeds and measure:
            if on_measure is not None:
                on_measure(key)
            speeds[key] = measure_speed(cell.task, cell.trainer, cell.num_envs)
            measured.append(key)
            save_speeds(workspace_root, speeds)
        speed = speeds.get(key)
        seconds = cell_seconds(cell, speed, get_task(cell.task)) if speed else 0.0
        out.append(CellEstimate(cell, seconds))
    wall = pack([c.seconds for c in out], workers)
    return Estimate(tuple(out), workers, wall, tuple(measured))


# --- measuring ----------------------------------------------------------------------------------
def measure_speed(task_name: str, trainer_name: str, num_envs: int) -> Speed:
    """Time ``trainer_name`` on ``task_name`` here (see the module docstring)."""
    from rewardforge.rewards.base import get_baseline
    from rewardforge.rl.registry import make_trainer

    task = get_task(task_name)
    trainer = make_trainer(trainer_name, task, num_envs=num_envs)
    if hasattr(trainer.config, "learning_starts"):  # time the gradient updates too
        trainer = make_trainer(trainer_name, task, num_envs=num_envs, learning_starts=0)
    times = []
    for members in (1, 4):
        pop = trainer.start([get_baseline("env")] * members, list(range(members)))
        try:
            pop.train_more(num_envs)  # builds the environments, first updates
            start, steps = time.perf_counter(), pop.steps
            while time.perf_counter() - start < PROBE_S:
                pop.train_more(num_envs * 8)
            vector_steps = max(1, (pop.steps - steps) // num_envs)
            times.append((time.perf_counter() - start) / vector_steps)
        finally:
            pop.close()
    return Speed(times[0], times[1], _env_step_s(task))


def _env_step_s(task: Task, num_envs: int = 4) -> float:
    from rewardforge.tasks.vecenv import make_env

    rng = np.random.default_rng(0)
    with make_env(task, num_envs=num_envs, seed=0) as env:
        env.reset()
        env.step(env.sample_actions(rng))
        start, count = time.perf_counter(), 0
        while time.perf_counter() - start < PROBE_S / 2:
            env.step(env.sample_actions(rng))
            count += num_envs
    return (time.perf_counter() - start) / count


# --- the file -------------------------------------------------------------------------------------
def load_speeds(root: Path | None) -> dict[str, Speed]:
    """This host's measured speeds (for this version of rewardforge) from the workspace."""
    if root is None or not (root / SPEED_FILE).is_file():
        return {}
    try:
        data = json.loads((root / SPEED_FILE).read_text(encoding="utf-8"))
        mine = data.get(_host_key(), {})
        return {k: Speed(**v) for k, v in mine.items()}
    except (OSError, ValueError, TypeError) as exc:
        logger.warning("ignoring %s: %s", root / SPEED_FILE, exc)
        return {}


def save_speeds(root: Path | None, speeds: dict[str, Speed]) -> None:
    if root is None:
        return
    path = root / SPEED_FILE
    data: dict[str, Any] = {}
    try:
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
        data[_host_key()] = {k: asdict(v) for k, v in speeds.items()}
        root.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    except (OSError, ValueError) as exc:
        logger.warning("cannot keep the measured speeds in %s: %s", path, exc)


def _host_key() -> str:
    return f"{socket.gethostname()} rewardforge {__version__}"


__all__ = [
    "SPEED_FILE",
    "CellEstimate",
    "Estimate",
    "Speed",
    "cell_seconds",
    "estimate",
    "load_speeds",
    "measure_speed",
    "pack",
    "save_speeds",
    "speed_key",
]
