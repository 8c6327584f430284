"""Results trainers hand back: fitness (``EvalResult``), reflection snapshots, ``TrainResult``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

#: How a policy chooses its actions when it is evaluated: its mean (continuous) or most likely
#: (discrete) action, or an action drawn from its distribution, as while it trained.
EVAL_POLICIES = ("deterministic", "sampled")


@dataclass(frozen=True)
class EvalResult:
    """Fitness of one policy over ``num_episodes`` evaluation episodes.

    ``fitness`` is the number the search ranks by: the success rate for ``success_rate`` tasks,
    the mean episode score for ``score`` tasks, of the policy acting as ``policy`` says
    (``deterministic`` or ``sampled``, see ``EVAL_POLICIES``). ``other`` is the same policy
    evaluated the other way from the same starts (None where it was not evaluated)."""

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
    policy: str = "deterministic"
    other: EvalResult | None = None

    @property
    def num_episodes(self) -> int:
        return len(self.returns)

    def by_policy(self) -> dict[str, EvalResult]:
        """This result and ``other`` by their ``policy``."""
        out = {self.policy: self}
        if self.other is not None:
            out[self.other.policy] = self.other
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalResult:
        """The result ``to_dict`` wrote (also one stored before ``policy`` existed)."""
        values = dict(data)
        other = values.pop("other", None)
        for key in ("returns", "lengths", "successes", "scores"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        return cls(**values, other=cls.from_dict(other) if other else None)


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
