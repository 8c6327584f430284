"""The code-writing strategies: evolve (Eureka), refine, oneshot (ARCHIE).

Each iteration: propose K candidates from what the search has learned, check them (with
repairs), screen them on earlier trajectories, train them with successive halving, record
the best; stop at the success target, when the designer runs out, or when the model budget is
spent. Refine proposes one candidate, refined from the previous iteration's best; oneshot asks
once and may give the answer ARCHIE's structure (a success bonus that outweighs all shaping).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from rewardforge.designers.base import DesignContext, Proposal
from rewardforge.errors import BudgetExceededError
from rewardforge.search import callbacks as cb
from rewardforge.search.archie import archie_proposal
from rewardforge.search.steps import OutOfProposals, SearchSteps
from rewardforge.search.strategy_configs import EvolveConfig, OneshotConfig, RefineConfig

logger = logging.getLogger(__name__)


def iterate(
    steps: SearchSteps,
    num_iterations: int,
    body: Callable[[int], None],
    reached_target: Callable[[], bool],
) -> None:
    """Run ``body(it)`` for every iteration not recorded as finished; stop early when
    ``reached_target()``, when the designer runs out (after iteration 0; at 0 the run fails)
    or when the model budget is spent (the run ends cleanly with what it has)."""
    for it in range(num_iterations):
        if not steps.iteration_finished(it):
            try:
                body(it)
            except OutOfProposals as exc:
                if it == 0:
                    raise
                logger.info("%s; the search ends here", exc)
                break
            except BudgetExceededError as exc:
                logger.warning("model budget spent in iteration %d: %s", it, exc)
                steps.store.update_run_summary(steps.run_id, {"budget_stop": str(exc)})
                steps.callbacks.on_budget_spent(cb.BudgetSpent(it, str(exc)))
                break
        if reached_target():
            logger.info("success target reached after iteration %d", it)
            break


class IterativeStrategy:
    """Evolve's loop; refine and oneshot change a few of its choices."""

    #: refine: the designer refines the previous iteration's best, not the best so far
    from_previous = False

    def __init__(self, config: EvolveConfig | RefineConfig | OneshotConfig) -> None:
        self.config = config

    def prepare(self, steps: SearchSteps) -> None:
        steps.trainer  # noqa: B018 - a wrong trainer name (or judge) fails here, not mid-run
        steps.designer  # noqa: B018 - likewise a missing model key or replay source

    def run(self, steps: SearchSteps) -> None:
        iterate(
            steps,
            self.config.num_iterations,
            lambda it: self.iteration(steps, it),
            lambda: self.reached_target(steps),
        )

    def iteration(self, steps: SearchSteps, it: int) -> None:
        steps.start_iteration(it, self.config.num_iterations)
        context = steps.context(it, from_previous=self.from_previous)
        prepare = self.preparer(steps, context)
        proposals = steps.propose(it, self.config.num_samples, context, prepare=prepare)
        checked = steps.check(it, proposals, context)
        screening = getattr(self.config, "screening", False)
        if screening:
            kept = steps.screen(
                it, checked, min_auc=self.config.screen_min_auc,  # type: ignore[union-attr]
                fraction=self.config.screen_fraction,  # type: ignore[union-attr]
            )  # fmt: skip
        else:
            kept = [c for c in checked if c.ok]
        rungs = getattr(self.config, "rungs", (1.0,))
        eta = getattr(self.config, "eta", 2.0)
        success_target = getattr(self.config, "success_target", None)
        target = None if success_target is None else steps.stop_target(success_target)
        steps.train(it, kept, rungs=rungs, eta=eta, trajectories=screening, target=target)
        self.finish(steps, it)

    def preparer(self, steps: SearchSteps, context: DesignContext) -> Any:
        """What rewrites each new proposal before it is stored (None: nothing)."""
        return None

    def reached_target(self, steps: SearchSteps) -> bool:
        target = getattr(self.config, "success_target", None)
        return target is not None and steps.reached_target(target)

    def finish(self, steps: SearchSteps, it: int) -> None:
        steps.finish_iteration(it)
        last = it == self.config.num_iterations - 1
        human = getattr(self.config, "feedback", "auto") == "human"
        if human and not last and not self.reached_target(steps):
            record = steps.store.get_iteration(steps.run_id, it)
            steps.ask_feedback(it, record.best_candidate_id if record else None)

    def evaluate(self, steps: SearchSteps) -> None:
        steps.final_evaluation()

    def close(self) -> None:
        pass


class EvolveStrategy(IterativeStrategy):
    """Eureka: K samples per iteration, each written from the best so far."""


class RefineStrategy(IterativeStrategy):
    """One candidate per iteration, refined from the previous iteration's best."""

    from_previous = True


class OneshotStrategy(IterativeStrategy):
    """One answer; with ``archie`` its reward gets a success bonus outweighing all shaping."""

    config: OneshotConfig

    def preparer(self, steps: SearchSteps, context: DesignContext) -> Any:
        if not self.config.archie:
            return None

        def prepare(proposal: Proposal) -> Proposal:
            success = self.success_source(steps, context)  # asked once, after the proposals
            return archie_proposal(proposal, success, steps.task, steps.sandbox)

        return prepare

    def success_source(self, steps: SearchSteps, context: DesignContext) -> str:
        """The criterion ARCHIE's bonus pays for: the model's when asked, else the task's
        (kept in the run's summary, so a resumed run uses the same one)."""
        stored = steps.store.get_run(steps.run_id).summary.get("success_code")
        if stored is not None:
            return str(stored)
        ask = getattr(steps.designer, "success_criterion", None)
        code = ask(context) if self.config.generate_success and ask else steps.task.success.code
        steps.store.update_run_summary(steps.run_id, {"success_code": code})
        return str(code)


__all__ = ["EvolveStrategy", "IterativeStrategy", "OneshotStrategy", "RefineStrategy", "iterate"]
