"""The one path every proposal takes before training: extraction, lint, a smoke run.

Whoever wrote the candidate (a model, the offline designer, a file), it is checked the same
way. A failure is a ``Check`` with the error's kind and a text written to be sent back to the
writer for repair; it is never raised, because a broken candidate is a record, not a crash."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rewardforge.designers.base import Proposal
from rewardforge.errors import RewardError
from rewardforge.rewards.extract import extract_code
from rewardforge.rewards.program import RewardProgram
from rewardforge.rewards.sandbox import RewardSandbox
from rewardforge.rewards.smoke import smoke_test
from rewardforge.tasks.spec import Task

#: Error kinds, in the order a proposal meets the checks.
ERROR_KINDS = ("model", "extract", "lint", "smoke")


@dataclass(frozen=True)
class Check:
    """The outcome of checking one proposal: ``program`` when it passed, else the error."""

    code: str  # the extracted reward code, or the raw answer when nothing could be extracted
    program: RewardProgram | None = None
    error_kind: str | None = None
    error: str | None = None
    smoke: dict[str, Any] | None = None  # the smoke run's report, when it ran

    @property
    def ok(self) -> bool:
        return self.program is not None


def extracted(proposal: Proposal) -> str:
    """The code the store keeps for a proposal: extracted when possible, else the raw text."""
    try:
        return extract_code(proposal.code)
    except RewardError:
        return proposal.code


def check_proposal(
    proposal: Proposal, task: Task, sandbox: RewardSandbox, *, num_states: int = 256, seed: int = 0
) -> Check:
    """Extract, lint and smoke-run ``proposal``; the first failure ends the check."""
    model_error = proposal.meta.get("model_error")
    if model_error:
        return Check(
            code=proposal.code,
            error_kind="model",
            error=f"the model gave no usable answer: {model_error}",
        )
    try:
        code = extract_code(proposal.code)
    except RewardError as exc:
        return Check(code=proposal.code, error_kind="extract", error=str(exc))
    try:
        program = RewardProgram.from_source(code, task)
    except RewardError as exc:
        return Check(code=code, error_kind="lint", error=str(exc))
    report = smoke_test(program, task, num_states=num_states, sandbox=sandbox, seed=seed)
    smoke = report.to_dict()
    if not report.ok:
        return Check(
            code=code,
            error_kind="smoke",
            error=f"running it on {num_states} states of the task failed: {report.error}",
            smoke=smoke,
        )
    return Check(code=code, program=program, smoke=smoke)
