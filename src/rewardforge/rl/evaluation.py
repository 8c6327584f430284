"""Fitness: evaluation episodes on a fresh environment of the task.

All members are evaluated at once: a vector environment of ``K * N`` environments in which
environment ``k*N + i`` plays member ``k``'s ``i``-th episode; each environment's first episode
counts, later ones (after autoreset) are ignored. ``evaluate_both`` plays the same starts twice,
with the policies' deterministic and their sampled actions (``EVAL_POLICIES``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from rewardforge.errors import ConfigError
from rewardforge.rl.types import EVAL_POLICIES, EvalResult
from rewardforge.tasks.spec import Task
from rewardforge.tasks.vecenv import make_env

#: Seed of evaluation environments when none is given, far from training seeds.
EVAL_SEED = 1_000_003

ActFn = Callable[[np.ndarray], np.ndarray]
#: Called at every evaluation step with the step's result and the rows still playing their
#: first episode (before this step), e.g. to score the episodes under other rewards.
ObserveFn = Callable[[Any, np.ndarray], None]


def first_episodes(
    env: Any, act: ActFn, max_steps: int, seed: Any = None, close: bool = True
) -> Iterator[tuple[Any, np.ndarray, np.ndarray]]:
    """Reset ``env`` (with ``seed`` when given) and step it with ``act`` until every environment
    has ended its first episode, then close it (unless ``close`` is off). Yields each step's
    result, the environments still in their first episode before the step, and those whose
    first episode ended at it."""
    finished = np.zeros(env.num_envs, dtype=bool)
    try:
        obs = env.reset() if seed is None else env.reset(seed=seed)
        for _ in range(max_steps + 1):
            result = env.step(act(obs))
            new = result.episodes.done & ~finished
            yield result, ~finished, new
            finished |= new
            obs = result.obs
            if finished.all():
                break
    finally:
        if close:
            env.close()


def evaluate_policies(
    task: Task,
    act: ActFn,
    num_members: int,
    num_episodes: int | None = None,
    seed: int = EVAL_SEED,
    observe: ObserveFn | None = None,
    env: Any = None,
) -> list[EvalResult]:
    """Run ``num_episodes`` episodes per member; ``act(obs (K*N, ...)) -> actions``.

    ``env``: a vector env of ``num_members * num_episodes`` environments of ``task`` to reuse
    (reset with ``seed``, left open); building one can take seconds (MetaWorld: ~0.4 s an
    environment). Without it a fresh one is made and closed."""
    n = num_episodes or task.fitness.num_episodes
    total = num_members * n
    success = np.zeros(total, dtype=bool)
    returns = np.zeros(total)
    lengths = np.zeros(total, dtype=np.int64)
    scores = np.zeros(total)
    own = env is None
    if env is None:
        env = make_env(task, num_envs=total, seed=seed)
    elif env.num_envs != total:
        raise ValueError(f"the evaluation env has {env.num_envs} environments, need {total}")
    episodes = first_episodes(env, act, task.max_episode_steps, seed=seed, close=own)
    for result, alive, new in episodes:
        if observe is not None:
            observe(result, alive)
        ep = result.episodes
        success[new] = ep.success[new]
        returns[new] = ep.env_return[new]
        lengths[new] = ep.length[new]
        if ep.score is not None:
            scores[new] = ep.score[new]
    has_score = task.fitness.kind == "score" or task.fitness.score is not None
    return [
        _member_result(task, sl, success, returns, lengths, scores if has_score else None)
        for sl in (slice(k * n, (k + 1) * n) for k in range(num_members))
    ]


def evaluate_both(
    task: Task,
    act: ActFn,
    sample: ActFn | None,
    num_members: int,
    *,
    policy: str = "deterministic",
    num_episodes: int | None = None,
    seed: int = EVAL_SEED,
    observe: ObserveFn | None = None,
    env: Any = None,
    both: bool = True,
) -> list[EvalResult]:
    """``evaluate_policies`` with the deterministic actions (``act``) and the sampled ones
    (``sample``) from the same starts; each result is ``policy``'s, the other way in its
    ``other`` (``both`` off: ``policy``'s alone, to complete with ``with_other`` where a result
    is kept). ``observe`` sees ``policy``'s episodes only. Without ``sample`` only the
    deterministic policy is evaluated (and ``policy`` must say so)."""
    check_eval_policy(policy)
    if sample is None and policy != "deterministic":
        raise ConfigError(
            "this trainer cannot evaluate its sampled policy; use the deterministic one"
        )
    acts = {"deterministic": act, "sampled": sample}
    first = evaluate_policies(
        task, acts[policy] or act, num_members, num_episodes, seed, observe, env
    )
    first = [dataclasses.replace(a, policy=policy) for a in first]
    if not both or sample is None:
        return first
    return with_other(
        task, first, act, sample, num_members, num_episodes=num_episodes, seed=seed, env=env
    )


def with_other(
    task: Task,
    results: list[EvalResult],
    act: ActFn,
    sample: ActFn | None,
    num_members: int,
    *,
    num_episodes: int | None = None,
    seed: int = EVAL_SEED,
    env: Any = None,
) -> list[EvalResult]:
    """``results`` (one policy's, from ``evaluate_both``) with the other policy evaluated from
    the same starts in their ``other`` (as they are where the trainer cannot sample)."""
    if sample is None or not results or all(r.other is not None for r in results):
        return results
    other = next(p for p in EVAL_POLICIES if p != results[0].policy)
    second = evaluate_policies(
        task, sample if other == "sampled" else act, num_members, num_episodes, seed, None, env
    )
    return [
        dataclasses.replace(a, other=dataclasses.replace(b, policy=other))
        for a, b in zip(results, second, strict=True)
    ]


def check_eval_policy(policy: str) -> str:
    if policy not in EVAL_POLICIES:
        raise ConfigError(
            f"the evaluation policy must be one of {', '.join(EVAL_POLICIES)}, got {policy!r}"
        )
    return policy


def _member_result(
    task: Task,
    rows: slice,
    success: np.ndarray,
    returns: np.ndarray,
    lengths: np.ndarray,
    scores: np.ndarray | None,
) -> EvalResult:
    success_rate = float(success[rows].mean())
    score = float(scores[rows].mean()) if scores is not None else None
    fitness = score if task.fitness.kind == "score" and score is not None else success_rate
    return EvalResult(
        fitness=fitness,
        success_rate=success_rate,
        score=score,
        mean_return=float(returns[rows].mean()),
        std_return=float(returns[rows].std()),
        mean_length=float(lengths[rows].mean()),
        returns=tuple(float(x) for x in returns[rows]),
        lengths=tuple(int(x) for x in lengths[rows]),
        successes=tuple(bool(x) for x in success[rows]),
        scores=tuple(float(x) for x in scores[rows]) if scores is not None else None,
    )
