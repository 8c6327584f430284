"""The search's live view: a ``SearchCallback`` that draws a table and asks for feedback."""

from __future__ import annotations

import sys
from typing import Any

from rich.live import Live
from rich.table import Table

from rewardforge.cli.output import console, error_console, plain
from rewardforge.search.callbacks import (
    BudgetSpent,
    CandidateChecked,
    CandidateScored,
    CandidatesProposed,
    CandidatesScreened,
    FeedbackRequest,
    FinalEvaluationStart,
    IterationEnd,
    IterationStart,
    ModelUsed,
    RepairRequested,
    SearchCallback,
    SearchStart,
    TrainingProgress,
)
from rewardforge.search.steps import REPLACE_PREFIX


class LiveView(SearchCallback):
    """Iteration, candidates training / done / failed / screened, best fitness, tokens, cost."""

    def __init__(self) -> None:
        self.run_id = "-"
        self.num_iterations = 0
        self.state: dict[str, Any] = {
            "iteration": "-", "proposed": 0, "failed": 0, "repairs": 0, "screened": 0,
            "training": 0, "done": 0, "rung": "-", "best": None, "tokens": 0, "cost": 0.0,
            "phase": "starting",
        }  # fmt: skip
        self.live: Live | None = None
        self.interactive = console.is_terminal

    def __enter__(self) -> LiveView:
        if self.interactive:
            self.live = Live(self.render(), console=console, refresh_per_second=4, transient=True)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)
            self.live = None

    def render(self) -> Table:
        s = self.state
        table = Table(title=f"search {plain(self.run_id)}", show_header=False)
        best = "-" if s["best"] is None else f"{s['best']:.3f}"
        rows = [
            ("phase", s["phase"]),
            ("iteration", f"{s['iteration']} of {self.num_iterations}"),
            ("candidates", f"{s['training']} training, {s['done']} done, {s['failed']} failed "
                           f"({s['repairs']} repairs), {s['screened']} screened out"),
            ("halving", s["rung"]),
            ("best fitness", best),
            ("model", f"{s['tokens']:,} tokens, ${s['cost']:.4f}"),
        ]  # fmt: skip
        for name, value in rows:
            table.add_row(name, plain(value))
        return table

    def _update(self, **changes: Any) -> None:
        self.state.update(changes)
        if self.live is not None:
            self.live.update(self.render())

    # --- hooks ----------------------------------------------------------------------------
    def on_search_start(self, event: SearchStart) -> None:
        self.run_id, self.num_iterations = event.run_id, event.num_iterations
        self._update()

    def on_iteration_start(self, event: IterationStart) -> None:
        self._update(iteration=event.iteration, phase="proposing", training=0, done=0, rung="-")

    def on_candidates_proposed(self, event: CandidatesProposed) -> None:
        self._update(proposed=self.state["proposed"] + event.count, phase="checking")

    def on_repair_requested(self, event: RepairRequested) -> None:
        self._update(repairs=self.state["repairs"] + 1)

    def on_candidate_checked(self, event: CandidateChecked) -> None:
        if not event.ok:
            self._update(failed=self.state["failed"] + 1)

    def on_candidates_screened(self, event: CandidatesScreened) -> None:
        self._update(screened=self.state["screened"] + event.screened_out)

    def on_training_progress(self, event: TrainingProgress) -> None:
        scores = event.scores
        rung = f"rung {event.rung + 1} at {event.steps:,} steps: {len(scores)} candidates"
        if scores:
            rung += f", top {max(scores.values()):.3f}"
        self._update(phase="training", rung=rung, training=len(scores))

    def on_candidate_scored(self, event: CandidateScored) -> None:
        failed = self.state["failed"] + (event.status == "failed")
        self._update(done=self.state["done"] + 1, failed=failed)

    def on_iteration_end(self, event: IterationEnd) -> None:
        self._update(best=event.best_fitness, training=0)
        self._line(f"iteration {event.iteration}: best fitness so far {event.best_fitness}")

    def on_model_used(self, event: ModelUsed) -> None:
        self._update(tokens=event.usage.total_tokens, cost=event.usage.cost_usd)

    def on_budget_spent(self, event: BudgetSpent) -> None:
        self._line(f"model budget spent in iteration {event.iteration}: {event.message}")

    def on_final_evaluation_start(self, event: FinalEvaluationStart) -> None:
        self._update(phase="final evaluation (best reward and baselines, fresh seeds)")
        self._line(self.state["phase"])

    def _line(self, text: str) -> None:
        if self.live is not None:
            self.live.console.print(text, markup=False)
        else:
            error_console.print(text, markup=False)

    def on_feedback_request(self, event: FeedbackRequest) -> str | None:
        """Show the iteration's best candidates and read a person's feedback from stdin."""
        if self.live is not None:
            self.live.stop()
        try:
            error_console.print(event.digest, markup=False)
            error_console.print(
                "Your feedback for the next iteration (one line; empty: keep the automatic "
                f"reflection; start with '{REPLACE_PREFIX}' to replace it):",
                markup=False,
            )
            line = sys.stdin.readline()
            return line.strip() or None
        finally:
            if self.live is not None:
                self.live.start()
