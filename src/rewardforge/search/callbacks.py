"""Progress as named hooks: subclass ``SearchCallback`` and override what you need.

Every hook gets one typed, frozen argument and returns nothing, except
``on_feedback_request``, which may return a person's text for the next iteration. The CLI's
live view is one callback; a logger (W&B, a file) is another::

    class Printer(rf.SearchCallback):
        def on_candidate_scored(self, event):
            print(event.candidate_id, event.fitness)

    rf.search("pendulum", callbacks=[Printer()])

A callback that raises ends the search (``KeyboardInterrupt`` marks the run interrupted),
so a callback is also a way to stop one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rewardforge.runs.records import ModelUsage

if TYPE_CHECKING:
    from rewardforge.search.result import SearchResult


@dataclass(frozen=True)
class SearchStart:
    run_id: str
    task: str
    strategy: str
    num_iterations: int
    resumed: bool


@dataclass(frozen=True)
class IterationStart:
    iteration: int
    num_iterations: int


@dataclass(frozen=True)
class CandidatesProposed:
    iteration: int
    count: int


@dataclass(frozen=True)
class CandidateChecked:
    """One slot's final check; ``repairs`` failed attempts came before it."""

    iteration: int
    slot: int
    candidate_id: int
    ok: bool
    error_kind: str | None
    repairs: int


@dataclass(frozen=True)
class RepairRequested:
    iteration: int
    slot: int
    attempt: int


@dataclass(frozen=True)
class CandidatesScreened:
    iteration: int
    kept: int
    screened_out: int


@dataclass(frozen=True)
class TrainingProgress:
    """A rung of successive halving (or a reward-model update) ended."""

    iteration: int
    rung: int
    steps: int
    scores: dict[int, float]  # candidate id -> fitness of those still training
    group: int | None = None  # the training job's group, when training was split


@dataclass(frozen=True)
class CandidateScored:
    iteration: int
    candidate_id: int
    status: str
    fitness: float | None
    success_rate: float | None


@dataclass(frozen=True)
class IterationEnd:
    iteration: int
    best_candidate_id: int | None
    best_fitness: float | None  # best of the run so far
    env_steps: int


@dataclass(frozen=True)
class ModelUsed:
    iteration: int | None
    usage: ModelUsage


@dataclass(frozen=True)
class BudgetSpent:
    iteration: int
    message: str


@dataclass(frozen=True)
class FinalEvaluationStart:
    candidate_id: int
    seeds: tuple[int, ...]
    baselines: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class FeedbackRequest:
    """What a person sees before giving feedback: the iteration's digest."""

    iteration: int
    digest: str


class SearchCallback:
    """Named hooks of a search; every one does nothing unless overridden."""

    def on_search_start(self, event: SearchStart) -> None: ...

    def on_iteration_start(self, event: IterationStart) -> None: ...

    def on_candidates_proposed(self, event: CandidatesProposed) -> None: ...

    def on_repair_requested(self, event: RepairRequested) -> None: ...

    def on_candidate_checked(self, event: CandidateChecked) -> None: ...

    def on_candidates_screened(self, event: CandidatesScreened) -> None: ...

    def on_training_progress(self, event: TrainingProgress) -> None: ...

    def on_candidate_scored(self, event: CandidateScored) -> None: ...

    def on_iteration_end(self, event: IterationEnd) -> None: ...

    def on_model_used(self, event: ModelUsed) -> None: ...

    def on_budget_spent(self, event: BudgetSpent) -> None: ...

    def on_final_evaluation_start(self, event: FinalEvaluationStart) -> None: ...

    def on_search_end(self, result: SearchResult) -> None: ...

    def on_feedback_request(self, event: FeedbackRequest) -> str | None:
        """A person's feedback for the next iteration, or None (only with feedback: human)."""
        return None


class CallbackList(SearchCallback):
    """Calls each callback in turn; the first feedback that is not None is the answer."""

    def __init__(self, callbacks: Sequence[SearchCallback] = ()) -> None:
        self.callbacks = list(callbacks)

    def _each(self, hook: str, arg: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(arg)

    def on_search_start(self, event: SearchStart) -> None:
        self._each("on_search_start", event)

    def on_iteration_start(self, event: IterationStart) -> None:
        self._each("on_iteration_start", event)

    def on_candidates_proposed(self, event: CandidatesProposed) -> None:
        self._each("on_candidates_proposed", event)

    def on_repair_requested(self, event: RepairRequested) -> None:
        self._each("on_repair_requested", event)

    def on_candidate_checked(self, event: CandidateChecked) -> None:
        self._each("on_candidate_checked", event)

    def on_candidates_screened(self, event: CandidatesScreened) -> None:
        self._each("on_candidates_screened", event)

    def on_training_progress(self, event: TrainingProgress) -> None:
        self._each("on_training_progress", event)

    def on_candidate_scored(self, event: CandidateScored) -> None:
        self._each("on_candidate_scored", event)

    def on_iteration_end(self, event: IterationEnd) -> None:
        self._each("on_iteration_end", event)

    def on_model_used(self, event: ModelUsed) -> None:
        self._each("on_model_used", event)

    def on_budget_spent(self, event: BudgetSpent) -> None:
        self._each("on_budget_spent", event)

    def on_final_evaluation_start(self, event: FinalEvaluationStart) -> None:
        self._each("on_final_evaluation_start", event)

    def on_search_end(self, result: SearchResult) -> None:
        self._each("on_search_end", result)

    def on_feedback_request(self, event: FeedbackRequest) -> str | None:
        for callback in self.callbacks:
            text = callback.on_feedback_request(event)
            if text is not None:
                return text
        return None


__all__ = [
    "BudgetSpent",
    "CallbackList",
    "CandidateChecked",
    "CandidateScored",
    "CandidatesProposed",
    "CandidatesScreened",
    "FeedbackRequest",
    "FinalEvaluationStart",
    "IterationEnd",
    "IterationStart",
    "ModelUsed",
    "RepairRequested",
    "SearchCallback",
    "SearchStart",
    "TrainingProgress",
]
