"""What a run came to, as plain data: read by ``show``, ``show --json`` and the report."""

from __future__ import annotations

import math
from dataclasses import asdict, replace
from typing import Any

from rewardforge.runs.artifacts import resolve_in_run
from rewardforge.runs.meta import process_alive
from rewardforge.runs.records import CandidateRecord, EvaluationRecord, RunRecord, TrainingRecord
from rewardforge.runs.store import RunStore


def effective_status(run: RunRecord) -> str:
    """The stored status, or "interrupted" for a "running" run whose process is gone."""
    if run.status == "running" and process_alive(run) is False:
        return "interrupted"
    return run.status


def best_candidate(store: RunStore, run: RunRecord) -> CandidateRecord | None:
    """The candidate marked best, else the best by ``rank_key`` among those with a fitness."""
    if run.best_candidate_id is not None:
        return store.get_candidate(run.best_candidate_id)
    scored = [c for c in store.list_candidates(run.id) if c.fitness is not None]
    return max(scored, key=CandidateRecord.rank_key, default=None)


def best_training(store: RunStore, candidate: CandidateRecord) -> TrainingRecord | None:
    """The candidate's training with a checkpoint on disk: the longest, then the fittest. Its
    ``checkpoint`` is the file's path now (stored relative to the run folder)."""
    trainings = []
    for t in store.list_trainings(candidate_id=candidate.id):
        path = resolve_in_run(store.path.parent, candidate.run_id, t.checkpoint)
        if path is not None:
            trainings.append(replace(t, checkpoint=str(path)))
    if not trainings:
        return None
    return max(trainings, key=lambda t: (t.budget_steps, t.fitness or float("-inf"), -t.seed))


def human_normalized_score(
    method: float | None, env: float | None, sparse: float | None
) -> float | None:
    """``(method - sparse) / |env - sparse|``: 0 is the sparse reward, 1 the environment's."""
    if method is None or env is None or sparse is None:
        return None
    denominator = abs(env - sparse)
    if denominator < 1e-12 or not math.isfinite(denominator):
        return None
    return (method - sparse) / denominator


def baseline_means(evaluations: list[EvaluationRecord]) -> dict[str, float]:
    """Mean fitness per baseline name (the latest evaluation of each)."""
    return {e.baseline: e.mean for e in evaluations if e.kind == "baseline" and e.baseline}


def method_score(
    evaluations: list[EvaluationRecord], best: CandidateRecord | None
) -> tuple[float | None, str]:
    """The best candidate's final evaluation, else its search fitness; and which one it is."""
    if best is None:
        return None, "none"
    finals = [e for e in evaluations if e.kind == "final" and e.candidate_id == best.id]
    if finals:
        return finals[-1].mean, "final evaluation"
    return best.fitness, "search fitness"


def candidate_row(c: CandidateRecord) -> dict[str, Any]:
    return {
        "id": c.id,
        "iteration": c.iteration,
        "slot": c.slot,
        "attempt": c.attempt,
        "parent_id": c.parent_id,
        "designer": c.designer,
        "status": c.status,
        "fitness": c.fitness,
        "success_rate": c.success_rate,
        "error_kind": c.error_kind,
        "error": c.error,
        "content_hash": c.content_hash,
    }


def run_summary(store: RunStore, run_id: str) -> dict[str, Any]:
    """Everything ``show`` prints, as JSON-ready data."""
    run = store.get_run(run_id)
    candidates = store.list_candidates(run.id)
    evaluations = store.list_evaluations(run.id)
    best = best_candidate(store, run)
    baselines = baseline_means(evaluations)
    method, method_kind = method_score(evaluations, best)
    usage = store.model_usage(run.id)
    by_iteration: dict[int, list[int]] = {}
    for c in candidates:
        by_iteration.setdefault(c.iteration, []).append(c.id)
    return {
        "run": {
            "id": run.id,
            "task": run.task_id,
            "strategy": run.strategy,
            "status": effective_status(run),
            "stored_status": run.status,
            "created_at": run.created_at,
            "updated_at": run.updated_at,
            "error": run.error,
            "config": run.config,
            "versions": run.versions,
            "summary": run.summary,
        },
        "iterations": [
            {
                "iteration": it.iteration,
                "status": it.status,
                "best_candidate_id": it.best_candidate_id,
                "feedback": it.feedback,
                "human_feedback": it.human_feedback,
                "candidates": by_iteration.get(it.iteration, []),
            }
            for it in store.list_iterations(run.id)
        ],
        "candidates": [candidate_row(c) for c in candidates],
        "best": None
        if best is None
        else {"candidate_id": best.id, "fitness": best.fitness, "code": best.code},
        "evaluations": [
            {
                "kind": e.kind,
                "label": e.label,
                "candidate_id": e.candidate_id,
                "baseline": e.baseline,
                "mean": e.mean,
                "std": e.std,
                "per_seed": list(e.per_seed),
                "seeds": list(e.seeds),
            }
            for e in evaluations
        ],
        "baselines": baselines,
        "method_score": method,
        "method_score_kind": method_kind,
        "human_normalized_score": human_normalized_score(
            method, baselines.get("env"), baselines.get("sparse")
        ),
        "model_usage": {**asdict(usage), "total_tokens": usage.total_tokens},
    }


def _stats_line(name: str, stats: Any) -> str:
    if isinstance(stats, dict):
        parts = [f"{k} {stats[k]:.3g}" for k in ("mean", "std", "min", "max") if k in stats]
        return f"    {name}: " + ", ".join(parts)
    values = [float(v) for v in stats] if isinstance(stats, list) else []
    if not values:
        return f"    {name}: -"
    return f"    {name}: first {values[0]:.3g}, last {values[-1]:.3g}, max {max(values):.3g}"


def iteration_digest(
    store: RunStore,
    run_id: str,
    iteration: int,
    *,
    num_best: int = 3,
    animation_path: str | None = None,
) -> str:
    """Plain text about an iteration's best candidates (fitness, status, component statistics)
    for a person giving feedback between iterations."""
    candidates = store.list_candidates(run_id, iteration)
    scored = sorted(
        (c for c in candidates if c.fitness is not None), key=CandidateRecord.rank_key, reverse=True
    )
    failed = [c for c in candidates if c.error_kind]
    lines = [
        f"iteration {iteration}: {len(candidates)} candidates, {len(scored)} with a fitness, "
        f"{len(failed)} failed"
    ]
    for c in scored[:num_best]:
        lines.append(f"  candidate #{c.id} (slot {c.slot}, {c.status}): fitness {c.fitness:.4g}")
        components = c.details.training.components if c.details.training else None
        if not components:
            trainings = store.list_trainings(candidate_id=c.id)
            components = next(
                (t.metrics["components"] for t in trainings if "components" in t.metrics), {}
            )
        lines.extend(_stats_line(name, stats) for name, stats in components.items())
    for c in failed[:num_best]:
        lines.append(f"  candidate #{c.id} failed ({c.error_kind}): {(c.error or '')[:200]}")
    if animation_path:
        lines.append(f"  animation of the best policy: {animation_path}")
    return "\n".join(lines)
