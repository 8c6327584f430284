"""``BenchCallback``: a bench's progress as named hooks, each with a frozen event.

The CLI's progress view is one callback; a logger is another::

    class Log(BenchCallback):
        def on_cell_end(self, event):
            print(event.task, event.method, event.status, event.text)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rewardforge.bench.plan import BenchPlan
    from rewardforge.bench.results import BenchResults


@dataclass(frozen=True)
class BenchStart:
    bench_id: str
    plan: BenchPlan
    resumed: bool
    done: int  # cells finished before this process started (a resumed bench)
    workers: int
    estimate_s: float | None  # the plan's time at this machine's measured speed, if known


@dataclass(frozen=True)
class TrainingDone:
    """A training a search recorded (one candidate, one seed)."""

    task: str
    method: str
    run_id: str
    iteration: int
    candidate_id: int
    seed: int
    steps: int
    status: str
    fitness: float | None


@dataclass(frozen=True)
class CellDone:
    task: str
    method: str
    status: str  # done or failed
    text: str  # a one-line summary of the cell's result
    wall_time_s: float
    run_id: str | None = None


@dataclass(frozen=True)
class BenchProgress:
    cells_done: int
    cells: int
    fraction: float  # of the bench's estimated work
    elapsed_s: float  # since this process started
    eta_s: float | None  # time left at the speed seen so far (None before any work is seen)


class BenchCallback:
    """Does nothing; override the hooks you need."""

    def on_bench_start(self, event: BenchStart) -> None:
        pass

    def on_training(self, event: TrainingDone) -> None:
        pass

    def on_cell_end(self, event: CellDone) -> None:
        pass

    def on_progress(self, event: BenchProgress) -> None:
        pass

    def on_bench_end(self, results: BenchResults) -> None:
        pass


class BenchCallbacks(BenchCallback):
    """Several callbacks as one."""

    def __init__(self, callbacks: Sequence[BenchCallback] = ()) -> None:
        self.callbacks = list(callbacks)

    def on_bench_start(self, event: BenchStart) -> None:
        for c in self.callbacks:
            c.on_bench_start(event)

    def on_training(self, event: TrainingDone) -> None:
        for c in self.callbacks:
            c.on_training(event)

    def on_cell_end(self, event: CellDone) -> None:
        for c in self.callbacks:
            c.on_cell_end(event)

    def on_progress(self, event: BenchProgress) -> None:
        for c in self.callbacks:
            c.on_progress(event)

    def on_bench_end(self, results: BenchResults) -> None:
        for c in self.callbacks:
            c.on_bench_end(results)


__all__ = ["BenchCallback", "BenchCallbacks", "BenchProgress", "BenchStart", "CellDone",
           "TrainingDone"]  # fmt: skip
