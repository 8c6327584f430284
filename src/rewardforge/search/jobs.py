"""Training jobs: an iteration's candidates split into groups that train in other processes.

A ``TrainingJob`` holds everything a fresh process (a local worker or a Ray worker on another
machine) needs to train one group: the task, the trainer and its hyperparameters, each
candidate's reward source, seeds and budgets. ``run_training_job`` runs in that process: it
starts its own reward sandbox (the same confinement as a local run), trains the group with
``train_candidates`` (successive halving inside the group) and returns the outcomes, the
trajectories, the rung scores, and its checkpoints and logs as bytes, since the worker's disk
need not be the driver's. ``store_files`` writes those into the run's artifact folder.

Splitting trades a little search quality for wall time: each group halves on its own, so with
W groups more candidates reach the full budget than in one population of all K (4 candidates
in 2 groups with eta 2: 2 trained fully instead of 1). With one group it is the same training
as in the driver's process.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewardforge.errors import RunError
from rewardforge.search.config import TeacherSettings
from rewardforge.search.screening import Trajectory
from rewardforge.search.training import CandidateOutcome, train_candidates
from rewardforge.tasks.spec import Task

#: Where a job's files go, relative to the run's artifact folder (as in the driver's runs).
CHECKPOINTS, LOGS = "checkpoints", "tb"


@dataclass(frozen=True)
class TrainingJob:
    """One group of an iteration's candidates, trained together in one process."""

    task: Task
    trainer: str
    hparams: dict[str, Any]
    device: str
    candidates: tuple[tuple[int, str], ...]  # (candidate id, reward source)
    seeds: tuple[int, ...]
    num_steps: int
    rungs: tuple[float, ...]
    eta: float
    folder: str  # relative to checkpoints/ and tb/: "iteration_0/group_1"
    trajectory_episodes: int = 0
    group: int = 0
    judge: TeacherSettings | None = None  # a scripted judge's settings: fitness by tournament
    seed: int = 0  # the run's seed (the judge's random stream)
    target: float | None = None  # a candidate that reaches it stops (train_candidates)
    eval_every: int | None = None


@dataclass
class JobOutput:
    """What a job sends back; checkpoint paths in ``outcomes`` are relative to the run folder."""

    outcomes: list[CandidateOutcome]
    trajectories: list[Trajectory]
    rungs: list[tuple[int, int, dict[int, float]]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    wall_time_s: float = 0.0
    sandbox_layers: tuple[str, ...] = ()  # the containment layers active in the worker


def split_jobs(
    candidates: Sequence[tuple[int, str]], num_groups: int, **common: Any
) -> list[TrainingJob]:
    """``candidates`` dealt round robin into at most ``num_groups`` jobs (none empty)."""
    num_groups = max(1, min(num_groups, len(candidates)))
    folder = common.pop("folder")
    return [
        TrainingJob(
            candidates=tuple(candidates[g::num_groups]),
            folder=f"{folder}/group_{g}",
            group=g,
            **common,
        )
        for g in range(num_groups)
    ]


def run_training_job(job: TrainingJob) -> JobOutput:
    """Train ``job``'s group in this process, in a sandbox of its own; see the module doc."""
    from rewardforge.rewards.program import RewardProgram
    from rewardforge.rewards.sandbox import RewardSandbox, SandboxedReward
    from rewardforge.search.teachers import make_search_trainer, scripted_teacher

    start = time.perf_counter()
    judge = scripted_teacher(job.judge, job.task, job.seed) if job.judge else None
    trainer = make_search_trainer(
        job.trainer, job.task, device=job.device, hparams=job.hparams, judge=judge,
        settings=job.judge,
    )  # fmt: skip
    rungs: list[tuple[int, int, dict[int, float]]] = []
    with tempfile.TemporaryDirectory(prefix="rewardforge-job-") as tmp, RewardSandbox() as sandbox:
        root = Path(tmp)
        rewards = [
            (
                cid,
                SandboxedReward(sandbox, RewardProgram.from_source(code, job.task), name=f"c{cid}"),
            )
            for cid, code in job.candidates
        ]
        try:
            outcomes, trajectories = train_candidates(
                trainer,
                rewards,
                job.seeds,
                job.num_steps,
                rungs=job.rungs,
                eta=job.eta,
                checkpoint_dir=root / CHECKPOINTS / job.folder,
                log_dir=root / LOGS / job.folder,
                on_rung=lambda index, steps, scores: rungs.append((index, steps, dict(scores))),
                trajectory_episodes=job.trajectory_episodes,
                target=job.target,
                eval_every=job.eval_every,
            )
        finally:
            for _, fn in rewards:
                fn.close()
        for outcome in outcomes:
            outcome.checkpoints = [
                None if p is None else str(Path(p).relative_to(root)) for p in outcome.checkpoints
            ]
        files = {
            str(path.relative_to(root)): path.read_bytes()
            for path in sorted(root.rglob("*"))
            if path.is_file()
        }
        layers = tuple(layer.name for layer in sandbox.layers if layer.active)
    return JobOutput(outcomes, trajectories, rungs, files, time.perf_counter() - start, layers)


def store_files(output: JobOutput, run_dir: Path) -> None:
    """Write a job's files into ``run_dir`` and make its checkpoint paths absolute there."""
    run_dir = run_dir.resolve()
    for name, data in output.files.items():
        path = (run_dir / name).resolve()
        if not path.is_relative_to(run_dir / CHECKPOINTS) and not path.is_relative_to(
            run_dir / LOGS
        ):
            raise RunError(f"a training job sent back {name!r}, outside checkpoints/ and tb/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    for outcome in output.outcomes:
        outcome.checkpoints = [None if p is None else str(run_dir / p) for p in outcome.checkpoints]


def failed_outcomes(job: TrainingJob, error: str) -> list[CandidateOutcome]:
    """The group's candidates when its job failed for good (all retries spent)."""
    message = f"training job {job.folder} failed: {error}"
    return [
        CandidateOutcome(cid, status="failed", seeds=list(job.seeds), error=message)
        for cid, _ in job.candidates
    ]
