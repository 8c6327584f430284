"""The task: one frozen pydantic model, the same as the task file's schema.

A task file is YAML (``tasks/files.py`` loads it, resolving ``variables: auto``)::

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

``Task`` validates exactly that; its ``variables`` are read from the file's mapping into a
tuple of ``Variable`` (each with its name, and the implicit ``episode_step`` last) and written
back as the mapping. This module imports nothing else of ``rewardforge.tasks``: environments
are made by ``tasks.vecenv.make_env(task, ...)``.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from rewardforge.errors import did_you_mean

#: Variables every task has without declaring them, computed by the runtime.
IMPLICIT_VARIABLES: dict[str, dict[str, Any]] = {
    "episode_step": {
        "shape": (),
        "dtype": "int64",
        "unit": "steps",
        "description": "number of steps taken in the current episode, counting this one (1 on the first step)",
        "source": "episode_step",
        "role": "other",
    },
}

DTYPES = ("float32", "float64", "int32", "int64", "bool")
Aggregate = Literal["any", "final", "fraction"]
FitnessKind = Literal["success_rate", "score"]
#: The key of ``Goal.recompute`` that gives the environment's reward for a new goal.
GOAL_ENV_REWARD = "env_reward"
#: Success-rate target when a task gives none.
DEFAULT_SUCCESS_TARGET = 0.9


#: Bounds on a task's sizes: values beyond them are typos or attacks, not plans (a task file
#: with ``num_envs: 1e8`` would hang building environments instead of saying so).
MAX_EPISODE_STEPS = 1_000_000
MAX_NUM_ENVS = 65_536
MAX_NUM_STEPS = 10_000_000_000
MAX_EVAL_EPISODES = 10_000
MAX_VARIABLE_SIZE = 1_000_000
MAX_TASK_FILE_BYTES = 1_000_000

#: What a variable is to the task: the offline designer builds staged rewards from these (reach
#: the object, carry it to the goal, ...). A variable without one gets an inferred role
#: (``tasks.roles.variable_roles``).
ROLES: dict[str, str] = {
    "effector": "position of what the agent moves directly (gripper, fingertip, tool, car)",
    "object": "position of a thing the effector must move (block, puck, handle, button)",
    "goal": "where the object, or in a task without one the effector, must go",
    "velocity": "rate of change of a position or an angle",
    "angle": "an angle (joint angle, body pitch, angle from upright)",
    "gripper": "how far the fingers are open (0 is closed), or a flag that they are closed",
    "held": "flag: the object is held",
    "success": "flag: the task is achieved at this step",
    "alive": "flag: the episode may go on (the body is healthy)",
    "action": "the action the agent took",
    "other": "anything else (used only by generic terms)",
}
#: Roles that are flags: their variables must have dtype bool.
FLAG_ROLES = ("held", "success", "alive")
#: Roles that are positions: their variables must be numbers.
POSITION_ROLES = ("effector", "object", "goal")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Variable(_Strict):
    """A named array reward code may read, computed for a batch of environments."""

    name: str = Field("", description="set from the key of the task file's mapping")
    shape: tuple[int, ...] = Field((), description="per-environment shape; [] for a scalar")
    dtype: str = "float64"
    unit: str = ""
    description: str = ""
    source: str = Field(
        description="numpy expression over obs, action, info, episode_step, full(v)"
    )
    role: str | None = Field(
        default=None,
        description=f"what the variable is to the task: {' | '.join(ROLES)} (inferred when absent)",
    )

    @property
    def shape_text(self) -> str:
        return "(B" + "".join(f", {d}" for d in self.shape) + ")"

    @field_validator("shape")
    @classmethod
    def _positive(cls, shape: tuple[int, ...]) -> tuple[int, ...]:
        if any(d <= 0 for d in shape):
            raise ValueError(f"every dimension must be a positive integer, got {list(shape)}")
        if math.prod(shape) > MAX_VARIABLE_SIZE:
            raise ValueError(
                f"a variable may hold at most {MAX_VARIABLE_SIZE:,} values per environment, "
                f"got shape {list(shape)}"
            )
        return shape

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, dtype: str) -> str:
        if dtype not in DTYPES:
            raise ValueError(f"must be one of {', '.join(DTYPES)}, got {dtype!r}")
        return dtype

    @field_validator("role")
    @classmethod
    def _role(cls, role: str | None) -> str | None:
        if role is not None and role not in ROLES:
            raise ValueError(
                f"unknown role {role!r}.{did_you_mean(role, ROLES)} Roles: {', '.join(ROLES)}"
            )
        return role

    @model_validator(mode="after")
    def _role_fits(self) -> Variable:
        if self.role in FLAG_ROLES and self.dtype != "bool":
            raise ValueError(
                f"role {self.role!r} is a flag: give the variable dtype bool (it has {self.dtype})"
            )
        if self.role in POSITION_ROLES and self.dtype == "bool":
            raise ValueError(f"role {self.role!r} is a position: a bool variable cannot have it")
        return self

    @field_validator("source")
    @classmethod
    def _expression(cls, source: str) -> str:
        try:
            ast.parse(source, mode="eval")
        except SyntaxError as exc:
            raise ValueError(f"is not a valid Python expression ({exc.msg})") from None
        return source


class SuccessCriterion(_Strict):
    code: str = Field(description="def is_success(<variables>) -> bool array (B,)")
    aggregate: Aggregate = "any"
    window: float = Field(
        1.0, gt=0.0, le=1.0, description="final fraction of steps looked at (fraction)"
    )
    threshold: float = Field(
        1.0, gt=0.0, le=1.0, description="fraction of those steps that must succeed"
    )

    def describe(self) -> str:
        if self.aggregate == "any":
            return "success if is_success holds at any step of the episode"
        if self.aggregate == "final":
            return "success if is_success holds at the final step of the episode"
        return (
            f"success if is_success holds on at least {self.threshold:.0%} of the final "
            f"{self.window:.0%} of the episode's steps"
        )


class Score(_Strict):
    code: str = Field(description="def score(<variables>) -> float array (B,)")
    aggregate: Literal["sum", "final", "mean", "max"] = "sum"
    success_threshold: float | None = None


class Fitness(_Strict):
    kind: FitnessKind = "success_rate"
    score: Score | None = None
    num_episodes: int = Field(default=10, gt=0, le=MAX_EVAL_EPISODES)
    target: float | None = Field(
        default=None,
        description="fitness at which the task counts as solved (success tasks: default 0.9; "
        "score tasks: required for time-to-solve, e.g. a forward distance from the literature)",
    )

    @model_validator(mode="after")
    def _score_given(self) -> Fitness:
        if self.kind == "score" and self.score is None:
            raise ValueError("kind 'score' needs a 'score' section with code and aggregate")
        if self.kind == "success_rate" and self.target is not None and not 0 < self.target <= 1:
            raise ValueError(f"a success-rate target must be in (0, 1], got {self.target}")
        return self


class Goal(_Strict):
    """A goal-conditioned task: which variable is the goal, which one is compared with it, where
    the goal sits in the observation, and how goal-dependent variables are recomputed when a
    transition is relabelled with another goal (hindsight experience replay)."""

    variable: str = Field(description="the desired goal variable, e.g. goal")
    achieved: str = Field(description="the variable the goal is compared with, same shape")
    observation: str | tuple[int, int] = Field(
        description="the observation key holding the goal (dict observations) or [start, stop] "
        "of the flat observation"
    )
    achieved_observation: str | tuple[int, int] | None = Field(
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

    @field_validator("observation", "achieved_observation", mode="before")
    @classmethod
    def _bounds(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, (list, tuple)) and (
            len(value) != 2 or not 0 <= int(value[0]) < int(value[1])
        ):
            raise ValueError(
                f"goal.{info.field_name} must be a key or [start, stop] with 0 <= start < stop, "
                f"got {list(value)}"
            )
        return value

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


class Wrapper(_Strict):
    """A Gymnasium wrapper applied to each sub-environment: ``import(wrapper)(env, **kwargs)``."""

    wrapper: str = Field(description="'pkg.mod:Wrapper', called as Wrapper(env, **kwargs)")
    kwargs: dict[str, Any] = Field(default_factory=dict)


class EnvSpec(_Strict):
    """How to build the environment: a Gymnasium ``id`` or a factory ``entry_point``."""

    id: str | None = None
    entry_point: str | None = None
    kwargs: dict[str, Any] = Field(default_factory=dict)
    vectorization: Literal["auto", "native", "sync"] = "auto"
    wrappers: tuple[Wrapper, ...] = Field(
        default=(),
        description="per sub-env: 'pkg.mod:Wrapper' or {wrapper: 'pkg.mod:Wrapper', kwargs: {...}}",
    )

    @property
    def name(self) -> str:
        return self.id or str(self.entry_point)

    @field_validator("wrappers", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [{"wrapper": w} if isinstance(w, str) else w for w in value]
        return value

    @model_validator(mode="after")
    def _one_of(self) -> EnvSpec:
        if (self.id is None) == (self.entry_point is None):
            raise ValueError(
                "give exactly one of 'id' (a Gymnasium id) or 'entry_point' ('pkg.mod:make_env')"
            )
        if self.entry_point is not None and ":" not in self.entry_point:
            raise ValueError(
                f"entry_point must look like 'package.module:make_env', got {self.entry_point!r}"
            )
        return self


class Budget(_Strict):
    trainer: str = "ppo"
    num_steps: int = Field(default=50_000, gt=0, le=MAX_NUM_STEPS)
    num_envs: int = Field(default=8, gt=0, le=MAX_NUM_ENVS)


class Task(_Strict):
    """A task: environment, description, variables, success criterion, fitness and budgets."""

    id: str
    description: str
    env: EnvSpec
    max_episode_steps: int = Field(gt=0, le=MAX_EPISODE_STEPS)
    variables: tuple[Variable, ...] = Field(
        description="named variables (a mapping in the file); the implicit ones come last"
    )
    success: SuccessCriterion
    fitness: Fitness = Field(default_factory=Fitness)
    budget: Budget = Field(default_factory=Budget)
    trainers: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-trainer hyperparameter defaults for this task"
    )
    goal: Goal | None = None
    tags: tuple[str, ...] = ()
    source_file: str | None = Field(None, exclude=True, description="the file it was read from")

    # --- reading -------------------------------------------------------------------------
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
    def target(self) -> float | None:
        """Fitness at which the task counts as solved (None: a score task that sets none)."""
        if self.fitness.target is not None:
            return self.fitness.target
        return DEFAULT_SUCCESS_TARGET if self.fitness.kind == "success_rate" else None

    def hyperparameters(self, trainer: str) -> dict[str, Any]:
        """This task's documented defaults for ``trainer`` (empty when none are given)."""
        return dict(self.trainers.get(trainer, {}))

    # --- the file's shape ----------------------------------------------------------------
    @field_validator("description")
    @classmethod
    def _strip(cls, text: str) -> str:
        return text.strip()

    @field_validator("variables", mode="before")
    @classmethod
    def _named(cls, value: Any) -> Any:
        """The file's mapping ``{name: spec}`` -> Variables with names, implicit ones last."""
        if isinstance(value, str):
            raise ValueError(
                f"{value!r} is resolved when a task file is loaded (load_task_file); give "
                "the variables as a mapping of name to spec"
            )
        if isinstance(value, Mapping):
            for name in value:
                if not str(name).isidentifier() or str(name).startswith("_"):
                    raise ValueError(
                        f"variable name {name!r} must be a Python identifier not starting with '_'"
                    )
                if name in IMPLICIT_VARIABLES:
                    raise ValueError(
                        f"{name!r} is provided by rewardforge for every task; do not declare it"
                    )
            value = [_with_name(name, spec) for name, spec in value.items()]
        if isinstance(value, (list, tuple)):
            items = list(value)
            named = {_name_of(v) for v in items}
            if not named - set(IMPLICIT_VARIABLES):
                raise ValueError("a task needs at least one variable (or 'variables: auto')")
            items += [
                {"name": name, **spec}
                for name, spec in IMPLICIT_VARIABLES.items()
                if name not in named
            ]
            return items
        return value

    @field_serializer("variables")
    def _as_mapping(self, variables: tuple[Variable, ...]) -> dict[str, Any]:
        return {
            v.name: v.model_dump(exclude={"name"})
            for v in variables
            if v.name not in IMPLICIT_VARIABLES
        }

    @model_validator(mode="after")
    def _references(self) -> Task:
        """Success and score code, and the goal, may only name declared variables."""
        known = set(self.variable_names)
        sections = [("success.code", self.success.code, "is_success")]
        if self.fitness.score is not None:
            sections.append(("fitness.score.code", self.fitness.score.code, "score"))
        for where, code, func in sections:
            _check_function(where, code, func, known)
        if self.goal is not None:
            _check_goal(self.goal, {v.name: v for v in self.variables})
        return self


def _name_of(v: Any) -> str:
    return str(v.name if isinstance(v, Variable) else dict(v).get("name", ""))


def _with_name(name: str, spec: Any) -> Any:
    if isinstance(spec, Variable):
        return spec.model_copy(update={"name": name})
    return {**dict(spec), "name": name} if isinstance(spec, Mapping) else spec


def _check_function(where: str, code: str, func: str, known: set[str]) -> None:
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise ValueError(f"{where}: syntax error on line {exc.lineno}: {exc.msg}") from None
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == func]
    if not defs:
        raise ValueError(f"{where}: must define a function named {func!r}")
    for arg in defs[0].args.args:
        if arg.arg not in known:
            raise ValueError(
                f"{where}: parameter {arg.arg!r} is not a declared variable."
                f"{did_you_mean(arg.arg, known)} Declared: {', '.join(sorted(known))}"
            )


def _check_goal(goal: Goal, by_name: dict[str, Variable]) -> None:
    for role, name in (("variable", goal.variable), ("achieved", goal.achieved)):
        if name not in by_name:
            raise ValueError(
                f"goal.{role} names {name!r}, which is not a variable.{did_you_mean(name, by_name)}"
            )
    for field, name, allowed in (
        ("variable", goal.variable, ("goal",)),
        ("achieved", goal.achieved, ("effector", "object")),
    ):
        declared = by_name[name].role
        if declared is not None and declared not in allowed:
            raise ValueError(
                f"goal.{field} names {name!r}, whose role is {declared!r}; it must be "
                f"{' or '.join(map(repr, allowed))} (or give no role)"
            )
    if by_name[goal.variable].shape != by_name[goal.achieved].shape:
        raise ValueError(
            f"goal.variable {goal.variable!r} has shape {list(by_name[goal.variable].shape)} but "
            f"goal.achieved {goal.achieved!r} has {list(by_name[goal.achieved].shape)}; they "
            "must match"
        )
    for name in goal.recompute:
        if name != GOAL_ENV_REWARD and name not in by_name:
            raise ValueError(
                f"goal.recompute names {name!r}, which is neither a variable nor "
                f"{GOAL_ENV_REWARD!r}.{did_you_mean(name, by_name)}"
            )


__all__ = [
    "DEFAULT_SUCCESS_TARGET",
    "FLAG_ROLES",
    "GOAL_ENV_REWARD",
    "IMPLICIT_VARIABLES",
    "POSITION_ROLES",
    "ROLES",
    "Budget",
    "EnvSpec",
    "Fitness",
    "Goal",
    "Score",
    "SuccessCriterion",
    "Task",
    "Variable",
    "Wrapper",
]
