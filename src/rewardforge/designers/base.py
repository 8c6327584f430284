"""The designer contract: propose candidate reward programs for a task, given what training showed.

Every designer (LLM, offline, replay) returns ``Proposal`` objects holding source code. The
search then runs every proposal through the same path: extraction, lint, a smoke run in the
sandbox, and, when that fails, a repair request back to the designer with the error text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from rewardforge.ranking import rank_key
from rewardforge.tasks.spec import Task


@dataclass(frozen=True)
class Proposal:
    """A candidate as proposed: source code (or a model's whole answer) and where it came from."""

    code: str
    designer: str
    parent_id: int | None = None
    notes: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CandidateResult:
    """What the search learned about one trained candidate; the designers' feedback."""

    candidate_id: int
    code: str
    fitness: float
    success_rate: float
    reflection: dict[str, Any]
    feedback: str = ""
    iteration: int = 0
    fully_trained: bool = True  # False: stopped early by successive halving

    def rank_key(self) -> tuple[Any, ...]:
        """This result's place in "best" (``rewardforge.ranking.rank_key``)."""
        return rank_key(
            self.fitness,
            self.success_rate,
            fully_trained=self.fully_trained,
            candidate_id=self.candidate_id,
        )


HumanFeedbackMode = Literal["join", "replace"]


@dataclass(frozen=True)
class DesignContext:
    """Everything a designer may use to propose the next candidates.

    ``human_feedback`` is free text from a person watching the policies; with
    ``human_feedback_mode="join"`` it is given alongside the automatic reflection, with
    ``"replace"`` instead of it."""

    task: Task
    iteration: int
    best: CandidateResult | None = None
    history: tuple[CandidateResult, ...] = ()
    human_feedback: str = ""
    rng_seed: int = 0
    human_feedback_mode: HumanFeedbackMode = "join"


class Designer(Protocol):
    """Proposes ``k`` candidates, and repairs one that failed its checks."""

    name: str

    def propose(self, k: int, context: DesignContext) -> list[Proposal]: ...

    def repair(self, proposal: Proposal, error: str, context: DesignContext) -> Proposal | None:
        """A corrected proposal, or None when this designer cannot repair."""
        ...


def top_results(history: Sequence[CandidateResult], n: int) -> list[CandidateResult]:
    """The ``n`` best results, best first."""
    return sorted(history, key=CandidateResult.rank_key, reverse=True)[:n]
