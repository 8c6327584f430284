"""What the store keeps about a candidate besides its columns: typed sections, one per step.

Each step of a search writes its own section (``store.update_candidate(id, details=...)``
merges the sections given, field by field); readers get ``CandidateRecord.details`` as a
``CandidateDetails`` and read ``details.training.feedback`` instead of guessing dict keys.
Details stored before they had sections (one flat mapping) are read through ``from_stored``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

logger = logging.getLogger(__name__)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProposalDetails(_Section):
    """How the designer proposed it."""

    notes: str = ""
    meta: dict[str, Any] = Field(default_factory=dict)
    raw: str | None = Field(None, description="the answer, when it is more than the stored code")


class CheckDetails(_Section):
    """Extraction, lint and smoke run."""

    passed: bool = False
    smoke: dict[str, Any] | None = None


class ScreenDetails(_Section):
    """Screening on earlier trajectories."""

    auc: float | None = None
    reason: str = ""


class JobDetails(_Section):
    """Where a training that left the search's process ran (every attempt, ``host:pid``)."""

    executor: str = ""
    group: int = 0
    attempts: tuple[str, ...] = ()


class TrainingDetails(_Section):
    """What training showed: steps taken, component statistics, reflection and its text."""

    steps: int = 0
    components: dict[str, Any] = Field(default_factory=dict)  # name -> statistics
    reflection: dict[str, Any] = Field(default_factory=dict)
    feedback: str = ""
    job: JobDetails | None = None


class MemberDetails(_Section):
    """A population member's reward: when it joined and left, how it was started and scaled."""

    member: int | None = None
    joined_at_iteration: int | None = None
    joined_at_step: int | None = None
    replaced_at_iteration: int | None = None
    left_at_step: int | None = None
    started_from_member: int | None = None
    reward_scale: float | None = None
    reward_shift: float | None = None
    own_return: float | None = None
    env_return: float | None = None
    eval_components: dict[str, float] = Field(default_factory=dict)
    curve: dict[str, list[float]] = Field(default_factory=dict)


class PreferenceDetails(_Section):
    """A reward learned from a teacher's labels."""

    teacher: str = ""
    reward_model: str = ""
    labels: int = 0
    teacher_failures: int = 0
    updates: list[dict[str, Any]] = Field(default_factory=list)


class CandidateDetails(_Section):
    """All sections; a step that has not run leaves its section None."""

    proposal: ProposalDetails | None = None
    check: CheckDetails | None = None
    screen: ScreenDetails | None = None
    training: TrainingDetails | None = None
    member: MemberDetails | None = None
    preference: PreferenceDetails | None = None

    @classmethod
    def from_stored(cls, data: Mapping[str, Any] | None) -> CandidateDetails:
        return cls.model_validate(_sectioned(dict(data or {})))

    def merged(self, update: CandidateDetails | None) -> CandidateDetails:
        """These details with the fields ``update`` sets replaced, section by section."""
        if update is None:
            return self
        changes = update.model_dump(exclude_unset=True)
        out = self.model_dump(exclude_none=True)
        for section, fields in changes.items():
            if isinstance(fields, Mapping):
                out[section] = {**out.get(section, {}), **fields}
            elif fields is not None:
                out[section] = fields
        return CandidateDetails.model_validate(out)


#: Flat keys of details written before sections: key -> (section, field).
_FLAT = {
    "notes": ("proposal", "notes"), "meta": ("proposal", "meta"), "raw": ("proposal", "raw"),
    "checked": ("check", "passed"), "smoke": ("check", "smoke"),
    "steps": ("training", "steps"), "components": ("training", "components"),
    "reflection": ("training", "reflection"), "feedback": ("training", "feedback"),
    "training_job": ("training", "job"),
    **{k: ("member", k) for k in (
        "member", "joined_at_iteration", "joined_at_step", "replaced_at_iteration",
        "left_at_step", "started_from_member", "reward_scale", "own_return", "env_return",
        "eval_components", "curve")},
    "shift": ("member", "reward_shift"),
    **{k: ("preference", k) for k in (
        "teacher", "reward_model", "labels", "teacher_failures", "updates")},
}  # fmt: skip
_SECTIONS = set(CandidateDetails.model_fields)


def _sectioned(data: dict[str, Any]) -> dict[str, Any]:
    """Flat (older) details in sections; sectioned details as they are."""
    if set(data) <= _SECTIONS and all(v is None or isinstance(v, Mapping) for v in data.values()):
        return data
    out: dict[str, dict[str, Any]] = {}
    for key, value in data.items():
        if key in _SECTIONS and isinstance(value, Mapping):
            out.setdefault(key, {}).update(value)
        elif key in _FLAT:
            section, name = _FLAT[key]
            out.setdefault(section, {})[name] = value
        elif key != "success_rate":  # now a column
            logger.debug("dropping candidate detail %r stored by an older version", key)
    return out


__all__ = [
    "CandidateDetails",
    "CheckDetails",
    "JobDetails",
    "MemberDetails",
    "PreferenceDetails",
    "ProposalDetails",
    "ScreenDetails",
    "TrainingDetails",
]
