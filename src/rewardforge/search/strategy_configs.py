"""The built-in strategies' config sections, registered with their entry points.

Each field's description is its command-line help. Groups of fields that several strategies
share (iterations, halving, screening, a judge) are small sections mixed into each config."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from rewardforge.search.halving import DEFAULT_RUNGS, parse_rungs
from rewardforge.search.registry import Section, StrategyConfig, register_strategy

Judge = Literal["scripted", "vlm"]


class SampleFields(Section):
    samples: int = Field(
        8, gt=0, description="candidates per iteration (K)", json_schema_extra={"short": "-k"}
    )


class IterationFields(Section):
    iterations: int = Field(
        3, gt=0, description="iterations (I)", json_schema_extra={"short": "-i"}
    )
    success_target: float = Field(
        0.9, gt=0.0, le=1.0, description="stop once the best fitness reaches this"
    )
    feedback: Literal["auto", "human"] = Field(
        "auto", description="human: pause after each iteration for a person's feedback"
    )


class HalvingFields(Section):
    rungs: tuple[float, ...] = Field(
        DEFAULT_RUNGS,
        description="successive-halving rungs as fractions of the budget, e.g. 0.25,0.5,1 "
        "(off: train every candidate fully)",
    )
    eta: float = Field(2.0, ge=1.0, description="keep the top 1/eta after each rung")

    @field_validator("rungs", mode="before")
    @classmethod
    def _rungs(cls, value: Any) -> tuple[float, ...]:
        if value is False:  # YAML reads a bare `off` as false
            value = "off"
        if isinstance(value, (int, float)):
            value = [value]
        return parse_rungs(value if isinstance(value, str) or value is None else list(value))


class ScreeningFields(Section):
    screening: bool = Field(
        True, description="score new rewards on earlier trajectories and skip hopeless ones"
    )
    screen_min_auc: float = Field(
        0.5, ge=0.0, le=1.0, description="screening: skip rewards ranking episodes below this AUC"
    )
    screen_fraction: float = Field(
        0.25, ge=0.0, lt=1.0, description="screening: the most of a batch it may skip"
    )


class JudgeFields(Section):
    judge: Judge | None = Field(
        None, description="select rewards by this teacher's tournament of the policies"
    )

    def in_process_reason(self) -> str | None:
        if self.judge == "vlm":
            return "a vlm judge (--judge vlm, strategy.judge: vlm) trains in this process, which asks the model"
        return None


class EvolveConfig(
    JudgeFields, ScreeningFields, HalvingFields, IterationFields, SampleFields, StrategyConfig
):
    """Eureka: K samples per iteration, each iteration written from the best so far."""

    name: Literal["evolve"] = "evolve"


class RefineConfig(JudgeFields, IterationFields, StrategyConfig):
    """One candidate per iteration, each refined from the previous one's training."""

    name: Literal["refine"] = "refine"

    @property
    def num_samples(self) -> int:
        return 1


class OneshotConfig(JudgeFields, HalvingFields, SampleFields, StrategyConfig):
    """ARCHIE: one answer (``samples`` of them), no iterations."""

    name: Literal["oneshot"] = "oneshot"
    samples: int = Field(
        1, gt=0, description="candidates per iteration (K)", json_schema_extra={"short": "-k"}
    )
    archie: bool = Field(False, description="oneshot: the success bonus outweighs all shaping")
    generate_success: bool = Field(
        False, description="oneshot --archie: the model writes the success criterion"
    )

    @property
    def num_iterations(self) -> int:
        return 1

    @model_validator(mode="after")
    def _archie(self) -> OneshotConfig:
        if self.generate_success and not self.archie:
            raise ValueError(
                "strategy.generate_success (--generate-success) writes the success criterion of "
                "ARCHIE's bonus; add strategy.archie (--archie) or drop it"
            )
        return self


class PopulationConfig(IterationFields, StrategyConfig):
    """LaRes: P rewards x SAC policies sharing one relabelled replay buffer."""

    name: Literal["population"] = "population"
    required_trainer: ClassVar[str | None] = "sac"
    population_size: int = Field(5, gt=0, description="reward programs trained together (P)")
    elites: int = Field(2, ge=1, description="members kept at each refresh")
    refresh_steps: int | None = Field(
        None, gt=0, description="env steps between refreshes (default: the training steps)"
    )
    thompson_window: int = Field(20, gt=0, description="episodes in each member's window")
    with_env_member: bool = Field(
        False, description="one more member learns from the environment's own reward"
    )
    l2_weight: float = Field(
        0.01, ge=0.0, description="pull of a replaced member toward the best member"
    )

    @property
    def num_samples(self) -> int:
        return self.population_size

    def in_process_reason(self) -> str | None:
        return "the population strategy (--strategy population) trains one shared replay buffer in this process"

    @model_validator(mode="after")
    def _elites(self) -> PopulationConfig:
        if self.elites >= self.population_size:
            raise ValueError(
                f"strategy.elites (--elites {self.elites}) must be smaller than "
                f"strategy.population_size (--population-size {self.population_size}), or no "
                "member ever gets a new reward"
            )
        return self


class PreferenceConfig(StrategyConfig):
    """RL-VLM-F / PEBBLE: SAC on a reward model learned from a teacher's comparisons."""

    name: Literal["preference"] = "preference"
    required_trainer: ClassVar[str | None] = "sac"
    writes_code: ClassVar[bool] = False
    teacher: Judge | None = Field(
        None, description="who labels pairs of states (default: vlm with --model, else scripted)"
    )
    label_budget: int = Field(1000, gt=0, description="pairs asked for labels in all")
    pairs_per_update: int = Field(100, gt=0, description="pairs asked at each model update")
    update_every: int = Field(2000, gt=0, description="environment steps between updates")
    unsupervised_steps: int = Field(2000, ge=0, description="exploration steps before labels")
    reward_model: Literal["mlp", "cnn"] = Field(
        "mlp", description="ensemble over the task's variables (mlp) or over frames (cnn)"
    )
    ensemble_size: int = Field(3, gt=0, description="members of the reward-model ensemble")

    @property
    def num_iterations(self) -> int:
        return 1

    def in_process_reason(self) -> str | None:
        return "the preference strategy (--strategy preference) trains and relabels one replay buffer in this process"


register_strategy(
    "evolve",
    EvolveConfig,
    "rewardforge.search.iterative:EvolveStrategy",
    description="Eureka: K samples per iteration, evolved from the best",
)
register_strategy(
    "refine",
    RefineConfig,
    "rewardforge.search.iterative:RefineStrategy",
    description="one candidate per iteration, refined from its own training",
)
register_strategy(
    "oneshot",
    OneshotConfig,
    "rewardforge.search.iterative:OneshotStrategy",
    description="ARCHIE: one answer, optionally with a dominating success bonus",
)
register_strategy(
    "population",
    PopulationConfig,
    "rewardforge.search.population:PopulationStrategy",
    description="LaRes: rewards x SAC policies sharing one replay buffer",
)
register_strategy("preference", PreferenceConfig, "rewardforge.search.preference:PreferenceStrategy",
                  description="RL-VLM-F: a reward model learned from a teacher's labels")  # fmt: skip
