"""A teacher as judge: fitness from pairwise comparisons of the policies' final states.

Every policy plays the same ``episodes`` starts; for each start, every two policies' final
states are compared by the teacher (a VLM looking at the rendered frames, or the scripted
teacher), a round-robin tournament. A win scores 1, an "equal" 0.5 each, a pair without a label
is not counted; a policy's fitness is its share of the points in the games it played. A policy
taking uniformly random actions joins as a fixed opponent (``anchor``), so scores from
different tournaments stay comparable: beating random play is worth something in every round.

:class:`JudgedTrainer` wraps a trainer so that its populations report this fitness: a search
then selects rewards on tasks that have no success code worth trusting.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rewardforge.preference.render import SIM_STATE, StateRenderer
from rewardforge.preference.teachers import EQUAL, FIRST, SECOND, PairBatch, Teacher
from rewardforge.rl.evaluation import first_episodes
from rewardforge.rl.types import EvalResult
from rewardforge.tasks.spec import Task
from rewardforge.tasks.vecenv import make_env

logger = logging.getLogger(__name__)

ActFn = Callable[[np.ndarray], np.ndarray]
#: Seed of the judged episodes, apart from training, evaluation and trajectory seeds.
JUDGE_SEED = 3_000_017


@dataclass(frozen=True)
class FinalStates:
    """The final state of each policy's episodes: variables ``(K * E, ...)``, member-major
    (row ``k * E + e`` is policy ``k``'s episode ``e``), and frames when rendered."""

    variables: dict[str, np.ndarray]
    num_members: int
    episodes: int
    frames: np.ndarray | None = None

    def rows(self, member: int) -> slice:
        return slice(member * self.episodes, (member + 1) * self.episodes)


@dataclass(frozen=True)
class Tournament:
    """``fitness[k]``: policy k's share of points; ``points[i, j]``: i's points against j."""

    fitness: np.ndarray
    points: np.ndarray
    games: np.ndarray
    comparisons: int
    unlabelled: int


def final_states(
    task: Task,
    act: ActFn,
    num_members: int,
    episodes: int = 4,
    *,
    seed: int = JUDGE_SEED,
    renderer: StateRenderer | None = None,
) -> FinalStates:
    """Play one episode per start per policy (all policies get the same ``episodes`` starts)."""
    total = num_members * episodes
    seeds = [seed + e for _ in range(num_members) for e in range(episodes)]
    env = make_env(task, num_envs=total)
    final: dict[str, np.ndarray] = {}
    for result, _, new in first_episodes(env, act, task.max_episode_steps, seeds):
        for name, values in result.variables.items():
            store = final.setdefault(name, np.zeros_like(np.asarray(values)))
            store[new] = np.asarray(values)[new]
    frames = None
    if renderer is not None and SIM_STATE in final:
        frames = renderer.render(final[SIM_STATE])
    return FinalStates(final, num_members, episodes, frames)


def with_random_anchor(act: ActFn, task: Task, num_members: int, seed: int = 0) -> ActFn:
    """``act`` for ``num_members`` policies plus one more taking uniformly random actions."""
    probe = make_env(task, num_envs=1)
    space = probe.single_action_space
    probe.close()
    rng = np.random.default_rng(seed)

    def combined(obs: np.ndarray) -> np.ndarray:
        per = len(obs) // (num_members + 1)
        actions = np.asarray(act(obs[: per * num_members]))
        if hasattr(space, "n"):
            extra = rng.integers(0, space.n, size=per)
        else:
            extra = rng.uniform(space.low, space.high, size=(per, *space.shape)).astype(space.dtype)
        return np.concatenate([actions, extra.astype(actions.dtype)])

    return combined


def tournament(states: FinalStates, teacher: Teacher) -> Tournament:
    """Round-robin over policies and starts; one teacher call for all games."""
    k, e = states.num_members, states.episodes
    games = [(i, j, ep) for i in range(k) for j in range(i + 1, k) for ep in range(e)]
    if not games:
        return Tournament(np.full(k, 0.5), np.zeros((k, k)), np.zeros((k, k)), 0, 0)
    first = np.array([i * e + ep for i, _, ep in games])
    second = np.array([j * e + ep for _, j, ep in games])
    pairs = PairBatch(
        {n: v[first] for n, v in states.variables.items()},
        {n: v[second] for n, v in states.variables.items()},
        states.frames[first] if states.frames is not None else None,
        states.frames[second] if states.frames is not None else None,
    )
    labels = teacher.label(pairs)
    points, played = np.zeros((k, k)), np.zeros((k, k))
    for (i, j, _), label in zip(games, labels, strict=True):
        if np.isnan(label):
            continue
        win_i = {FIRST: 1.0, SECOND: 0.0, EQUAL: 0.5}.get(float(label), 0.5)
        points[i, j] += win_i
        points[j, i] += 1.0 - win_i
        played[i, j] += 1
        played[j, i] += 1
    totals = played.sum(1)
    fitness = np.where(totals > 0, points.sum(1) / np.maximum(totals, 1), 0.5)
    return Tournament(fitness, points, played, len(games), int(np.isnan(labels).sum()))


def judge_policies(
    task: Task,
    act: ActFn,
    num_members: int,
    teacher: Teacher,
    *,
    episodes: int = 4,
    anchor: bool = True,
    renderer: StateRenderer | None = None,
    seed: int = JUDGE_SEED,
) -> Tournament:
    """Fitness of ``num_members`` policies (member-major ``act``) from a tournament; with
    ``anchor`` a random policy plays too (its row is dropped from the result)."""
    players = num_members + (1 if anchor else 0)
    play = with_random_anchor(act, task, num_members, seed) if anchor else act
    states = final_states(task, play, players, episodes, seed=seed, renderer=renderer)
    result = tournament(states, teacher)
    if not anchor:
        return result
    return Tournament(
        result.fitness[:num_members],
        result.points[:num_members, :num_members],
        result.games[:num_members, :num_members],
        result.comparisons,
        result.unlabelled,
    )


class JudgedPopulation:
    """A population whose ``evaluate`` reports the tournament's fitness (the task's success
    rate and returns are kept beside it)."""

    def __init__(self, pop: Any, judge: JudgedTrainer) -> None:
        self._pop, self._judge = pop, judge

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pop, name)

    def evaluate(
        self, num_episodes: int | None = None, seed: int | None = None, *, both: bool = True
    ) -> list[EvalResult]:
        results = self._pop.evaluate(num_episodes, seed, both=both)
        judged = judge_policies(
            self._pop.task, self._pop.act, self._pop.num_members, self._judge.teacher,
            episodes=self._judge.episodes, renderer=self._judge.renderer,
        )  # fmt: skip
        self._judge.last = judged
        return [
            dataclasses.replace(r, fitness=float(f))
            for r, f in zip(results, judged.fitness, strict=True)
        ]


class JudgedTrainer:
    """Wraps a trainer: its populations' fitness comes from a teacher's tournament."""

    def __init__(
        self,
        trainer: Any,
        teacher: Teacher,
        *,
        episodes: int = 4,
        renderer: StateRenderer | None = None,
    ) -> None:
        self.trainer, self.teacher, self.episodes, self.renderer = (
            trainer,
            teacher,
            episodes,
            renderer,
        )
        self.last: Tournament | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.trainer, name)

    def start(
        self, rewards: Sequence[Any], seeds: Sequence[int], **kwargs: Any
    ) -> JudgedPopulation:
        return JudgedPopulation(self.trainer.start(rewards, seeds, **kwargs), self)
