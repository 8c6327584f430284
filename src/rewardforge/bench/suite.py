"""``BenchSuite``: which tasks, which methods, how many seeds, what budget.

A suite is a YAML file or one of the built-in suites (``bench/suites/*.yaml``)::

    name: core
    tasks: [pendulum, mountaincar, point-reach]
    seeds: 3                      # final-evaluation seeds per method
    methods:
      env: {baseline: env}        # the environment's own (human-written) reward
      sparse: {baseline: sparse}
      offline-evolve: {strategy: evolve, designer: offline, samples: 8, iterations: 3}
      answers: {designer: replay, replay_from: "answers/{task}/"}
    budget: task                  # each task's own budget, or a number of steps

A method is a baseline (``{baseline: env}`` or ``{baseline: sparse}``) or a search: anything
``rewardforge search`` accepts, as flag names (``samples: 8``), whole sections (``strategy:
{name: evolve, samples: 8}``) or dotted keys (``strategy.rungs: off``). ``{task}`` in a value is
the task's id. The bench sets what makes methods comparable, so a method may not: the seed, the
budget (``steps``), the final evaluation (``final_seeds``, ``baselines``) and the executor.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
)

from rewardforge.errors import ConfigError, did_you_mean

#: Baselines a method may name, and what each trains on.
BASELINES = {"env": "the environment's own reward", "sparse": "1 on success, else 0"}
#: Settings a method may not make (by key, or a section's field): the bench sets them alike for
#: every method, and says where.
BENCH_SETTINGS = {
    "seed": "the bench's --seed",
    "task": "the suite's tasks",
    "steps": "the suite's budget",
    "final_seeds": "the suite's seeds",
    "baselines": "the suite's baseline methods",
    "fitness_policy": "the suite's fitness_policy",
    "evaluation": "the suite (seeds, fitness_policy)",
    "executor": "the bench's --executor",
    "workers": "the bench (each search trains in one process)",
    "ray_address": "the bench's --ray-address",
    "gpus_per_task": "the bench",
}
#: Characters a method name may hold (it names folders and table columns).
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


class BenchSuite(BaseModel):
    """A suite as its file says it (methods still unparsed: see ``methods()``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="the suite's name (the bench run's id starts with it)")
    description: str = Field("", description="what the suite measures")
    tasks: tuple[str, ...] = Field(description="task ids or task files")
    seeds: int = Field(3, gt=0, le=100, description="final-evaluation seeds per method")
    methods: dict[str, dict[str, Any]] = Field(description="name -> method")
    budget: Literal["task"] | int = Field(
        "task", description="each task's own budget (task), or steps per training"
    )
    fitness_policy: Literal["auto", "deterministic", "sampled"] = Field(
        "auto", description="which evaluation is the fitness (auto: each trainer's default)"
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError(f"a suite name is letters, digits and _.+- only, got {value!r}")
        return value

    @field_validator("tasks")
    @classmethod
    def _tasks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("a suite needs at least one task (`rewardforge tasks` lists them)")
        seen = [t for i, t in enumerate(value) if t in value[:i]]
        if seen:
            raise ValueError(f"task {seen[0]!r} is listed twice")
        return value

    @field_validator("budget", mode="before")
    @classmethod
    def _budget(cls, value: Any) -> Any:
        if isinstance(value, bool) or (isinstance(value, (int, float)) and not value > 0):
            raise ValueError(f"the budget is `task` or a positive number of steps, got {value!r}")
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value

    @field_validator("methods", mode="before")
    @classmethod
    def _methods(cls, value: Any) -> Any:
        if isinstance(value, list):  # as stored: [{name: env, baseline: env}, ...], in order
            value = {
                item.get("name"): {k: v for k, v in item.items() if k != "name"}
                for item in value
                if isinstance(item, Mapping)
            }
        if not isinstance(value, Mapping):
            return value
        if not value:
            raise ValueError("a suite needs at least one method, e.g. env: {baseline: env}")
        out = {}
        for name, spec in value.items():
            if not isinstance(name, str) or not NAME.match(name):
                raise ValueError(f"method name {name!r}: letters, digits and _.+- only")
            if spec is None:
                spec = {}
            if not isinstance(spec, Mapping):
                raise ValueError(
                    f"method {name!r} must be a mapping ({{baseline: env}} or search "
                    f"options such as {{strategy: evolve, samples: 8}}), got {spec!r}"
                )
            out[name] = dict(spec)
        return out

    @field_serializer("methods")
    def _store_methods(self, methods: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """A list, so that the order of the columns survives a store that sorts keys."""
        return [{"name": name, **spec} for name, spec in methods.items()]

    def methods_parsed(self) -> list[Method]:
        """Every method, checked: baselines named right, no setting the bench makes."""
        return [parse_method(name, spec) for name, spec in self.methods.items()]

    def steps_for(self, task_budget: int) -> int:
        return task_budget if self.budget == "task" else int(self.budget)

    def subset(self, tasks: list[str] | None, methods: list[str] | None) -> BenchSuite:
        """The suite restricted to ``tasks`` and ``methods`` (each must be in it)."""
        data = {**self.model_dump(), "methods": dict(self.methods)}
        for key, wanted in (("tasks", tasks), ("methods", methods)):
            if not wanted:
                continue
            have = list(data[key])
            for name in wanted:
                if name not in have:
                    raise ConfigError(
                        f"suite {self.name} has no {key[:-1]} {name!r}.{did_you_mean(name, have)}"
                        f" Its {key}: {', '.join(have)}"
                    )
            data[key] = (
                [t for t in have if t in wanted]
                if key == "tasks"
                else {m: data[key][m] for m in have if m in wanted}
            )
        return BenchSuite.model_validate(data)


@dataclass(frozen=True)
class Method:
    """One column of the table: a baseline, or search options (``options``, as in a suite)."""

    name: str
    baseline: str | None = None
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def is_baseline(self) -> bool:
        return self.baseline is not None

    def options_for(self, task: str) -> dict[str, Any]:
        """The search options with ``{task}`` replaced by ``task`` in every text value."""
        return {key: _fill(value, task) for key, value in self.options}


def _fill(value: Any, task: str) -> Any:
    if isinstance(value, str):
        return value.replace("{task}", task)
    if isinstance(value, Mapping):
        return {k: _fill(v, task) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, task) for v in value]
    return value


def _bench_setting(key: str, value: Any) -> str | None:
    """The key (``section.field``) of a setting the bench makes, if ``key: value`` has one."""
    parts = key.split(".")
    if parts[0] in BENCH_SETTINGS or parts[-1] in BENCH_SETTINGS:
        return key
    if isinstance(value, Mapping):
        for sub in value:
            if str(sub) in BENCH_SETTINGS:
                return f"{key}.{sub}"
    return None


def parse_method(name: str, spec: Mapping[str, Any]) -> Method:
    if "baseline" in spec:
        baseline = spec["baseline"]
        if baseline not in BASELINES:
            raise ConfigError(
                f"method {name!r}: baseline {baseline!r} does not exist.{did_you_mean(str(baseline), BASELINES)} "
                f"Baselines: {', '.join(f'{k} ({v})' for k, v in BASELINES.items())}"
            )
        extra = sorted(k for k in spec if k != "baseline")
        if extra:
            raise ConfigError(
                f"method {name!r} is a baseline; {', '.join(extra)} cannot be set on it (a "
                "baseline trains with the task's trainer at the suite's budget)"
            )
        return Method(name, baseline=str(baseline))
    for key, value in spec.items():
        named = _bench_setting(str(key), value)
        if named is not None:
            parts = named.split(".")
            where = BENCH_SETTINGS.get(parts[0]) or BENCH_SETTINGS[parts[-1]]
            raise ConfigError(
                f"method {name!r} sets {named}, which {where} sets for every method alike; "
                "drop it from the method"
            )
    return Method(name, options=tuple(spec.items()))


# --- files and built-in suites -----------------------------------------------------------------
def builtin_suites() -> dict[str, BenchSuite]:
    """The suites shipped with rewardforge, by name."""
    folder = resources.files("rewardforge.bench") / "suites"
    out = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            suite = _parse(yaml.safe_load(entry.read_text(encoding="utf-8")), entry.name)
            out[suite.name] = suite
    return out


def load_suite(source: str | Path) -> tuple[BenchSuite, Path | None]:
    """A built-in suite by name, or a suite file; with the file's folder (None for a built-in
    suite), against which relative ``replay_from`` paths are read."""
    path = Path(source)
    if path.suffix in (".yaml", ".yml", ".json") or path.exists():
        if not path.is_file():
            raise ConfigError(f"suite file {path} does not exist; `rewardforge bench --list` "
                              "shows the built-in suites")  # fmt: skip
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read suite file {path}: {exc}") from None
        return _parse(data, str(path)), path.resolve().parent
    suites = builtin_suites()
    if str(source) not in suites:
        raise ConfigError(
            f"no built-in suite {str(source)!r}.{did_you_mean(str(source), suites)} Built-in "
            f"suites: {', '.join(suites)}; or give a suite file (.yaml)"
        )
    return suites[str(source)], None


def _parse(data: Any, where: str) -> BenchSuite:
    if not isinstance(data, Mapping):
        raise ConfigError(f"suite {where} must be a mapping with name, tasks and methods")
    try:
        suite = BenchSuite.model_validate(dict(data))
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"suite {where}: {problems}") from None
    suite.methods_parsed()  # a bad method is an error now, before anything runs
    return suite


def _describe(error: Mapping[str, Any]) -> str:
    loc = ".".join(str(p) for p in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        known = list(BenchSuite.model_fields)
        return f"unknown key {loc!r}.{did_you_mean(loc, known)} Keys: {', '.join(known)}"
    return f"{loc}: {message}" if loc else message


__all__ = [
    "BASELINES",
    "BENCH_SETTINGS",
    "BenchSuite",
    "Method",
    "builtin_suites",
    "load_suite",
    "parse_method",
]
