"""Search settings: validated at the boundary (CLI or a config file), then frozen."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from rewardforge.search.halving import parse_rungs

Strategy = Literal["evolve", "refine", "oneshot", "preference", "population"]
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
    # population (LaRes): P rewards x SAC policies sharing one relabelled replay buffer
    population_size: int = Field(5, gt=0, description="population: reward programs (P)")
    elites: int = Field(2, ge=1, description="population: members kept at each refresh")
    refresh_steps: int | None = Field(
        None, gt=0, description="population: env steps between refreshes (default: num_steps)"
    )
    thompson_window: int = Field(
        20, gt=0, description="population: each member's last episodes for Thompson sampling"
    )
    with_env_member: bool = Field(
        False, description="population: one more member trained on the environment's reward"
    )
    l2_weight: float = Field(
        0.01, ge=0.0, description="population: L2 pull of a replaced member toward the best"
    )
    feedback: Literal["auto", "human"] = "auto"
    # preference (RL-VLM-F, PEBBLE): a reward model learned from a teacher's comparisons
    teacher: Literal["scripted", "vlm"] | None = Field(
        None, description="who labels pairs of states (default: vlm with --model, else scripted)"
    )
    label_budget: int = Field(1000, gt=0, description="pairs asked for labels in all")
    pairs_per_update: int = Field(100, gt=0, description="pairs asked at each model update")
    update_every: int = Field(2000, gt=0, description="environment steps between model updates")
    unsupervised_steps: int = Field(2000, ge=0, description="exploration steps before labels")
    teacher_utility: Literal["auto", "env", "success", "score"] = Field(
        "auto", description="what the scripted teacher prefers (auto: score, else env reward)"
    )
    teacher_beta: float | None = Field(
        None, gt=0, description="B-Pref: None is rational, else P = sigmoid(beta * difference)"
    )
    teacher_mistake: float = Field(0.0, ge=0.0, le=1.0, description="B-Pref: flip probability")
    teacher_skip: float = Field(0.0, ge=0.0, le=1.0, description="B-Pref: skip threshold")
    teacher_equal: float = Field(0.0, ge=0.0, le=1.0, description="B-Pref: equal threshold")
    reward_model: Literal["mlp", "cnn"] = Field(
        "mlp", description="ensemble over the task's variables (mlp) or over frames (cnn)"
    )
    ensemble_size: int = Field(3, gt=0, description="members of the reward-model ensemble")
    render_size: int = Field(224, gt=0, description="pixels (square) of frames a VLM sees")
    camera: str | None = Field(None, description="MuJoCo camera name for rendering")
    judge: Literal["scripted", "vlm"] | None = Field(
        None, description="evolve/refine: fitness from this teacher's tournament of rollouts"
    )
    temperature: float = 1.0
    max_tokens: int | None = None
    max_cost: float | None = None
    request_timeout: float | None = Field(
        None, gt=0, le=3600, description="seconds a model request may take before it is retried"
    )
    cache: Literal["use", "replay", "off"] = "use"
    device: str = "cpu"
    seed: int = 0
    executor: Literal["local", "ray"] = Field(
        "local", description="where trainings run: local processes or a Ray cluster"
    )
    workers: int | None = Field(
        None,
        gt=0,
        description="trainings at once; each trains a group of the iteration's candidates "
        "(local: 1, in this process; ray: the cluster's CPUs)",
    )
    ray_address: str | None = Field(
        None, description="cluster to join: auto, HOST:PORT, or none to start one here"
    )
    gpus_per_task: float | None = Field(
        None, ge=0.0, description="GPU share a Ray training asks for (default 0.25 with cuda)"
    )

    @field_validator("rungs", mode="before")
    @classmethod
    def _rungs(cls, value: object) -> tuple[float, ...]:
        return parse_rungs(value if isinstance(value, str) or value is None else list(value))  # type: ignore[arg-type, call-overload]

    @field_validator("ray_address")
    @classmethod
    def _ray_only(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("executor") != "ray":
            raise ValueError("it is for the ray executor; add --executor ray or drop it")
        return value
