"""A suite expanded into cells: one per task and method, each checked before anything runs.

A search cell holds the ``SearchConfig`` its run will have: the method's options, then what
the bench sets alike for every method (the seed, the budget, the final evaluation over the
suite's seeds without baselines, which are cells of their own, and one training process per
search, so that a cell's result does not depend on how many cores the machine has). A baseline
cell trains the environment's or the sparse reward with the task's trainer over the same seeds
the searches' final evaluations use, judged as they judge (``final_evaluation``: checked every
eighth of the budget, a training that reaches the target stops there with that fitness; the
target is a search's default one: 0.9 for a success rate, the task's own for a score).

Each cell also says what it will train (``Segment``: so many members for so many steps), the
upper bound the time estimate is made from (a search that reaches its success target stops
earlier)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rewardforge.bench.suite import BenchSuite, Method
from rewardforge.errors import ConfigError, RewardforgeError
from rewardforge.search.config import SearchConfig
from rewardforge.search.halving import schedule
from rewardforge.search.options import build_config
from rewardforge.tasks.registry import get_task
from rewardforge.tasks.spec import Task

#: A search's default success target (``strategy.success_target``) and the checks of a final
#: evaluation (every eighth of the budget, ``SearchSteps.eval_every``), which baselines share.
DEFAULT_TARGET = 0.9
FINAL_CHECKS = 8
#: Search config sections a method may give whole (``strategy: {name: evolve, samples: 8}``).
SECTIONS = ("strategy", "designer", "model", "training", "teacher")


class BenchSettings(BaseModel):
    """What a bench run stores and ``resume`` rebuilds it from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    suite: BenchSuite
    seed: int = Field(0, ge=0, description="every search's seed; final seeds are seed+1000+j")
    base_dir: str | None = Field(None, description="where relative replay_from paths are read")
    executor: Literal["local", "ray"] = Field("local", description="where the cells run")
    workers: int | None = Field(None, gt=0, description="cells at once (default: the cores)")
    ray_address: str | None = Field(None, description="Ray cluster to join (auto, HOST:PORT)")

    def plan(self, workspace: Any = None) -> BenchPlan:
        base = Path(self.base_dir) if self.base_dir else None
        return build_plan(self.suite, seed=self.seed, base_dir=base, workspace=workspace)


@dataclass(frozen=True)
class Segment:
    """Part of a cell's training: ``members`` trained together for ``steps`` environment steps
    each (``shared``: ``steps`` in all, the members taking turns, as the population strategy
    does), then evaluated ``evaluations`` times."""

    members: int
    steps: int
    shared: bool = False
    evaluations: int = 1

    @property
    def env_steps(self) -> int:
        return self.steps if self.shared else self.members * self.steps


@dataclass(frozen=True)
class Cell:
    """One task and method: a search (``config``) or a baseline (``baseline``)."""

    task: str  # as the suite names it (an id or a task file)
    task_id: str
    method: str
    trainer: str
    num_envs: int
    num_steps: int
    seeds: tuple[int, ...]  # the final evaluation's (a baseline's training seeds)
    config: SearchConfig | None = None
    baseline: str | None = None
    target: float | None = None  # a baseline's training stops at it (final_evaluation)
    eval_every: int | None = None
    segments: tuple[Segment, ...] = field(default=())
    trainings: int = 0  # policies trained, every member of every segment counted once

    @property
    def key(self) -> str:
        return cell_key(self.task_id, self.method)

    @property
    def kind(self) -> str:
        return "baseline" if self.baseline else "search"

    @property
    def env_steps(self) -> int:
        return sum(s.env_steps for s in self.segments)

    @property
    def strategy(self) -> str:
        return self.config.strategy.name if self.config is not None else "-"


def cell_key(task_id: str, method: str) -> str:
    return f"{task_id}|{method}"


@dataclass(frozen=True)
class BenchPlan:
    suite: BenchSuite
    seed: int
    cells: tuple[Cell, ...]

    @property
    def tasks(self) -> list[str]:
        return list(dict.fromkeys(c.task_id for c in self.cells))

    @property
    def methods(self) -> list[Method]:
        return self.suite.methods_parsed()

    def cell(self, task_id: str, method: str) -> Cell:
        return next(c for c in self.cells if c.task_id == task_id and c.method == method)


def final_seeds(seed: int, count: int) -> tuple[int, ...]:
    """The seeds a search's final evaluation retrains with (``SearchSteps.final_evaluation``),
    which the baselines train with too."""
    return tuple(seed + 1000 + j for j in range(count))


def build_plan(
    suite: BenchSuite, *, seed: int = 0, base_dir: Path | None = None, workspace: Any = None
) -> BenchPlan:
    """Every cell of ``suite``, checked (tasks load, configs validate, trainers and designers
    can be made); an error names the task and method. ``base_dir``: where relative
    ``replay_from`` paths are read (a suite file's folder)."""
    methods = suite.methods_parsed()
    cells = []
    for name in suite.tasks:
        try:
            task = get_task(name)
        except RewardforgeError as exc:
            raise ConfigError(f"suite {suite.name}: {exc}") from None
        for method in methods:
            try:
                cells.append(_cell(suite, task, name, method, seed, base_dir, workspace))
            except RewardforgeError as exc:
                raise ConfigError(
                    f"suite {suite.name}, task {name}, method {method.name}: {exc}"
                ) from None
    return BenchPlan(suite, seed, tuple(cells))


def _cell(
    suite: BenchSuite,
    task: Task,
    name: str,
    method: Method,
    seed: int,
    base_dir: Path | None,
    workspace: Any,
) -> Cell:
    num_steps = suite.steps_for(task.budget.num_steps)
    seeds = final_seeds(seed, suite.seeds)
    if method.baseline is not None:
        trainer = task.budget.trainer
        _check_trainer(trainer, task, {})
        every = max(1, num_steps // FINAL_CHECKS)
        target = DEFAULT_TARGET if task.fitness.kind == "success_rate" else task.target
        final = Segment(
            len(seeds), num_steps, evaluations=FINAL_CHECKS if target is not None else 1
        )
        return Cell(
            name, task.id, method.name, trainer, task.budget.num_envs, num_steps, seeds,
            baseline=method.baseline, segments=(final,), trainings=len(seeds),
            target=target, eval_every=every if target is not None else None,
        )  # fmt: skip
    config = search_config(suite, method, name, seed, base_dir)
    trainer = config.training.trainer or task.budget.trainer
    hparams = {"num_envs": config.training.num_envs} if config.training.num_envs else {}
    _check_trainer(trainer, task, hparams)
    _check_designer(config, task, workspace)
    num_envs = config.training.num_envs or task.budget.num_envs
    segments, trainings = search_segments(config, num_steps)
    return Cell(
        name, task.id, method.name, trainer, num_envs, num_steps, seeds, config=config,
        segments=segments, trainings=trainings,
    )  # fmt: skip


def search_config(
    suite: BenchSuite, method: Method, task: str, seed: int, base_dir: Path | None = None
) -> SearchConfig:
    """The config of ``method``'s search on ``task``: its options, then the bench's settings."""
    options = method.options_for(Path(task).stem if "/" in task else task)
    base = {k: v for k, v in options.items() if k in SECTIONS and isinstance(v, Mapping)}
    dotted = [f"{k}={json.dumps(v)}" for k, v in options.items() if "." in k]
    flat = {k: v for k, v in options.items() if k not in base and "." not in k}
    bench: dict[str, Any] = {
        "seed": seed, "workers": 1, "executor": "local", "final_seeds": suite.seeds,
        "baselines": False, "fitness_policy": suite.fitness_policy,
    }  # fmt: skip
    if suite.budget != "task":
        bench["steps"] = int(suite.budget)
    config = build_config(task, base=base, values={**flat, **bench}, overrides=dotted)
    if not config.strategy.writes_code and "seeds" not in options:
        # a learned reward's run is its own final evaluation: over the suite's seeds
        config = build_config(base=config.to_dict(), values={"seeds": suite.seeds})
    source = config.designer.replay_from
    local = base_dir / source if source and base_dir is not None else None
    if local is not None and not Path(str(source)).is_absolute() and local.exists():
        config = build_config(base=config.to_dict(), values={"replay_from": str(local)})
    return config


def _check_trainer(name: str, task: Task, hparams: dict[str, Any]) -> None:
    from rewardforge.rl.registry import make_trainer

    make_trainer(name, task, **hparams)


def _check_designer(config: SearchConfig, task: Task, workspace: Any) -> None:
    """A replay source that is not there, or a model without its key, fails now."""
    if not config.strategy.writes_code or config.designer.name == "offline":
        return
    from rewardforge.runs.workspace import Workspace
    from rewardforge.search.designers import make_designer

    make_designer(config, task, workspace if workspace is not None else Workspace())


def search_segments(config: SearchConfig, num_steps: int) -> tuple[tuple[Segment, ...], int]:
    """What a search trains at most, and how many policies: every iteration's candidates
    through the halving rungs (the population strategy: its members sharing ``refresh_steps``
    per iteration), then the final evaluation."""
    strategy = config.strategy
    seeds = config.training.seeds
    every = config.training.eval_every
    every = max(1, num_steps // FINAL_CHECKS) if every is None else every

    def checks(steps: int) -> int:  # evaluations of a segment: its end, and every ``every``
        return max(1, math.ceil(steps / every)) if every else 1

    out: list[Segment] = []
    if strategy.name == "population":
        members = strategy.population_size + int(strategy.with_env_member)  # type: ignore[attr-defined]
        refresh = strategy.refresh_steps or num_steps  # type: ignore[attr-defined]
        out += [Segment(members, refresh, shared=True)] * strategy.num_iterations
        trainings = members
    elif not strategy.writes_code:  # the learned reward's policies are its final evaluation
        return (Segment(seeds, num_steps, evaluations=checks(num_steps)),), seeds
    else:
        k = strategy.num_samples
        rungs = getattr(strategy, "rungs", (1.0,)) if k > 1 else (1.0,)
        eta = float(getattr(strategy, "eta", 2.0))
        for _ in range(strategy.num_iterations):
            alive, done = k, 0
            for rung in schedule(num_steps, rungs):
                out.append(Segment(alive * seeds, rung.num_steps - done,
                                   evaluations=checks(rung.num_steps - done)))  # fmt: skip
                done, alive = rung.num_steps, max(1, math.ceil(alive / eta))
        trainings = strategy.num_iterations * k * seeds
    if config.evaluation.final_seeds:
        out.append(Segment(config.evaluation.final_seeds, num_steps, evaluations=checks(num_steps)))
    return tuple(out), trainings + config.evaluation.final_seeds


__all__ = ["BenchPlan", "BenchSettings", "Cell", "Segment", "build_plan", "cell_key", "final_seeds", "search_config",
           "search_segments"]  # fmt: skip
