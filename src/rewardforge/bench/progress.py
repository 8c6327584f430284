"""How far a bench has come, read from the store while its cells run elsewhere.

Every few seconds the bench looks at its searches' runs: each training recorded since the last
look is an event (one line per finished training), and each cell's share of its planned
environment steps, weighted by the cell's estimated cost, is the bench's progress. The time left
is the work left at the speed this process has seen (work done since it started over the time it
took), so it holds whatever the machine's load."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from rewardforge.bench.events import BenchProgress, TrainingDone
from rewardforge.bench.plan import BenchPlan, Cell
from rewardforge.bench.results import final_steps
from rewardforge.errors import RunNotFoundError
from rewardforge.runs.store import RunStore


class Tracker:
    """See the module docstring. ``costs``: each cell's estimated cost (seconds, or any unit)."""

    def __init__(
        self,
        plan: BenchPlan,
        store: RunStore,
        states: Mapping[str, dict[str, Any]],
        costs: Mapping[str, float],
    ) -> None:
        self.plan, self.store, self.states = plan, store, states
        self.costs = {c.key: max(costs.get(c.key, 0.0), 1e-9) for c in plan.cells}
        self.seen: dict[str, set[tuple[int, int, int]]] = {}  # trainings per run
        self.start = time.perf_counter()
        self._fractions: dict[str, float] = {}
        self.poll()  # what was there before: no events, and not work of this process
        self.work_at_start = self._work()

    def poll(self) -> list[TrainingDone]:
        """New trainings since the last poll (none the first time), and fresh fractions."""
        events: list[TrainingDone] = []
        for cell in self.plan.cells:
            state = self.states.get(cell.key, {})
            if state.get("status") in ("done", "failed"):
                self._fractions[cell.key] = 1.0
                continue
            run_id = state.get("run_id")
            if cell.kind != "search" or not run_id:
                self._fractions[cell.key] = 0.0
                continue
            steps, new = self._run(cell, run_id)
            self._fractions[cell.key] = min(1.0, steps / max(cell.env_steps, 1))
            events += new
        return events

    def _run(self, cell: Cell, run_id: str) -> tuple[int, list[TrainingDone]]:
        """Environment steps the run has recorded, and its trainings not seen before."""
        try:
            iterations = self.store.list_iterations(run_id)
        except RunNotFoundError:
            return 0, []
        finished = {i.iteration for i in iterations if i.status == "finished"}
        steps = sum(
            int(i.details.get("env_steps", 0)) for i in iterations if i.status == "finished"
        )
        candidates = {c.id: c for c in self.store.list_candidates(run_id)}
        first = run_id not in self.seen
        seen = self.seen.setdefault(run_id, set())
        events = []
        for t in self.store.list_trainings(run_id):
            c = candidates.get(t.candidate_id)
            if c is not None and c.iteration not in finished:
                steps += t.budget_steps
            key = (t.candidate_id, t.seed, t.budget_steps)
            if key in seen:
                continue
            seen.add(key)
            if not first and c is not None:
                events.append(TrainingDone(
                    cell.task_id, cell.method, run_id, c.iteration, c.id, t.seed,
                    t.budget_steps, c.status, t.fitness,
                ))  # fmt: skip
        for e in self.store.list_evaluations(run_id, kind="final"):
            steps += final_steps(e)
        return steps, events

    def _work(self) -> float:
        return sum(self.costs[k] * f for k, f in self._fractions.items())

    def progress(self) -> BenchProgress:
        total = sum(self.costs.values())
        work = self._work()
        left = sum(self.costs[k] * (1.0 - f) for k, f in self._fractions.items())
        elapsed = time.perf_counter() - self.start
        done_here = work - self.work_at_start
        eta = left * elapsed / done_here if done_here > 1e-9 else None
        cells = sum(1 for s in self.states.values() if s.get("status") in ("done", "failed"))
        return BenchProgress(cells, len(self.plan.cells), work / total if total else 1.0,
                             elapsed, eta)  # fmt: skip

    def finished(self, key: str) -> None:
        self._fractions[key] = 1.0


__all__ = ["Tracker"]
