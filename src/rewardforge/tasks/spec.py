"""Task files: the pydantic schema at the boundary, and the frozen ``Task`` used everywhere else.

A task file is YAML::

    id: mountaincar
    description: Drive the car up the right hill ...
    env: {id: MountainCarContinuous-v0, kwargs: {}}
    max_episode_steps: 999
    variables:
      position: {shape: [], unit: m, description: ..., source: "obs[:, 0]"}
    success:
      code: |
        def is_success(position, goal_position):
            return position >= goal_position
      aggregate: any
    fitness: {kind: success_rate}
    budget: {trainer: sac, num_steps: 30000}
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rewardforge.errors import TaskFileError, did_you_mean

#: Variables every task has without declaring them, computed by the runtime.
IMPLICIT_VARIABLES: dict[str, dict[str, Any]] = {
    "episode_step": {
        "shape": [],
        "dtype": "int64",
        "unit": "steps",
        "description": "number of steps taken in the current episode, counting this one (1 on the first step)",
        "source": "episode_step",
    },
}

DTYPES = ("float32", "float64", "int32", "int64", "bool")
Aggregate = Literal["any", "final", "fraction"]
FitnessKind = Literal["success_rate", "score"]


#: Bounds on a task's sizes: values beyond them are typos or attacks, not plans (a task file
#: with ``num_envs: 1e8`` would hang building environments instead of saying so).
MAX_EPISODE_STEPS = 1_000_000
MAX_NUM_ENVS = 65_536
MAX_NUM_STEPS = 10_000_000_000
MAX_EVAL_EPISODES = 10_000
MAX_VARIABLE_SIZE = 1_000_000
MAX_TASK_FILE_BYTES = 1_000_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VariableModel(_Strict):
    shape: list[int] = Field(
        default_factory=list, description="per-environment shape; [] for a scalar"
    )
    dtype: str = "float64"
    unit: str = ""
    description: str = ""
    source: str = Field(
        description="numpy expression over obs, action, info, episode_step, full(v)"
    )

    @field_validator("shape")
    @classmethod
    def _positive(cls, shape: list[int]) -> list[int]:
        if any(d <= 0 for d in shape):
            raise ValueError(f"every dimension must be a positive integer, got {shape}")
        if math.prod(shape) > MAX_VARIABLE_SIZE:
            raise ValueError(
                f"a variable may hold at most {MAX_VARIABLE_SIZE:,} values per environment, "
                f"got shape {shape}"
            )
        return shape

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, dtype: str) -> str:
        if dtype not in DTYPES:
            raise ValueError(f"must be one of {', '.join(DTYPES)}, got {dtype!r}")
        return dtype

    @field_validator("source")
    @classmethod
    def _expression(cls, source: str) -> str:
        try:
            ast.parse(source, mode="eval")
        except SyntaxError as exc:
            raise ValueError(f"is not a valid Python expression ({exc.msg})") from None
        return source


class SuccessModel(_Strict):
    code: str = Field(description="def is_success(<variables>) -> bool array (B,)")
    aggregate: Aggregate = "any"
    window: float = Field(
        1.0, gt=0.0, le=1.0, description="final fraction of steps looked at (fraction)"
    )
    threshold: float = Field(
        1.0, gt=0.0, le=1.0, description="fraction of those steps that must succeed"
    )


class ScoreModel(_Strict):
    code: str = Field(description="def score(<variables>) -> float array (B,)")
    aggregate: Literal["sum", "final", "mean", "max"] = "sum"
    success_threshold: float | None = None


class FitnessModel(_Strict):
    kind: FitnessKind = "success_rate"
    score: ScoreModel | None = None
    num_episodes: int = Field(default=10, gt=0, le=MAX_EVAL_EPISODES)
    target: float | None = Field(
        default=None,
        description="fitness at which the task counts as solved (success tasks: default 0.9; "
        "score tasks: required for time-to-solve, e.g. a forward distance from the literature)",
    )

    @model_validator(mode="after")
    def _score_given(self) -> FitnessModel:
        if self.kind == "score" and self.score is None:
            raise ValueError("kind 'score' needs a 'score' section with code and aggregate")
        if self.kind == "success_rate" and self.target is not None and not 0 < self.target <= 1:
            raise ValueError(f"a success-rate target must be in (0, 1], got {self.target}")
        return self


class GoalModel(_Strict):
    """A goal-conditioned task: which variable is the goal, which one is compared with it, where
    the goal sits in the observation, and how goal-dependent variables are recomputed when a
    transition is relabelled with another goal (hindsight experience replay)."""

    variable: str = Field(description="the desired goal variable, e.g. goal")
    achieved: str = Field(description="the variable the goal is compared with, same shape")
    observation: str | list[int] = Field(
        description="the observation key holding the goal (dict observations) or [start, stop] "
        "of the flat observation"
    )
    achieved_observation: str | list[int] | None = Field(
        default=None,
        description="where the achieved value sits in the observation, like 'observation' "
        "(optional; Stable-Baselines3's HER buffer needs it)",
    )
    recompute: dict[str, str] = Field(
        default_factory=dict,
        description="variables that depend on the goal (and 'env_reward', the environment's "
        "reward) as numpy expressions over variables, e.g. "
        "env_success: 'np.linalg.norm(grip_pos - goal, axis=-1) < 0.05'",
    )

    @field_validator("recompute")
    @classmethod
    def _expressions(cls, recompute: dict[str, str]) -> dict[str, str]:
        for name, source in recompute.items():
            try:
                ast.parse(source, mode="eval")
            except SyntaxError as exc:
                raise ValueError(
                    f"{name}: {source!r} is not a valid Python expression ({exc.msg})"
                ) from None
        return recompute


class WrapperModel(_Strict):
    wrapper: str = Field(description="'pkg.mod:Wrapper', called as Wrapper(env, **kwargs)")
    kwargs: dict[str, Any] = Field(default_factory=dict)


class EnvModel(_Strict):
    id: str | None = None
    entry_point: str | None = None
    kwargs: dict[str, Any] = Field(default_factory=dict)
    vectorization: Literal["auto", "native", "sync"] = "auto"
    wrappers: list[str | WrapperModel] = Field(
        default_factory=list,
        description="per sub-env: 'pkg.mod:Wrapper' or {wrapper: 'pkg.mod:Wrapper', kwargs: {...}}",
    )

    @model_validator(mode="after")
    def _one_of(self) -> EnvModel:
        if (self.id is None) == (self.entry_point is None):
            raise ValueError(
                "give exactly one of 'id' (a Gymnasium id) or 'entry_point' ('pkg.mod:make_env')"
            )
        if self.entry_point is not None and ":" not in self.entry_point:
            raise ValueError(
                f"entry_point must look like 'package.module:make_env', got {self.entry_point!r}"
            )
        return self


class BudgetModel(_Strict):
    trainer: str = "ppo"
    num_steps: int = Field(default=50_000, gt=0, le=MAX_NUM_STEPS)
    num_envs: int = Field(default=8, gt=0, le=MAX_NUM_ENVS)


class TaskModel(_Strict):
    id: str
    description: str
    env: EnvModel
    max_episode_steps: int = Field(gt=0, le=MAX_EPISODE_STEPS)
    variables: dict[str, VariableModel] = Field(
        description="named variables, or 'auto' to find them in the environment (see discover.py)"
    )
    auto_variables: bool = Field(False, exclude=True, description="set by 'variables: auto'")
    success: SuccessModel
    fitness: FitnessModel = Field(default_factory=lambda: FitnessModel())
    budget: BudgetModel = Field(default_factory=lambda: BudgetModel())
    trainers: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-trainer hyperparameter defaults for this task"
    )
    goal: GoalModel | None = None
    tags: list[str] = Field(default_factory=list)

    @field_validator("variables")
    @classmethod
    def _names(cls, variables: dict[str, VariableModel]) -> dict[str, VariableModel]:
        for name in variables:
            if not name.isidentifier() or name.startswith("_"):
                raise ValueError(
                    f"variable name {name!r} must be a Python identifier not starting with '_'"
                )
            if name in IMPLICIT_VARIABLES:
                raise ValueError(
                    f"{name!r} is provided by rewardforge for every task; do not declare it"
                )
        return variables

    @model_validator(mode="before")
    @classmethod
    def _auto(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("variables") == "auto":
            data = {**data, "variables": {}, "auto_variables": True}
        return data

    @model_validator(mode="after")
    def _some_variables(self) -> TaskModel:
        if not self.variables and not self.auto_variables:
            raise ValueError("variables: a task needs at least one variable (or 'variables: auto')")
        return self


@dataclass(frozen=True)
class WrapperSpec:
    """A Gymnasium wrapper applied to each sub-environment: ``import(path)(env, **kwargs)``."""

    path: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Variable:
    name: str
    shape: tuple[int, ...]
    dtype: str
    unit: str
    description: str
    source: str

    @property
    def shape_text(self) -> str:
        return "(B" + "".join(f", {d}" for d in self.shape) + ")"


@dataclass(frozen=True)
class SuccessCriterion:
    code: str
    aggregate: Aggregate
    window: float = 1.0
    threshold: float = 1.0

    def describe(self) -> str:
        if self.aggregate == "any":
            return "success if is_success holds at any step of the episode"
        if self.aggregate == "final":
            return "success if is_success holds at the final step of the episode"
        return (
            f"success if is_success holds on at least {self.threshold:.0%} of the final "
            f"{self.window:.0%} of the episode's steps"
        )


@dataclass(frozen=True)
class Score:
    code: str
    aggregate: str
    success_threshold: float | None


@dataclass(frozen=True)
class GoalSpec:
    """See ``GoalModel``; ``recompute`` maps a variable name (or ``env_reward``) to its
    expression."""

    variable: str
    achieved: str
    observation: str | tuple[int, int]
    recompute: dict[str, str] = field(default_factory=dict)
    achieved_observation: str | tuple[int, int] | None = None


#: The key of ``GoalSpec.recompute`` that gives the environment's reward for a new goal.
GOAL_ENV_REWARD = "env_reward"
#: Success-rate target when a task gives none.
DEFAULT_SUCCESS_TARGET = 0.9


@dataclass(frozen=True)
class Task:
    """A task: environment factory, description, variables, success criterion and budgets."""

    id: str
    description: str
    env_id: str | None
    entry_point: str | None
    env_kwargs: dict[str, Any]
    vectorization: str
    wrappers: tuple[WrapperSpec, ...]
    max_episode_steps: int
    variables: tuple[Variable, ...]
    success: SuccessCriterion
    fitness_kind: str
    score: Score | None
    num_eval_episodes: int
    trainer: str
    num_steps: int
    num_envs: int
    trainer_defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    source_file: str | None = None
    goal: GoalSpec | None = None
    fitness_target: float | None = None

    @property
    def target(self) -> float | None:
        """Fitness at which the task counts as solved (None: a score task that sets none)."""
        if self.fitness_target is not None:
            return self.fitness_target
        return DEFAULT_SUCCESS_TARGET if self.fitness_kind == "success_rate" else None

    @property
    def variable_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables)

    def variable(self, name: str) -> Variable:
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(
            f"task {self.id!r} has no variable {name!r}.{did_you_mean(name, self.variable_names)}"
        )

    @property
    def env_name(self) -> str:
        return self.env_id or str(self.entry_point)

    def make_env(
        self, num_envs: int = 1, seed: int | None = None, render_mode: str | None = None
    ) -> Any:
        """A vector environment that also yields the task's variables at every step."""
        from rewardforge.tasks.vecenv import TaskVecEnv

        return TaskVecEnv(self, num_envs=num_envs, seed=seed, render_mode=render_mode)

    def hyperparameters(self, trainer: str) -> dict[str, Any]:
        """This task's documented defaults for ``trainer`` (empty when none are given)."""
        return dict(self.trainer_defaults.get(trainer, {}))

    def is_success_program(self) -> Any:
        from rewardforge.tasks.success import SuccessProgram

        return SuccessProgram.from_task(self)


def _format_validation(exc: ValidationError, origin: str) -> str:
    lines = [f"task file {origin} is invalid:"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key; remove it or check its spelling"
        elif err["type"] == "missing":
            msg = "required field is missing; add it"
        lines.append(f"  - {loc}: {msg}")
    return "\n".join(lines)


def _check_success_code(model: TaskModel, origin: str) -> None:
    """Success and score code may only name declared variables (or the implicit ones)."""
    known = set(model.variables) | set(IMPLICIT_VARIABLES)
    sections: list[tuple[str, str, str]] = [("success.code", model.success.code, "is_success")]
    if model.fitness.score is not None:
        sections.append(("fitness.score.code", model.fitness.score.code, "score"))
    for fieldname, code, func in sections:
        try:
            tree = ast.parse(code)
        except SyntaxError as exc:
            raise TaskFileError(
                f"task file {origin} is invalid:\n  - {fieldname}: syntax error on line {exc.lineno}: {exc.msg}"
            ) from None
        defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == func]
        if not defs:
            raise TaskFileError(
                f"task file {origin} is invalid:\n  - {fieldname}: must define a function named {func!r}"
            )
        for arg in defs[0].args.args:
            if arg.arg not in known:
                raise TaskFileError(
                    f"task file {origin} is invalid:\n  - {fieldname}: parameter {arg.arg!r} is not a "
                    f"declared variable.{did_you_mean(arg.arg, known)} Declared: {', '.join(sorted(known))}"
                )


def _wrapper_specs(model: TaskModel) -> tuple[WrapperSpec, ...]:
    return tuple(
        WrapperSpec(w) if isinstance(w, str) else WrapperSpec(w.wrapper, dict(w.kwargs))
        for w in model.env.wrappers
    )


def task_from_model(model: TaskModel, origin: str) -> Task:
    wrappers = _wrapper_specs(model)
    if model.auto_variables:
        from rewardforge.tasks.discover import discover_variables

        found, extra = discover_variables(model.env, origin)
        model = model.model_copy(update={"variables": {**found, **model.variables}})
        wrappers = wrappers + extra
    _check_success_code(model, origin)
    declared = {**{k: v.model_dump() for k, v in model.variables.items()}, **IMPLICIT_VARIABLES}
    variables = tuple(
        Variable(
            name=name,
            shape=tuple(spec["shape"]),
            dtype=spec["dtype"],
            unit=spec["unit"],
            description=spec["description"],
            source=spec["source"],
        )
        for name, spec in declared.items()
    )
    score = model.fitness.score
    return Task(
        id=model.id,
        description=model.description.strip(),
        env_id=model.env.id,
        entry_point=model.env.entry_point,
        env_kwargs=dict(model.env.kwargs),
        vectorization=model.env.vectorization,
        wrappers=wrappers,
        max_episode_steps=model.max_episode_steps,
        variables=variables,
        success=SuccessCriterion(
            code=model.success.code,
            aggregate=model.success.aggregate,
            window=model.success.window,
            threshold=model.success.threshold,
        ),
        fitness_kind=model.fitness.kind,
        score=Score(score.code, score.aggregate, score.success_threshold) if score else None,
        num_eval_episodes=model.fitness.num_episodes,
        trainer=model.budget.trainer,
        num_steps=model.budget.num_steps,
        num_envs=model.budget.num_envs,
        trainer_defaults={k: dict(v) for k, v in model.trainers.items()},
        tags=tuple(model.tags),
        source_file=origin,
        goal=_goal_spec(model, variables, origin),
        fitness_target=model.fitness.target,
    )


def _goal_spec(model: TaskModel, variables: tuple[Variable, ...], origin: str) -> GoalSpec | None:
    goal = model.goal
    if goal is None:
        return None
    by_name = {v.name: v for v in variables}
    for role, name in (("variable", goal.variable), ("achieved", goal.achieved)):
        if name not in by_name:
            raise TaskFileError(
                f"task file {origin}: goal.{role} names {name!r}, which is not a variable."
                f"{did_you_mean(name, by_name)}"
            )
    if by_name[goal.variable].shape != by_name[goal.achieved].shape:
        raise TaskFileError(
            f"task file {origin}: goal.variable {goal.variable!r} has shape "
            f"{list(by_name[goal.variable].shape)} but goal.achieved {goal.achieved!r} has "
            f"{list(by_name[goal.achieved].shape)}; they must match"
        )
    for name in goal.recompute:
        if name != GOAL_ENV_REWARD and name not in by_name:
            raise TaskFileError(
                f"task file {origin}: goal.recompute names {name!r}, which is neither a variable "
                f"nor {GOAL_ENV_REWARD!r}.{did_you_mean(name, by_name)}"
            )
    where = _observation_part(goal.observation, "goal.observation", origin)
    achieved = goal.achieved_observation
    return GoalSpec(
        goal.variable,
        goal.achieved,
        where,
        dict(goal.recompute),
        None
        if achieved is None
        else _observation_part(achieved, "goal.achieved_observation", origin),
    )


def _observation_part(part: str | list[int], name: str, origin: str) -> str | tuple[int, int]:
    if isinstance(part, str):
        return part
    if len(part) != 2 or not 0 <= part[0] < part[1]:
        raise TaskFileError(
            f"task file {origin}: {name} must be a key or [start, stop] with 0 <= start < stop, "
            f"got {part}"
        )
    return (part[0], part[1])


def load_task_file(path: str | Path) -> Task:
    """Load and validate a task file; errors name the file and the field."""
    path = Path(path)
    origin = str(path)
    try:
        if path.stat().st_size > MAX_TASK_FILE_BYTES:
            raise TaskFileError(
                f"task file {origin} is {path.stat().st_size:,} bytes; a task file may be at "
                f"most {MAX_TASK_FILE_BYTES:,} bytes. Is it the right file?"
            )
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TaskFileError(f"cannot read task file {origin}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise TaskFileError(
            f"task file {origin} is not a text file (it is not UTF-8); a task file is YAML: "
            "check that you passed the right path"
        ) from None
    return parse_task_text(text, origin)


def parse_task_text(text: str, origin: str = "<string>") -> Task:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise TaskFileError(f"task file {origin} is not valid YAML{where}: {exc}") from None
    if not isinstance(data, dict):
        raise TaskFileError(
            f"task file {origin} must be a YAML mapping with keys id, description, env, ..."
        )
    try:
        model = TaskModel.model_validate(data)
    except ValidationError as exc:
        raise TaskFileError(_format_validation(exc, origin)) from None
    return task_from_model(model, origin)


def dtype_of(variable: Variable) -> np.dtype[Any]:
    return np.dtype(variable.dtype)
