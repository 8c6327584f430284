"""ARCHIE's structure for ``oneshot --archie``: the success bonus outweighs all shaping."""

from __future__ import annotations

import dataclasses
import logging

from rewardforge.designers.archie import archie_bonus, archie_compose
from rewardforge.designers.base import Proposal
from rewardforge.errors import RewardError
from rewardforge.rewards.extract import extract_code
from rewardforge.rewards.program import RewardProgram
from rewardforge.rewards.sandbox import RewardSandbox
from rewardforge.rewards.smoke import smoke_test
from rewardforge.tasks.spec import Task

logger = logging.getLogger(__name__)


def archie_proposal(
    proposal: Proposal, success_source: str, task: Task, sandbox: RewardSandbox
) -> Proposal:
    """``proposal`` with its reward wrapped so one success step pays more than a whole episode
    of its shaping (the largest per-step reward seen in a smoke run, times the episode length).

    A proposal that does not extract, lint or run is returned as it is: the search's checks
    reject it with the error and ask for a repair."""
    try:
        code = extract_code(proposal.code)
        report = smoke_test(RewardProgram.from_source(code, task), task, sandbox=sandbox)
    except RewardError:
        return proposal
    if not report.ok:
        return proposal
    top = max((s.max for s in report.stats if s.name == "reward"), default=0.0)
    bonus = archie_bonus(max(top, 0.0), task.max_episode_steps)
    logger.info("ARCHIE structure: success bonus %.3g (largest step reward %.3g)", bonus, top)
    return dataclasses.replace(
        proposal,
        code=archie_compose(code, success_source, bonus=bonus),
        notes=(proposal.notes + " " if proposal.notes else "") + "(ARCHIE structure)",
        meta={**proposal.meta, "archie_bonus": bonus},
    )
