"""Reflection: turn what training showed into data for the offline designer and text for a
model; and the digest a person reads before giving feedback."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rewardforge.errors import RunError
from rewardforge.report.animation import animate_candidate
from rewardforge.rl.types import ReflectionSnapshot, TrainResult
from rewardforge.runs.store import RunStore
from rewardforge.runs.summary import iteration_digest
from rewardforge.tasks.spec import Task


def reflection_data(snapshots: Sequence[ReflectionSnapshot]) -> dict[str, Any]:
    """Snapshots as series: ``{"components": {name: {"mean": [...], "min": [...], "max": [...]}}, ...}``."""
    comps: dict[str, dict[str, list[float]]] = {}
    for snap in snapshots:
        for name, stats in snap.components.items():
            series = comps.setdefault(name, {"mean": [], "min": [], "max": []})
            series["mean"].append(float(stats.mean))
            series["min"].append(float(stats.min))
            series["max"].append(float(stats.max))
    return {
        "steps": [int(s.step) for s in snapshots],
        "components": comps,
        "success_rate": [float(s.success_rate) for s in snapshots],
        "episode_length": [float(s.mean_length) for s in snapshots],
        "env_return": [float(s.mean_env_return) for s in snapshots],
    }


def _series(values: Sequence[float]) -> str:
    if not values:
        return "[] (no episode finished)"
    shown = ", ".join(f"{v:.3g}" for v in values)
    return f"[{shown}], max {max(values):.3g}, mean {sum(values) / len(values):.3g}, min {min(values):.3g}"


def reflection_text(result: TrainResult | None, data: dict[str, Any] | None = None) -> str:
    """Eureka-style policy feedback: each component's per-episode sum over training, then metrics."""
    data = data if data is not None else reflection_data(result.reflection if result else ())
    if not data.get("steps"):
        return (
            "Training finished no episode, so there are no statistics about the reward components."
        )
    lines = [
        "We trained a policy with this reward and tracked each reward component's per-episode sum, "
        f"plus the success rate and episode length, at {len(data['steps'])} points during training "
        f"(steps {data['steps'][0]} to {data['steps'][-1]}):"
    ]
    for name, series in data["components"].items():
        lines.append(f"- {name}: {_series(series['mean'])}")
    lines.append(f"- success_rate: {_series(data['success_rate'])}")
    lines.append(f"- episode_length: {_series(data['episode_length'])}")
    if result is not None and result.fitness is not None:
        fit = result.fitness
        lines.append(
            f"Final evaluation over {fit.num_episodes} episodes: fitness {fit.fitness:.3f}, "
            f"success rate {fit.success_rate:.2f}, mean episode length {fit.mean_length:.1f}."
        )
    return "\n".join(lines)


def feedback_digest(
    store: RunStore, run_id: str, run_dir: Path, it: int, candidate_id: int | None, task: Task
) -> str:
    """What a person giving feedback after iteration ``it`` sees: its best candidates, their
    component statistics, and the path of an animation of the best one's policy (rendered now,
    to ``<run>/animations/iteration_<it>.gif``)."""
    animation = None
    if candidate_id is not None:
        path = run_dir / "animations" / f"iteration_{it}.gif"
        try:
            animation = str(
                animate_candidate(store, run_id, path, candidate_id=candidate_id, task=task)
            )
        except RunError as exc:  # the digest says why there is none
            animation = f"none ({exc})"
    return iteration_digest(store, run_id, it, animation_path=animation)
