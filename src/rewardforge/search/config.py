"""Search settings: validated at the boundary (CLI or a config file), then frozen."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rewardforge.search.halving import parse_rungs

Strategy = Literal["evolve", "refine", "oneshot"]
DesignerName = Literal["llm", "offline", "replay"]


class SearchConfig(BaseModel):
    """Everything that defines a search; stored with the run so ``resume`` can rebuild it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str = Field(description="task id or path to a task file")
    strategy: Strategy = "evolve"
    designer: DesignerName = "offline"
    model: str | None = Field(None, description="provider/name for the LLM designer")
    replay_from: str | None = Field(
        None, description="file, directory or run id for the replay designer"
    )
    samples: int = Field(8, gt=0, description="candidates per iteration (K)")
    iterations: int = Field(3, gt=0, description="iterations (I)")
    num_steps: int | None = Field(
        None, gt=0, description="full training budget per candidate (task default)"
    )
    trainer: str | None = Field(None, description="ppo | sac | sb3:ALGO (task default)")
    num_envs: int | None = Field(None, gt=0)
    seeds: int = Field(1, gt=0, description="training seeds per candidate during the search")
    rungs: tuple[float, ...] = (0.25, 0.5, 1.0)
    eta: float = Field(2.0, ge=1.0, description="keep the top 1/eta after each rung")
    screening: bool = True
    screen_min_auc: float = 0.5
    screen_fraction: float = Field(0.25, ge=0.0, lt=1.0)
    max_repairs: int = Field(2, ge=0, description="repair requests per failed answer")
    success_target: float = Field(0.9, gt=0.0, le=1.0, description="stop early at this fitness")
    final_seeds: int = Field(3, ge=0, description="seeds for the final evaluation (0: skip)")
    baselines: bool = True
    generate_success: bool = False
    archie: bool = False
    feedback: Literal["auto", "human"] = "auto"
    temperature: float = 1.0
    max_tokens: int | None = None
    max_cost: float | None = None
    cache: Literal["use", "replay", "off"] = "use"
    device: str = "cpu"
    seed: int = 0

    @field_validator("rungs", mode="before")
    @classmethod
    def _rungs(cls, value: object) -> tuple[float, ...]:
        return parse_rungs(value if isinstance(value, str) or value is None else list(value))  # type: ignore[arg-type]
