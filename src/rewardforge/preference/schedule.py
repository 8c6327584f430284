"""PEBBLE's schedule: explore without labels, then ask for labels every so often, relabel.

::

    steps 0 .. unsupervised_steps        the exploration reward (no labels yet)
    at unsupervised_steps, then every    pairs_per_update pairs of stored states, chosen by
      update_every steps                 ensemble disagreement (uniformly at the first update),
                                         labelled by the teacher, the reward model refitted,
                                         every stored transition relabelled
    once label_budget pairs are asked    train on the last reward model to num_steps

States come from the trainer's replay buffer (its stored variables); a vision teacher sees
them rendered again from their ``sim_state`` (``render.StateRenderer``). The trainer must keep
a replay buffer it can relabel (built-in SAC).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from rewardforge.errors import ConfigError
from rewardforge.preference.render import FRAME, SIM_STATE, StateRenderer
from rewardforge.preference.reward_model import RewardLearner
from rewardforge.preference.teachers import PairBatch, Teacher, count_labels

logger = logging.getLogger(__name__)

#: Candidate pairs scored for disagreement per pair asked (PEBBLE samples a large batch too).
OVERSAMPLE = 10


@dataclass(frozen=True)
class PreferenceSchedule:
    """When to ask for labels, and how many."""

    num_steps: int
    """environment steps per member in all"""
    unsupervised_steps: int = 2_000
    """steps of exploration before the first labels (0: first labels after update_every)"""
    update_every: int = 2_000
    """steps between reward-model updates"""
    pairs_per_update: int = 100
    """pairs asked at each update"""
    label_budget: int = 1_000
    """pairs asked in all"""

    def __post_init__(self) -> None:
        for name in ("num_steps", "update_every", "pairs_per_update", "label_budget"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.unsupervised_steps < 0:
            raise ConfigError(f"unsupervised_steps must be >= 0, got {self.unsupervised_steps}")

    def updates(self) -> list[tuple[int, int]]:
        """``(step, pairs)`` of every update before ``num_steps``."""
        out, asked = [], 0
        step = self.unsupervised_steps or self.update_every
        while step < self.num_steps and asked < self.label_budget:
            pairs = min(self.pairs_per_update, self.label_budget - asked)
            out.append((step, pairs))
            asked += pairs
            step += self.update_every
        return out


@dataclass(frozen=True)
class PreferenceUpdate:
    """What one update did: labels asked and kept, the fit, and the policies' fitness."""

    index: int
    step: int
    asked: int
    kept: int
    total_labels: int
    counts: dict[str, int]
    fit: dict[str, float]
    fitness: float | None = None
    success_rate: float | None = None
    per_member: list[float] = field(default_factory=list)
    wall_time_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def choose_pairs(
    learner: RewardLearner, pool: Mapping[str, np.ndarray], num_pairs: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Indices into ``pool`` of the first and second state of ``num_pairs`` pairs: those the
    ensemble disagrees on most among ``OVERSAMPLE`` times as many random pairs (random pairs
    before the first fit)."""
    size = len(next(iter(pool.values())))
    count = num_pairs * (OVERSAMPLE if learner.fitted else 1)
    first, second = rng.integers(0, size, count), rng.integers(0, size, count)
    if learner.fitted:
        score = learner.disagreement(_take(pool, first), _take(pool, second))
        top = np.argsort(-score, kind="stable")[:num_pairs]
        first, second = first[top], second[top]
    return first, second


def _take(pool: Mapping[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
    return {name: values[index] for name, values in pool.items()}


def make_pairs(
    pool: Mapping[str, np.ndarray],
    first: np.ndarray,
    second: np.ndarray,
    renderer: StateRenderer | None = None,
) -> PairBatch:
    """The pairs, with frames when a renderer is given (or the pool holds frames)."""
    a, b = _take(pool, first), _take(pool, second)
    frames_a = frames_b = None
    if renderer is not None and SIM_STATE in a:
        frames_a, frames_b = renderer.render(a[SIM_STATE]), renderer.render(b[SIM_STATE])
    elif FRAME in a:
        frames_a, frames_b = a[FRAME], b[FRAME]
    return PairBatch(a, b, frames_a, frames_b)


class PreferenceLoop:
    """Trains a population on a :class:`LearnedReward` while teaching it, update by update.

    ``pop`` is a started population whose members train on ``learner``'s reward (one shared
    ``LearnedReward`` object); ``on_update`` sees each :class:`PreferenceUpdate` as it ends."""

    def __init__(
        self,
        pop: Any,
        learner: RewardLearner,
        teacher: Teacher,
        schedule: PreferenceSchedule,
        *,
        renderer: StateRenderer | None = None,
        seed: int = 0,
        evaluate: bool = True,
        on_update: Callable[[PreferenceUpdate], None] | None = None,
    ) -> None:
        if not hasattr(pop, "relabel") or not hasattr(pop, "buffer"):
            raise ConfigError(
                f"preference learning needs an off-policy trainer whose replay buffer can be "
                f"relabelled (sac); {pop.trainer_name} has none. Use --trainer sac"
            )
        if teacher.needs_frames and renderer is None:
            raise ConfigError(f"the {teacher.name} teacher compares frames: give a renderer")
        self.pop, self.learner, self.teacher, self.schedule = pop, learner, teacher, schedule
        self.renderer, self.evaluate, self.on_update = renderer, evaluate, on_update
        self.rng = np.random.default_rng(np.random.SeedSequence([seed, 104_729]))
        self.history: list[PreferenceUpdate] = []
        self.asked: list[tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]] = []

    def run(self) -> list[PreferenceUpdate]:
        """Train to ``schedule.num_steps``, updating the reward model on schedule."""
        for index, (step, pairs) in enumerate(self.schedule.updates()):
            if step > self.pop.steps:
                self.pop.train_more(step - self.pop.steps)
            self.update(index, pairs)
        if self.schedule.num_steps > self.pop.steps:
            self.pop.train_more(self.schedule.num_steps - self.pop.steps)
        return self.history

    def update(self, index: int, num_pairs: int) -> PreferenceUpdate:
        """Ask ``num_pairs`` pairs, refit, relabel, evaluate."""
        start = time.perf_counter()
        pool = self.pop.buffer.sample_variables(num_pairs * 2 * OVERSAMPLE, self.rng)
        self.learner.observe(pool)
        first, second = choose_pairs(self.learner, pool, num_pairs, self.rng)
        pairs = make_pairs(pool, first, second, self.renderer)
        labels = self.teacher.label(pairs)
        self.asked.append((dict(pairs.first), dict(pairs.second), labels))
        kept = self.learner.add(pairs.first, pairs.second, labels)
        fit = self.learner.fit() if kept or self.learner.fitted else {}
        if self.learner.fitted:
            self.pop.relabel()
        record = PreferenceUpdate(
            index=index,
            step=int(self.pop.steps),
            asked=num_pairs,
            kept=kept,
            total_labels=self.learner.num_labels,
            counts=count_labels(labels),
            fit=fit,
        )
        if self.evaluate:
            evals = self.pop.evaluate()
            per = [r.fitness for r in evals]
            record = _with_fitness(record, per, [r.success_rate for r in evals])
        record = _replace(record, wall_time_s=time.perf_counter() - start)
        logger.info(
            "preference update %d at %d steps: %d/%d labels kept (%d in all), fit %s, fitness %s",
            index, record.step, kept, num_pairs, record.total_labels, fit, record.fitness,
        )  # fmt: skip
        self.history.append(record)
        if self.on_update is not None:
            self.on_update(record)
        return record

    def labelled_pairs(self) -> dict[str, np.ndarray]:
        """Every pair asked so far and its label, as flat arrays (``first/<var>``,
        ``second/<var>``, ``labels``) for saving with the run."""
        if not self.asked:
            return {"labels": np.zeros(0)}
        out: dict[str, np.ndarray] = {"labels": np.concatenate([y for _, _, y in self.asked])}
        for side, pos in (("first", 0), ("second", 1)):
            names = self.asked[0][pos]
            for name in names:
                out[f"{side}/{name}"] = np.concatenate([a[pos][name] for a in self.asked])
        return out


def _with_fitness(
    record: PreferenceUpdate, per_member: list[float], success: list[float]
) -> PreferenceUpdate:
    return _replace(
        record,
        fitness=float(np.mean(per_member)),
        success_rate=float(np.mean(success)),
        per_member=[float(x) for x in per_member],
    )


def _replace(record: PreferenceUpdate, **changes: Any) -> PreferenceUpdate:
    import dataclasses

    return dataclasses.replace(record, **changes)
