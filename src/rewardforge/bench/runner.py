"""``Bench``: a suite run in a workspace, as a run of its own, resumable after any kill.

The bench run (strategy ``bench``) stores its settings (the suite, the seed, the executor) and,
in its summary, the state of every cell: its search's run id, given before the search starts,
``done`` or ``failed``, and the wall-clock of the attempt that finished it. Baseline results are
evaluations of the bench run; search results live in the searches' own runs. The cells run as
jobs on the executor (local worker processes, one per core, or Ray tasks), each search in one
process; a cell's result does not depend on which worker ran it, when, or beside what.

``resume`` builds the same plan from the stored settings and runs what is not done: a finished
search or a recorded baseline is not run again; a search that was killed continues from its
records (``Search.resume``); a baseline killed while training trains again from the start. After
every cell and at the end, ``bench.md``, ``bench.json`` and ``bench.html`` are written to the
bench's folder."""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rewardforge.bench import BENCH_STRATEGY
from rewardforge.bench.estimate import cell_seconds, load_speeds, pack, speed_key
from rewardforge.bench.events import BenchCallback, BenchCallbacks, BenchStart, CellDone
from rewardforge.bench.files import write_outputs
from rewardforge.bench.jobs import BenchJob, BenchJobResult, run_bench_job
from rewardforge.bench.plan import BenchPlan, BenchSettings, Cell
from rewardforge.bench.progress import Tracker
from rewardforge.bench.results import BenchResults, read_results
from rewardforge.errors import RunError, RunNotFoundError
from rewardforge.runs.executors import JobReport, main_reruns_on_spawn, make_executor, usable_cores
from rewardforge.runs.meta import make_run_id
from rewardforge.runs.records import RunRecord
from rewardforge.runs.workspace import Workspace
from rewardforge.tasks.registry import get_task

logger = logging.getLogger(__name__)

STRATEGY = BENCH_STRATEGY
#: Seconds between looks at the store for progress.
POLL_S = 2.0


class Bench:
    """One bench; see the module docstring. Making one checks the whole plan (tasks, configs,
    trainers, replay sources, model keys) and writes nothing; ``run()`` creates the run."""

    def __init__(
        self,
        settings: BenchSettings,
        workspace: Workspace | str | os.PathLike[str] | None = None,
        *,
        callbacks: Sequence[BenchCallback] = (),
        bench_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.workspace = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
        self.callbacks = BenchCallbacks(callbacks)
        self.bench_id = bench_id
        self.plan: BenchPlan = settings.plan(self.workspace)
        self._measured = False

    @classmethod
    def resume(
        cls,
        workspace: Workspace | str | os.PathLike[str] | None,
        bench_id: str,
        *,
        callbacks: Sequence[BenchCallback] = (),
    ) -> Bench:
        workspace = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
        if not workspace.exists:
            raise RunError(f"no workspace at {workspace.root}: it has no bench to resume")
        run = workspace.store.get_run(bench_id)
        if run.strategy != STRATEGY:
            raise RunError(f"run {run.id} is a search, not a bench")
        if run.status == "finished":
            raise RunError(
                f"bench {run.id} has already finished; its table is in "
                f"{workspace.root / run.id}/bench.md. Start a new bench instead"
            )
        settings = BenchSettings.model_validate(run.config)
        return cls(settings, workspace, callbacks=callbacks, bench_id=run.id)

    @property
    def workers(self) -> int:
        return self.settings.workers or usable_cores()

    @property
    def folder(self) -> Path:
        if self.bench_id is None:
            raise RunError("the bench has no run yet: call run()")
        return self.workspace.run_dir(self.bench_id)

    # --- the run --------------------------------------------------------------------------
    def run(self) -> BenchResults:
        """Run (or continue) every cell not done; returns the table."""
        store = self.workspace.store
        run = self._open()
        resumed = bool(run.summary.get("cells"))
        store.set_run_status(run.id, "running", error=None)
        try:
            self._cells(run, resumed)
            store.set_run_status(run.id, "finished")
        except KeyboardInterrupt:
            store.set_run_status(run.id, "interrupted", error="interrupted by the user")
            raise
        except BaseException as exc:
            store.set_run_status(run.id, "failed", error=f"{type(exc).__name__}: {exc}")
            raise
        results = self._write()
        store.update_run_summary(run.id, {"table": _brief(results)})
        self.callbacks.on_bench_end(results)
        return results

    def _open(self) -> RunRecord:
        store = self.workspace.store
        if self.bench_id is not None:
            return store.get_run(self.bench_id)
        settings = self.settings.model_dump(mode="json")
        run = store.create_run(self.settings.suite.name, STRATEGY, settings)
        self.bench_id = run.id
        return run

    def _cells(self, run: RunRecord, resumed: bool) -> None:
        store = self.workspace.store
        states: dict[str, dict[str, Any]] = {
            k: dict(v) for k, v in run.summary.get("cells", {}).items()
        }
        for cell in self.plan.cells:
            state = states.setdefault(cell.key, {"task": cell.task_id, "method": cell.method,
                                                 "kind": cell.kind, "status": "pending"})  # fmt: skip
            if state.get("status") != "done" and self._recorded(run.id, cell, state):
                state["status"] = "done"
            if cell.kind == "search" and not state.get("run_id"):
                state["run_id"] = make_run_id(cell.task_id, cell.strategy)
        self._save(states)
        todo = [c for c in self.plan.cells if states[c.key]["status"] != "done"]
        costs = self._costs()
        tracker = Tracker(self.plan, store, states, costs)
        wall = pack([costs[c.key] for c in todo], self.workers) if self._measured else None
        self.callbacks.on_bench_start(BenchStart(
            run.id, self.plan, resumed, len(self.plan.cells) - len(todo), self.workers, wall,
        ))  # fmt: skip
        todo.sort(key=lambda c: costs[c.key], reverse=True)  # longest first: the shortest wall
        jobs = [self._job(c, states[c.key]) for c in todo]
        for report in self._reports(jobs, tracker):
            cell = todo[report.index]
            self._record(cell, states[cell.key], report)
            tracker.finished(cell.key)
            self._save(states)
            self._write()
            self.callbacks.on_cell_end(_done_event(cell, states[cell.key], self._cell_text(cell)))
            self.callbacks.on_progress(tracker.progress())

    def _recorded(self, bench_id: str, cell: Cell, state: dict[str, Any]) -> bool:
        """Whether the cell's result is in the store (a kill may have come before the state)."""
        store = self.workspace.store
        if cell.kind == "baseline":
            return any(
                e.details.get("task") == cell.task_id and e.details.get("method") == cell.method
                for e in store.list_evaluations(bench_id, kind="baseline")
            )
        try:
            return bool(state.get("run_id")) and store.get_run(state["run_id"]).status == "finished"
        except RunNotFoundError:
            return False

    def _job(self, cell: Cell, state: dict[str, Any]) -> BenchJob:
        policy = self.settings.suite.fitness_policy
        return BenchJob(
            workspace=str(self.workspace.root), key=cell.key, task=cell.task, method=cell.method,
            run_id=state.get("run_id"), config=cell.config.to_dict() if cell.config else None,
            baseline=cell.baseline, trainer=cell.trainer, num_steps=cell.num_steps,
            seeds=cell.seeds, eval_policy=None if policy == "auto" else policy,
            target=cell.target, eval_every=cell.eval_every,
        )  # fmt: skip

    def _reports(self, jobs: list[BenchJob], tracker: Tracker) -> Any:
        """The jobs' reports as they finish, with the progress polled in between."""
        if not jobs:
            return
        if self.settings.executor == "local" and main_reruns_on_spawn():
            logger.warning(
                "running the bench's cells in this process, one at a time: worker processes "
                "would run this program again (its top level has no `if __name__ == "
                '"__main__":` guard). Add the guard to run them at once.'
            )
            for i, job in enumerate(jobs):
                yield _here(i, job)
            return
        executor = make_executor(
            self.settings.executor, workers=self.settings.workers, address=self.settings.ray_address
        )
        reports: queue.Queue[Any] = queue.Queue()

        def feed() -> None:
            try:
                for report in executor.map_unordered(run_bench_job, jobs):
                    reports.put(report)
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                reports.put(exc)
            reports.put(None)

        thread = threading.Thread(target=feed, name="bench-jobs", daemon=True)
        thread.start()
        try:
            while True:
                try:
                    item = reports.get(timeout=POLL_S)
                except queue.Empty:
                    for event in tracker.poll():
                        self.callbacks.on_training(event)
                    self.callbacks.on_progress(tracker.progress())
                    continue
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            executor.close()

    def _record(self, cell: Cell, state: dict[str, Any], report: JobReport[BenchJobResult]) -> None:
        result = report.result
        state["attempts"] = [*state.get("attempts", []), *report.attempts]
        if result is None:
            state.update(status="failed", error=report.error or "no result")
            logger.warning("bench cell %s failed: %s", cell.key, state["error"])
            return
        if cell.baseline is not None:
            self.workspace.store.record_evaluation(
                self.bench_id or "", kind="baseline", baseline=cell.baseline,
                per_seed=result.baseline["per_seed"], seeds=cell.seeds,
                details={**result.baseline["details"], "wall_time_s": result.wall_time_s},
            )  # fmt: skip
        state.update(status="done", error=None, wall_time_s=result.wall_time_s)

    def _save(self, states: dict[str, dict[str, Any]]) -> None:
        self.workspace.store.update_run_summary(self.bench_id or "", {"cells": states})

    def _costs(self) -> dict[str, float]:
        """Each cell's estimated seconds at this machine's measured speed (0: not measured)."""
        speeds = load_speeds(self.workspace.root)
        out = {}
        for cell in self.plan.cells:
            speed = speeds.get(speed_key(cell))
            out[cell.key] = cell_seconds(cell, speed, get_task(cell.task)) if speed else 0.0
        self._measured = all(out.values())
        if not self._measured:  # not measured here: environment steps stand in
            out = {c.key: float(c.env_steps) for c in self.plan.cells}
        return out

    def results(self) -> BenchResults:
        if self.bench_id is None:
            raise RunError("the bench has no run yet: call run()")
        return read_results(self.workspace.store, self.bench_id)

    def _write(self) -> BenchResults:
        results = self.results()
        write_outputs(results, self.folder)
        return results

    def _cell_text(self, cell: Cell) -> str:
        c = self.results().cell(cell.task_id, cell.method)
        if c.fitness is None:
            return c.error or c.note or c.status
        text = f"{c.fitness.mean:.3f} ± {c.fitness.std:.3f} over {len(c.fitness.per_seed)} seeds"
        if c.normalized is not None:
            text += f", normalized {c.normalized:.2f}"
        return text


def _here(index: int, job: BenchJob) -> JobReport[BenchJobResult]:
    try:
        return JobReport(index, run_bench_job(job), None, ("here",))
    except Exception as exc:  # noqa: BLE001 - a failed cell is recorded; the bench goes on
        return JobReport(index, None, f"{type(exc).__name__}: {exc}", ("here",))


def _done_event(cell: Cell, state: dict[str, Any], text: str) -> CellDone:
    return CellDone(cell.task_id, cell.method, state["status"], text,
                    float(state.get("wall_time_s") or 0.0), state.get("run_id"))  # fmt: skip


def _brief(results: BenchResults) -> dict[str, Any]:
    """The per-method figures kept in the bench run's summary (``rewardforge runs``)."""
    return {
        s.method: {
            "mean_normalized": s.mean_normalized,
            "at_or_above_env": s.at_or_above_env,
            "compared": s.compared,
        }  # fmt: skip
        for s in results.summaries
    }


__all__ = ["POLL_S", "STRATEGY", "Bench"]
