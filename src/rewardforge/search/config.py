"""Search settings: one typed, frozen model, the same from Python, the command line and files.

``SearchConfig`` has a section per concern; its ``strategy`` section is a union discriminated by
``name`` over the registered strategies (``search/registry.py``), so each strategy's options
exist only where they mean something. Defaults and checks live here, so the library and the
CLI behave the same; the CLI's flags are generated from these fields (``search/options.py``).
Defaults that depend on the machine are resolved when the config is made, so the stored config
says what the run did: the designer (``llm`` when a model is named or a provider key is set,
else ``offline``), the model, the preference teacher, and the number of training workers (the
usable cores, or 1 where training stays in this process)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, SerializeAsAny, field_validator, model_validator

from rewardforge.runs.executors import usable_cores
from rewardforge.search.registry import Section, StrategyConfig, get_strategy
from rewardforge.search.strategy_configs import EvolveConfig

if TYPE_CHECKING:
    from rewardforge.llm.retry import RetryPolicy


class ModelSettings(Section):
    name: str | None = Field(
        None,
        description="chat model as provider/name (default: $REWARDFORGE_MODEL, else the first "
        "provider whose key is set)",
        json_schema_extra={"metavar": "PROVIDER/NAME"},
    )
    temperature: float = Field(1.0, ge=0.0, description="sampling temperature")
    cache: Literal["use", "replay", "off"] = Field(
        "use", description="model answer cache (replay: offline, from cached answers only)"
    )
    max_tokens: int | None = Field(None, gt=0, description="token budget of the run")
    max_cost: float | None = Field(None, gt=0.0, description="cost budget of the run in USD")
    request_timeout: float | None = Field(
        None, gt=0.0, le=3600.0, description="seconds a model request may take before it is "
        "retried (default 180)", json_schema_extra={"metavar": "S"},
    )  # fmt: skip

    def retry_policy(self) -> RetryPolicy:
        """The model layer's retry policy with this request timeout (imported when used: the
        model layer loads the providers' clients)."""
        from rewardforge.llm.retry import RetryPolicy

        return RetryPolicy.with_timeout(self.request_timeout)


class DesignerSettings(Section):
    name: Literal["llm", "offline", "replay"] | None = Field(
        None, description="who writes rewards (default: llm when a model is named or a key is "
        "set, else offline)"
    )  # fmt: skip
    replay_from: str | None = Field(
        None,
        description="replay designer: a file, a folder or a run id to replay",
        json_schema_extra={"metavar": "SOURCE"},
    )
    max_repairs: int = Field(2, ge=0, description="repair requests per failed answer")


class TrainingSettings(Section):
    trainer: str | None = Field(None, description="ppo | sac | sb3:ALGO (default: the task's)")
    steps: int | None = Field(
        None, gt=0, description="training steps per candidate (default: the task's budget)"
    )
    num_envs: int | None = Field(
        None, gt=0, description="environments per candidate (default: the task's)"
    )
    seeds: int = Field(1, gt=0, description="training seeds per candidate during the search")
    device: str = Field("cpu", description="cpu or cuda")
    eval_every: int | None = Field(
        None,
        ge=0,
        description="evaluate candidates every N steps and stop each one that reaches the "
        "target (default: an eighth of the budget; 0: only at the halving rungs)",
    )


class EvaluationSettings(Section):
    final_seeds: int = Field(
        3, ge=0, description="fresh seeds of the final evaluation of the best reward (0: skip)"
    )
    baselines: bool = Field(True, description="train the env and sparse baselines beside it")


class ExecutorSettings(Section):
    name: Literal["local", "ray"] = Field(
        "local", description="where trainings run: worker processes here, or a Ray cluster"
    )
    workers: int | None = Field(
        None,
        gt=0,
        description="trainings at once, each a group of the iteration's candidates in a "
        "process with one torch thread (local default: the usable cores; ray: the cluster's CPUs)",
    )
    ray_address: str | None = Field(
        None,
        description="Ray cluster to join: auto or HOST:PORT (default: start one here)",
        json_schema_extra={"metavar": "auto|HOST:PORT"},
    )
    gpus_per_task: float | None = Field(
        None, ge=0.0, description="GPU share of one Ray training (default 0.25 on cuda, else 0)"
    )


class TeacherSettings(Section):
    """Who compares states, for the preference strategy and for a judge."""

    utility: Literal["auto", "env", "success", "score"] = Field(
        "auto",
        description="what the scripted teacher prefers (auto: the task's score, else env reward)",
        json_schema_extra={"flag": "--teacher-utility"},
    )
    beta: float | None = Field(
        None, gt=0.0, description="B-Pref: stochastic teacher's beta (default: rational)",
        json_schema_extra={"flag": "--teacher-beta"},
    )  # fmt: skip
    mistake: float = Field(
        0.0, ge=0.0, le=1.0, description="B-Pref: probability of a flipped label",
        json_schema_extra={"flag": "--teacher-mistake"},
    )  # fmt: skip
    skip: float = Field(
        0.0, ge=0.0, le=1.0, description="B-Pref: skip threshold (fraction of the range)",
        json_schema_extra={"flag": "--teacher-skip"},
    )  # fmt: skip
    equal: float = Field(
        0.0, ge=0.0, le=1.0, description="B-Pref: equal threshold (fraction of the range)",
        json_schema_extra={"flag": "--teacher-equal"},
    )  # fmt: skip
    render_size: int = Field(224, gt=0, description="pixels (square) of frames a VLM sees")
    camera: str | None = Field(None, description="MuJoCo camera name for rendering")


class SearchConfig(Section):
    """Everything that defines a search; stored with the run so ``resume`` rebuilds it."""

    task: str = Field(description="task id or path to a task file")
    seed: int = Field(0, ge=0, description="run seed (a new seed gives fresh model samples)")
    strategy: SerializeAsAny[StrategyConfig] = Field(
        default_factory=EvolveConfig, description="the search loop and its options"
    )
    designer: DesignerSettings = Field(default_factory=DesignerSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    executor: ExecutorSettings = Field(default_factory=ExecutorSettings)
    teacher: TeacherSettings | None = Field(
        None, description="teacher settings (preference strategy and judges only)"
    )

    @field_validator("strategy", mode="before")
    @classmethod
    def _strategy(cls, value: Any) -> Any:
        """A union over the registry, discriminated by ``name`` (a bare name is accepted)."""
        if isinstance(value, str):
            value = {"name": value}
        if isinstance(value, Mapping):
            spec = get_strategy(str(value.get("name", "evolve")))
            return spec.config.model_validate({**value, "name": spec.name})
        return value

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: Any) -> Any:
        """Fill the defaults that depend on other settings or on this machine."""
        return _resolve_defaults(dict(data)) if isinstance(data, Mapping) else data

    @model_validator(mode="after")
    def _combinations(self) -> SearchConfig:
        for message in _conflicts(self):
            raise ValueError(message)
        return self

    # --- convenience ----------------------------------------------------------------------
    @property
    def uses_teacher(self) -> bool:
        return not self.strategy.writes_code or getattr(self.strategy, "judge", None) is not None

    @classmethod
    def from_stored(cls, data: Mapping[str, Any]) -> SearchConfig:
        """A run's stored config, also one written before configs had sections."""
        from rewardforge.search.legacy import sectioned

        return cls.model_validate(sectioned(dict(data)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready and complete: what ``--print-config`` shows and what a run stores."""
        return self.model_dump(mode="json")


def _section(value: Any) -> dict[str, Any]:
    if isinstance(value, Section):
        return value.model_dump()
    return dict(value) if isinstance(value, Mapping) else {}


def _resolve_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """The designer, model, preference teacher, teacher section, required trainer and number
    of local workers, where the settings leave them open. Malformed input is left for the
    field validators to report."""
    raw = data.get("strategy", "evolve")
    strategy = {"name": raw} if isinstance(raw, str) else _section(raw)
    try:
        spec = get_strategy(str(strategy.get("name", "evolve")))
    except ValueError:
        return data
    model, designer = _section(data.get("model")), _section(data.get("designer"))
    training, executor = _section(data.get("training")), _section(data.get("executor"))
    if designer.get("name") is None:
        designer["name"] = "llm" if model.get("name") or _default_model() else "offline"
    if spec.config.writes_code and designer["name"] == "llm" and not model.get("name"):
        model["name"] = _default_model()
    if spec.name == "preference" and strategy.get("teacher") is None:
        strategy["teacher"] = "vlm" if model.get("name") else "scripted"
    if training.get("trainer") is None and spec.config.required_trainer:
        training["trainer"] = spec.config.required_trainer
    try:
        resolved = spec.config.model_validate({**strategy, "name": spec.name})
    except ValueError:
        return data
    in_process = resolved.in_process_reason() is not None
    if executor.get("name", "local") == "local" and executor.get("workers") is None:
        executor["workers"] = 1 if in_process else usable_cores()
    uses_teacher = not spec.config.writes_code or getattr(resolved, "judge", None) is not None
    if uses_teacher and data.get("teacher") is None:
        data["teacher"] = {}
    return {**data, "strategy": resolved, "model": model, "designer": designer,
            "training": training, "executor": executor}  # fmt: skip


def _default_model() -> str | None:
    from rewardforge.llm import default_model_spec

    return default_model_spec()


def _conflicts(c: SearchConfig) -> list[str]:
    """Settings that cannot go together, each named with its key and its flag."""
    out = []
    ex, strategy = c.executor, c.strategy
    if ex.name != "ray":
        for key in ("ray_address", "gpus_per_task"):
            if getattr(ex, key) is not None:
                flag = key.replace("_", "-")
                out.append(f"executor.{key} (--{flag}) is for the ray executor; set "
                           f"executor.name: ray (--executor ray) or drop --{flag}")  # fmt: skip
    reason = strategy.in_process_reason()
    if reason and ex.name == "ray":
        out.append(f"{reason}; executor.name: ray (--executor ray) cannot be used with it: "
                   "drop --executor ray")  # fmt: skip
    elif reason and (ex.workers or 1) > 1:
        out.append(f"{reason}; executor.workers (--workers {ex.workers}) cannot be used with "
                   "it: drop --workers or set it to 1")  # fmt: skip
    required = strategy.required_trainer
    if required and c.training.trainer != required:
        out.append(f"the {strategy.name} strategy (--strategy {strategy.name}) trains with "
                   f"{required}; training.trainer (--trainer {c.training.trainer}) cannot be "
                   f"used with it: pass --trainer {required} or drop --trainer")  # fmt: skip
    if c.teacher is not None and not c.uses_teacher:
        out.append("teacher settings (--teacher-*, --render-size, --camera) are for the "
                   "preference strategy and judges: add --judge scripted|vlm or --strategy "
                   "preference, or drop them")  # fmt: skip
    out += _designer_conflicts(c)
    return out


def _designer_conflicts(c: SearchConfig) -> list[str]:
    if not c.strategy.writes_code:
        return []
    name, source = c.designer.name, c.designer.replay_from
    if name == "replay" and not source:
        return ["designer.name: replay (--designer replay) needs designer.replay_from "
                "(--replay-from FILE, DIR or a run id of the workspace)"]  # fmt: skip
    if name != "replay" and source:
        return [f"designer.replay_from (--replay-from) is for the replay designer; set "
                f"designer.name: replay (--designer replay) instead of {name}, or drop it"]  # fmt: skip
    if name == "llm" and not c.model.name:
        return ["the llm designer (--designer llm) needs a model: pass model.name (--model "
                "provider/name) or set a provider key (e.g. OPENAI_API_KEY); `rewardforge "
                "models` lists the providers. Without a model, use --designer offline"]  # fmt: skip
    return []


__all__ = [
    "DesignerSettings",
    "EvaluationSettings",
    "ExecutorSettings",
    "ModelSettings",
    "SearchConfig",
    "TeacherSettings",
    "TrainingSettings",
]
