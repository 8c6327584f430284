"""Animations of policies from the environment's rgb_array frames: ``render_policy_gif`` for
any policy function, ``animate_candidate`` for the policy a run trained on a candidate's reward."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rewardforge.errors import MissingExtraError, RewardforgeError, RunError
from rewardforge.runs.store import RunStore
from rewardforge.tasks.spec import Task
from rewardforge.tasks.vecenv import make_env

logger = logging.getLogger(__name__)

Policy = Callable[[np.ndarray], np.ndarray]


def _frame(rendered: Any) -> np.ndarray:
    """One (H, W, 3) uint8 frame from what a vector environment's render returns."""
    if isinstance(rendered, (list, tuple)):
        rendered = rendered[0] if rendered else None
    if rendered is None:
        raise RunError("the environment rendered nothing (render_mode 'rgb_array' unsupported?)")
    frame = np.asarray(rendered)
    if frame.ndim == 4:
        frame = frame[0]
    if frame.ndim != 3 or frame.shape[-1] not in (3, 4):
        raise RunError(f"expected an (H, W, 3) frame from render(), got shape {frame.shape}")
    return frame[..., :3].astype(np.uint8)


def render_policy_gif(
    task: Task,
    policy_fn: Policy,
    path: str | Path,
    num_frames: int = 200,
    *,
    seed: int = 0,
    fps: int = 30,
    frame_skip: int = 1,
) -> Path:
    """Roll ``policy_fn`` (batched obs (1, ...) -> actions (1, ...)) and write a looping GIF.

    Raises ``RunError`` with the reason when the environment cannot render (for instance
    classic-control environments without pygame); callers record the reason in the report.
    """
    try:
        import imageio.v2 as imageio
    except ImportError:
        raise MissingExtraError("imageio", "render", "Writing an animation of a policy") from None
    path = Path(path)
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # pygame prints on import otherwise
    # frames are drawn off screen; without a display SDL would complain on stderr
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    try:
        env = make_env(task, num_envs=1, seed=seed, render_mode="rgb_array")
    except Exception as exc:
        raise RunError(f"task {task.id} cannot be rendered: {type(exc).__name__}: {exc}") from exc
    frames: list[np.ndarray] = []
    try:
        obs = env.reset(seed=seed)
        for step in range(num_frames * frame_skip):
            if step % frame_skip == 0:
                frames.append(_frame(env.render()))
            result = env.step(np.asarray(policy_fn(obs)))
            obs = result.obs
    except RunError:
        raise
    except Exception as exc:
        raise RunError(
            f"rendering task {task.id} failed: {type(exc).__name__}: {exc}. Classic-control "
            "environments render with pygame: pip install 'rewardforge[render]'"
        ) from exc
    finally:
        env.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.mimsave(
        path,
        frames,  # type: ignore[arg-type]
        format="GIF",
        duration=1000 / fps,
        loop=0,
    )
    logger.info("wrote %d frames to %s", len(frames), path)
    return path


def animate_candidate(
    store: RunStore,
    run_id: str,
    path: str | Path,
    *,
    candidate_id: int | None = None,
    task: Task | None = None,
    num_frames: int = 150,
) -> Path:
    """A GIF of the policy trained on a candidate's reward (the run's best by default), from
    its recorded checkpoint. Raises ``RunError`` saying why when there is none to show or the
    environment cannot render."""
    from rewardforge.rl.checkpoint import load_policy
    from rewardforge.runs.summary import best_candidate, best_training

    run = store.get_run(run_id)
    candidate = store.get_candidate(candidate_id) if candidate_id else best_candidate(store, run)
    if candidate is None:
        raise RunError(f"run {run.id} has no trained candidate to animate yet")
    training = best_training(store, candidate)
    if training is None or training.checkpoint is None:
        raise RunError(f"candidate #{candidate.id} has no policy checkpoint on disk to animate")
    if Path(training.checkpoint).suffix == ".zip":
        raise RunError(
            f"candidate #{candidate.id} was trained by Stable-Baselines3; its animation is not "
            "rendered here (load the .zip with SB3 and record it with gymnasium's RecordVideo)"
        )
    if task is None:
        from rewardforge.tasks import get_task

        task = get_task(run.task_id)
    try:
        policy = load_policy(training.checkpoint)
    except RewardforgeError as exc:
        raise RunError(f"cannot animate candidate #{candidate.id}: {exc}") from exc
    # spread the frames over one episode's length: a long episode plays faster, not cut short
    skip = max(1, task.max_episode_steps // num_frames)
    return render_policy_gif(
        task, policy.act, path, num_frames, seed=training.seed, frame_skip=skip
    )


def ensure_best_animation(store: RunStore, run_id: str, path: str | Path) -> Path | None:
    """``path`` when it holds the best policy's GIF (rendered now if missing), else None with
    the reason kept in the run's summary as ``animation_error`` (the report shows it)."""
    path = Path(path)
    if path.is_file():
        return path
    try:
        return animate_candidate(store, run_id, path)
    except RunError as exc:
        logger.info("no animation for run %s: %s", run_id, exc)
        if not store.readonly:  # a read-only workspace is only read
            store.update_run_summary(run_id, {"animation_error": str(exc)})
        return None
