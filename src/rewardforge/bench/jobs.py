"""What a worker process (a local worker or a Ray task) runs for one cell of a bench.

A search cell runs ``Search`` on the bench's workspace under the run id the bench gave it: the
first time it creates that run, after a kill it continues it (``Search.resume`` trains nothing
that was recorded), and once the run is finished there is nothing to do. So a search of a bench
is an ordinary run: ``rewardforge show``, ``report`` and ``export`` work on it. A baseline cell
trains the environment's or the sparse reward with the task's trainer over the bench's seeds
and sends its figures back; the bench records them.

Every process that runs a cell writes to the workspace's store, so with Ray every node must see
the workspace at the same path (one machine, or a shared file system)."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from typing import Any

from rewardforge.errors import RunError, RunNotFoundError

#: Seconds between looks at a run that another live process is still running.
WAIT_POLL_S = 2.0


@dataclass(frozen=True)
class BenchJob:
    """One cell, with everything a fresh process needs."""

    workspace: str
    key: str
    task: str
    method: str
    run_id: str | None = None  # search cells
    config: dict[str, Any] | None = None  # search cells: the SearchConfig as stored
    baseline: str | None = None  # baseline cells
    trainer: str = ""
    num_steps: int = 0
    seeds: tuple[int, ...] = ()
    eval_policy: str | None = None
    target: float | None = None  # a baseline's training stops at it, as in a final evaluation
    eval_every: int | None = None


@dataclass
class BenchJobResult:
    key: str
    wall_time_s: float
    host: str
    run_id: str | None = None
    baseline: dict[str, Any] = field(default_factory=dict)  # per_seed, details


def run_bench_job(job: BenchJob) -> BenchJobResult:
    """Run one cell here; raises what the search or training raised (the bench records it)."""
    start = time.perf_counter()
    if job.baseline is not None:
        figures = _train_baseline(job)
        return BenchJobResult(job.key, time.perf_counter() - start, socket.gethostname(),
                              baseline=figures)  # fmt: skip
    _run_search(job)
    return BenchJobResult(job.key, time.perf_counter() - start, socket.gethostname(), job.run_id)


def _run_search(job: BenchJob) -> None:
    from rewardforge.runs.meta import process_alive
    from rewardforge.search.config import SearchConfig
    from rewardforge.search.runner import Search

    workspace = _workspace(job.workspace)
    if job.run_id is None or job.config is None:
        raise RunError(f"bench cell {job.key} has no run id or config")
    store = workspace.store
    try:
        run = store.get_run(job.run_id)
    except RunNotFoundError:
        run = None
    if run is None:
        config = SearchConfig.from_stored(job.config)
        Search(config, workspace, new_run_id=job.run_id).run()
        return
    while run.status == "running" and run.pid is not None and process_alive(run):
        time.sleep(WAIT_POLL_S)  # still run by a process a killed bench left behind
        run = store.get_run(job.run_id)
    if run.status != "finished":
        Search.resume(workspace, job.run_id).run()


def _workspace(root: str) -> Any:
    from rewardforge.runs.workspace import Workspace

    workspace = Workspace(root)
    if not workspace.exists:
        raise RunError(
            f"the bench's workspace {root} is not there on {socket.gethostname()}: every "
            "process that runs a cell writes to it, so with --executor ray every node must see "
            "the workspace at the same path (one machine, or a shared file system)"
        )
    return workspace


def _train_baseline(job: BenchJob) -> dict[str, Any]:
    from rewardforge.rewards.base import get_baseline
    from rewardforge.rl.registry import make_trainer
    from rewardforge.search.final import final_evaluation
    from rewardforge.tasks.registry import get_task

    _workspace(job.workspace)
    task = get_task(job.task)
    trainer = make_trainer(job.trainer, task, eval_policy=job.eval_policy)
    if job.baseline is None:
        raise RunError(f"bench cell {job.key} is not a baseline")
    arm = final_evaluation(
        trainer, get_baseline(job.baseline), job.seeds, job.num_steps, baselines=False,
        target=job.target, eval_every=job.eval_every,
    ).method  # fmt: skip
    return {
        "per_seed": list(arm.per_seed),
        "details": {
            "task": task.id,
            "method": job.method,
            "num_steps": job.num_steps,
            "env_steps": sum(arm.steps),
            "steps": list(arm.steps),
            "success_rates": list(arm.success_rates),
            "target": job.target,
            **arm.policies,
        },
    }


__all__ = ["BenchJob", "BenchJobResult", "run_bench_job"]
