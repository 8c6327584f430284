"""The training step of a search: an iteration's kept candidates trained with successive
halving, in this process or split into groups on the executor, and every outcome recorded.

With one group (one worker, or one candidate) the candidates train as one population here;
otherwise ``executor.workers`` groups train at once as jobs (``search/jobs.py``), each in a
process with one torch thread, and each group is recorded as it ends. A judge
(``strategy.judge: scripted``) travels with the jobs; a VLM judge keeps training here."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rewardforge.rewards.sandbox import RewardSandbox, SandboxedReward
from rewardforge.rl.base import Trainer
from rewardforge.runs.details import CandidateDetails, JobDetails, TrainingDetails
from rewardforge.runs.executors import Executor, main_reruns_on_spawn
from rewardforge.runs.store import RunStore
from rewardforge.runs.workspace import Workspace
from rewardforge.search import callbacks as cb
from rewardforge.search.config import SearchConfig
from rewardforge.search.jobs import failed_outcomes, run_training_job, split_jobs, store_files
from rewardforge.search.training import CandidateOutcome, train_candidates
from rewardforge.search.trajectories import save_trajectories
from rewardforge.tasks.spec import Task

if TYPE_CHECKING:
    from rewardforge.rewards.program import RewardProgram
    from rewardforge.runs.records import CandidateRecord
    from rewardforge.search.screening import Trajectory

logger = logging.getLogger(__name__)

#: Trajectories kept per iteration for screening, and the episodes collected per member.
MAX_TRAJECTORIES = 48
TRAJECTORY_EPISODES = 2
FINISHED = ("trained", "stopped_early", "failed")


class Kept(Protocol):
    """A checked candidate that passed (``steps.Checked``)."""

    @property
    def record(self) -> CandidateRecord: ...

    @property
    def check(self) -> Any: ...


class Host(Protocol):
    """What the training step uses of ``SearchSteps``."""

    config: SearchConfig
    task: Task
    workspace: Workspace
    callbacks: cb.SearchCallback
    seeds: list[int]
    num_steps: int
    iteration: int | None

    @property
    def eval_every(self) -> int | None: ...

    @property
    def run_id(self) -> str: ...
    @property
    def run_dir(self) -> Path: ...
    @property
    def store(self) -> RunStore: ...
    @property
    def trainer(self) -> Trainer: ...
    @property
    def trainer_name(self) -> str: ...
    @property
    def hparams(self) -> dict[str, Any]: ...
    @property
    def sandbox(self) -> RewardSandbox: ...
    @property
    def executor(self) -> Executor: ...
    def trajectory_path(self, it: int) -> Path: ...


class Trainings:
    """Train and record (see the module docstring)."""

    def __init__(self, host: Host) -> None:
        self.host = host

    def run(
        self, it: int, kept: Sequence[Kept], *, rungs: Sequence[float], eta: float,
        trajectories: bool, target: float | None = None,
    ) -> list[CandidateOutcome]:  # fmt: skip
        self.target, self.eval_every = target, self.host.eval_every
        if not kept or all(c.record.status in FINISHED for c in kept):
            return []  # every outcome was recorded before a kill: not trained again
        for c in kept:
            self.host.store.update_candidate(c.record.id, status="training")
        episodes = TRAJECTORY_EPISODES if trajectories else 0
        ex = self.host.config.executor
        groups = min(ex.workers or 1, len(kept)) if ex.name == "local" else len(kept)
        if groups > 1 and ex.name == "local" and main_reruns_on_spawn():
            logger.warning(
                "training %d candidates in this process, one at a time: worker processes would "
                "run this program again (its top level has no `if __name__ == \"__main__\":` "
                "guard). Add the guard to train %d at once.", len(kept), groups,
            )  # fmt: skip
            groups = 1
        if groups <= 1:
            return self._here(it, kept, tuple(rungs), eta, episodes)
        return self._apart(it, kept, tuple(rungs), eta, episodes)

    def _here(
        self, it: int, kept: Sequence[Kept], rungs: tuple[float, ...], eta: float, episodes: int
    ) -> list[CandidateOutcome]:
        """One population of all kept candidates, trained in this process."""
        h = self.host
        rewards = [
            (c.record.id, SandboxedReward(h.sandbox, _program(c), name=f"c{c.record.id}"))
            for c in kept
        ]

        def on_rung(index: int, steps: int, scores: dict[int, float]) -> None:
            h.callbacks.on_training_progress(cb.TrainingProgress(it, index, steps, dict(scores)))

        try:
            outcomes, collected = train_candidates(
                h.trainer, rewards, h.seeds, h.num_steps, rungs=rungs, eta=eta,
                checkpoint_dir=h.workspace.checkpoint_dir(h.run_id) / f"iteration_{it}",
                log_dir=h.workspace.tb_dir(h.run_id) / f"iteration_{it}",
                on_rung=on_rung, trajectory_episodes=episodes,
                target=self.target, eval_every=self.eval_every,
            )  # fmt: skip
        finally:
            for _, fn in rewards:
                fn.close()
        self._save_trajectories(it, collected)
        for outcome in outcomes:
            self.record(outcome)
        return outcomes

    def _apart(
        self, it: int, kept: Sequence[Kept], rungs: tuple[float, ...], eta: float, episodes: int
    ) -> list[CandidateOutcome]:
        """Groups of candidates as jobs on the executor; each group is recorded as it ends."""
        h = self.host
        strategy = h.config.strategy
        jobs = split_jobs(
            [(c.record.id, _program(c).source) for c in kept], h.executor.parallelism,
            task=h.task, trainer=h.trainer_name, hparams=h.hparams,
            device=h.config.training.device, seeds=tuple(h.seeds), num_steps=h.num_steps,
            rungs=rungs, eta=eta, folder=f"iteration_{it}", trajectory_episodes=episodes,
            judge=h.config.teacher if getattr(strategy, "judge", None) else None,
            seed=h.config.seed, target=self.target, eval_every=self.eval_every,
        )  # fmt: skip
        by_cid: dict[int, CandidateOutcome] = {}
        collected: dict[int, list[Trajectory]] = {}
        retries = 0
        for report in h.executor.map_unordered(run_training_job, jobs):
            job, output = jobs[report.index], report.result
            if output is None:
                outcomes = failed_outcomes(job, report.error or "no result")
            else:
                store_files(output, h.run_dir)
                outcomes, collected[job.group] = output.outcomes, output.trajectories
                for index, steps, scores in output.rungs:
                    event = cb.TrainingProgress(it, index, steps, dict(scores), job.group)
                    h.callbacks.on_training_progress(event)
            retries += report.retries
            where = JobDetails(
                executor=h.executor.name, group=job.group, attempts=tuple(report.attempts)
            )
            for o in outcomes:
                self.record(o, job=where)
                by_cid[o.candidate_id] = o
        if retries:
            total = int(h.store.get_run(h.run_id).summary.get("worker_retries", 0)) + retries
            h.store.update_run_summary(h.run_id, {"worker_retries": total})
        self._save_trajectories(it, [t for g in sorted(collected) for t in collected[g]])
        return [by_cid[c.record.id] for c in kept if c.record.id in by_cid]

    def _save_trajectories(self, it: int, trajectories: list[Trajectory]) -> None:
        if trajectories:
            step = max(1, len(trajectories) // MAX_TRAJECTORIES)
            kept = trajectories[::step][:MAX_TRAJECTORIES]
            save_trajectories(self.host.trajectory_path(it), kept)

    def record(self, o: CandidateOutcome, *, job: JobDetails | None = None) -> None:
        """Store one outcome: a training row per seed, the candidate's fitness and summary."""
        h = self.host
        components = o.components()
        metrics = {"curve": o.curve, "components": components, "reflection": o.reflection}
        status = {"trained": "finished"}.get(o.status, o.status)
        for j, seed in enumerate(o.seeds):
            evaluation = o.per_seed[j] if j < len(o.per_seed) else None
            h.store.record_training(
                o.candidate_id, seed=seed, budget_steps=o.steps, status=status, member=j,
                fitness=evaluation.fitness if evaluation else None,
                metrics={**metrics, "eval": evaluation.to_dict() if evaluation else {}},
                checkpoint=o.checkpoints[j] if j < len(o.checkpoints) else None,
                wall_time_s=o.wall_time_s,
            )  # fmt: skip
        training = TrainingDetails(
            steps=o.steps, components=components, reflection=o.reflection, feedback=o.feedback,
            job=job,
        )  # fmt: skip
        h.store.update_candidate(
            o.candidate_id, status=o.status, fitness=o.fitness, success_rate=o.success_rate,
            error_kind="runtime" if o.error else None, error=o.error,
            details=CandidateDetails(training=training),
        )  # fmt: skip
        event = cb.CandidateScored(
            h.iteration if h.iteration is not None else -1, o.candidate_id, o.status,
            o.fitness, o.success_rate,
        )  # fmt: skip
        h.callbacks.on_candidate_scored(event)


def _program(c: Kept) -> RewardProgram:
    program = c.check.program
    if program is None:
        raise ValueError(f"candidate {c.record.id} did not pass its checks; it cannot train")
    return program  # type: ignore[no-any-return]


__all__ = ["FINISHED", "MAX_TRAJECTORIES", "TRAJECTORY_EPISODES", "Host", "Trainings"]
