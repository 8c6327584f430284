"""Results trainers hand back: fitness (``EvalResult``), reflection snapshots, ``TrainResult``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class EvalResult:
    """Fitness of one policy over ``num_episodes`` deterministic evaluation episodes.

    ``fitness`` is the number the search ranks by: the success rate for ``success_rate`` tasks,
    the mean episode score for ``score`` tasks."""

    fitness: float
    success_rate: float
    score: float | None
    mean_return: float
    std_return: float
    mean_length: float
    returns: tuple[float, ...]
    lengths: tuple[int, ...]
    successes: tuple[bool, ...]
    scores: tuple[float, ...] | None = None

    @property
    def num_episodes(self) -> int:
        return len(self.returns)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ComponentStats:
    """Per-episode sums of one reward component over the episodes of a reflection window."""

    mean: float
    min: float
    max: float


@dataclass(frozen=True)
class ReflectionSnapshot:
    """What training showed around ``step`` (episodes that ended since the previous snapshot).

    ``components`` maps each reward component (and ``reward``, the total) to the mean, min and
    max of its per-episode sum: Eureka's reward reflection, per episode rather than per step."""

    step: int
    num_episodes: int
    success_rate: float
    mean_length: float
    mean_env_return: float
    components: dict[str, ComponentStats] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrainResult:
    """One member's outcome: which reward and seed, fitness, reflection, cost and checkpoint.

    ``num_steps`` counts the member's own environment steps; ``wall_time`` is the training time
    of the population while the member was in it (shared by all its members, evaluation not
    included); ``error`` is set when the member's reward failed (it then trained on reward 0)."""

    reward_name: str
    seed: int
    trainer: str
    num_steps: int
    wall_time: float
    fitness: EvalResult | None
    reflection: tuple[ReflectionSnapshot, ...] = ()
    checkpoint: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
