"""The steps every strategy shares, each recorded in the run store as it happens.

A strategy (``search/strategy.py``) is a loop over these public steps of ``SearchSteps``:

- ``start_iteration(it)``, ``context(it)``: begin an iteration; what the designer gets
  (history, best candidate, reflection, a person's feedback);
- ``propose(it, k, context)``: the designer's candidates, stored (or read back on resume);
- ``check(it, proposals, context)``: extract, lint and smoke-run each, asking the designer to
  repair failures (``designer.max_repairs`` times);
- ``screen(it, checked, ...)``: skip rewards that rank earlier failures above successes;
- ``train(it, kept, rungs=..., eta=...)``: train with successive halving, here or on the
  executor, and ``record`` each outcome;
- ``results()``, ``best()``, ``reached_target()``: the candidates trained so far, ranked by
  ``rewardforge.ranking.rank_key``;
- ``finish_iteration(it, ...)`` and ``ask_feedback(it, ...)``: close an iteration;
- ``final_evaluation()``: the best reward retrained with fresh seeds beside the baselines.

The store is the loop's memory: everything a step needs is read back from it, so ``resume`` is
the same loop run again. A step already recorded is read, not redone."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from rewardforge.designers.base import (
    CandidateResult,
    DesignContext,
    Designer,
    HumanFeedbackMode,
    Proposal,
)
from rewardforge.errors import RunError
from rewardforge.rewards.program import RewardProgram
from rewardforge.rewards.sandbox import RewardSandbox, SandboxedReward
from rewardforge.rl.base import Trainer
from rewardforge.runs.details import CandidateDetails, CheckDetails, ProposalDetails, ScreenDetails
from rewardforge.runs.executors import Executor, make_executor
from rewardforge.runs.records import CandidateRecord
from rewardforge.runs.store import RunStore
from rewardforge.runs.workspace import Workspace
from rewardforge.search import callbacks as cb
from rewardforge.search.checking import Check, check_proposal, extracted
from rewardforge.search.config import SearchConfig, TeacherSettings
from rewardforge.search.designers import make_designer
from rewardforge.search.feedback import feedback_digest
from rewardforge.search.final import record_final
from rewardforge.search.teachers import make_search_trainer, make_teacher
from rewardforge.search.training import CandidateOutcome
from rewardforge.search.trainings import Trainings
from rewardforge.search.trajectories import screen_programs
from rewardforge.tasks.spec import Task

logger = logging.getLogger(__name__)

#: A person's feedback starting with this replaces the automatic reflection instead of joining it.
REPLACE_PREFIX = "replace:"


class OutOfProposals(RunError):
    """The designer proposed nothing (a replay source ran out)."""


@dataclass(frozen=True)
class Checked:
    """One slot's final attempt and its check."""

    record: CandidateRecord
    check: Check

    @property
    def ok(self) -> bool:
        return self.check.ok


class SearchSteps:
    """See the module docstring. Parts (designer, trainer, sandbox, executor) are made when
    first used; ``bind(run_id)`` names the run the steps record into."""

    def __init__(
        self,
        config: SearchConfig,
        task: Task,
        workspace: Workspace,
        callbacks: cb.SearchCallback | None = None,
        *,
        designer: Designer | None = None,
    ) -> None:
        self.config, self.task, self.workspace = config, task, workspace
        self.callbacks = callbacks or cb.SearchCallback()
        self.num_steps = config.training.steps or task.budget.num_steps
        self.seeds = [config.seed + j for j in range(config.training.seeds)]
        self.iteration: int | None = None
        self._run_id: str | None = None
        self._designer = designer
        self._trainer: Trainer | None = None
        self._sandbox: RewardSandbox | None = None
        self._executor: Executor | None = None

    # --- the run --------------------------------------------------------------------------
    def bind(self, run_id: str) -> None:
        self._run_id = run_id

    @property
    def run_id(self) -> str:
        if self._run_id is None:
            raise RunError("the search has no run yet: call Search.run()")
        return self._run_id

    @property
    def store(self) -> RunStore:
        return self.workspace.store

    @property
    def run_dir(self) -> Path:
        return self.workspace.run_dir(self.run_id)

    # --- parts ----------------------------------------------------------------------------
    @property
    def designer(self) -> Designer:
        if self._designer is None:
            self._designer = make_designer(
                self.config, self.task, self.workspace, self.record_model_call
            )
        return self._designer

    @property
    def trainer(self) -> Trainer:
        """The trainer candidates train with (judged when ``strategy.judge`` is set)."""
        if self._trainer is None:
            judge = getattr(self.config.strategy, "judge", None)
            teacher = self.teacher(judge, self.task) if judge is not None else None
            self._trainer = make_search_trainer(
                self.trainer_name, self.task, device=self.config.training.device,
                hparams=self.hparams, judge=teacher, settings=self.config.teacher,
                eval_policy=self.config.evaluation.eval_policy,
            )  # fmt: skip
        return self._trainer

    @property
    def trainer_name(self) -> str:
        return self.config.training.trainer or self.task.budget.trainer

    @property
    def hparams(self) -> dict[str, Any]:
        num_envs = self.config.training.num_envs
        return {"num_envs": num_envs} if num_envs else {}

    def teacher(self, kind: str, task: Task) -> Any:
        """A teacher of this search's settings (labels and judges; defaults without any)."""
        return make_teacher(
            kind, self.config.teacher or TeacherSettings(), task, seed=self.config.seed, model=self.config.model,
            workspace=self.workspace, on_call=self.record_model_call,
        )  # fmt: skip

    @property
    def sandbox(self) -> RewardSandbox:
        if self._sandbox is None:
            self._sandbox = RewardSandbox()
        return self._sandbox

    @property
    def executor(self) -> Executor:
        """Where trainings run when they leave this process."""
        if self._executor is None:
            ex = self.config.executor
            gpus = ex.gpus_per_task
            if gpus is None:
                gpus = 0.25 if self.config.training.device.startswith("cuda") else 0.0
            self._executor = make_executor(
                ex.name, workers=ex.workers, address=ex.ray_address, num_gpus_per_task=gpus
            )
        return self._executor

    def record_model_call(self, call: Any) -> None:
        """Store one model call (tokens, cost) and tell the callbacks the run's usage."""
        self.store.record_model_call(
            self.run_id, request_hash=call.request_hash, provider=call.provider,
            model=call.model, prompt_tokens=call.prompt_tokens,
            completion_tokens=call.completion_tokens, cost_usd=call.cost_usd,
            latency_s=call.latency_s, cached=call.cached, iteration=self.iteration,
            purpose=call.purpose,
        )  # fmt: skip
        usage = self.store.model_usage(self.run_id)
        self.callbacks.on_model_used(cb.ModelUsed(self.iteration, usage))

    def release_executor(self) -> None:
        """Let the executor's workers go (training is over; they exit while the search ends)."""
        if self._executor is not None:
            self._executor.close()
            self._executor = None

    def close(self) -> None:
        self.release_executor()
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None

    # --- iterations -----------------------------------------------------------------------
    def iteration_finished(self, it: int) -> bool:
        record = self.store.get_iteration(self.run_id, it)
        return record is not None and record.status == "finished"

    def start_iteration(self, it: int, num_iterations: int) -> None:
        self.iteration = it
        self.store.start_iteration(self.run_id, it)
        self.callbacks.on_iteration_start(cb.IterationStart(it, num_iterations))

    def context(self, it: int, *, from_previous: bool = False) -> DesignContext:
        """What the designer gets for iteration ``it``: every result so far, the best one (of
        the previous iteration with ``from_previous``, as refine does) and a person's
        feedback on the previous iteration (``replace:`` text replaces the reflection)."""
        history = self.results()
        best = self.best(history)
        if from_previous:
            best = self.best([r for r in history if r.iteration == it - 1]) or best
        human, mode = "", cast(HumanFeedbackMode, "join")
        previous = self.store.get_iteration(self.run_id, it - 1) if it else None
        if previous is not None and previous.human_feedback:
            human = previous.human_feedback.strip()
            if human.lower().startswith(REPLACE_PREFIX):
                human, mode = (
                    human[len(REPLACE_PREFIX) :].strip(),
                    cast(HumanFeedbackMode, "replace"),
                )
        return DesignContext(
            task=self.task, iteration=it, best=best, history=tuple(history),
            human_feedback=human, rng_seed=self.config.seed, human_feedback_mode=mode,
        )  # fmt: skip

    # --- proposals and checks -------------------------------------------------------------
    def propose(
        self,
        it: int,
        k: int,
        context: DesignContext,
        *,
        slots: Sequence[int] | None = None,
        prepare: Callable[[Proposal], Proposal] | None = None,
    ) -> list[tuple[int, Proposal]]:
        """``k`` proposals for ``slots`` (default ``0..k-1``), stored as candidates; a resumed
        run reads them back. ``prepare`` may rewrite each new proposal before it is stored.
        Raises ``OutOfProposals`` when the designer has nothing."""
        slots = list(range(k)) if slots is None else list(slots)
        stored = [self.store.find_candidate(self.run_id, it, slot, 0) for slot in slots]
        if all(rec is not None for rec in stored):
            return [(slot, self.proposal_of(r)) for slot, r in zip(slots, stored, strict=True) if r]
        proposals = self.designer.propose(len(slots), context)
        if not proposals:
            raise OutOfProposals(
                f"the {self.designer.name} designer proposed no candidate for iteration {it}"
            )
        out = []
        for slot, rec, proposal in zip(slots, stored, proposals, strict=False):
            if rec is None:
                rec = self.add_candidate(it, slot, 0, prepare(proposal) if prepare else proposal)
            out.append((slot, self.proposal_of(rec)))
        self.callbacks.on_candidates_proposed(cb.CandidatesProposed(it, len(out)))
        return out

    def add_candidate(
        self, it: int, slot: int, attempt: int, proposal: Proposal
    ) -> CandidateRecord:
        code = extracted(proposal)
        details = ProposalDetails(
            notes=proposal.notes,
            meta=dict(proposal.meta),
            raw=proposal.code if proposal.code != code else None,
        )
        return self.store.add_candidate(
            self.run_id, it, slot, code, designer=proposal.designer, parent_id=proposal.parent_id,
            attempt=attempt, details=CandidateDetails(proposal=details),
        )  # fmt: skip

    @staticmethod
    def proposal_of(rec: CandidateRecord) -> Proposal:
        """The proposal a stored candidate came from (its whole answer, when it had more)."""
        p = rec.details.proposal or ProposalDetails()
        meta = {**p.meta, "attempt": rec.attempt}
        return Proposal(
            code=p.raw or rec.code, designer=rec.designer, parent_id=rec.parent_id,
            notes=p.notes, meta=meta,
        )  # fmt: skip

    def check(
        self, it: int, proposals: Sequence[tuple[int, Proposal]], context: DesignContext
    ) -> list[Checked]:
        """Each slot's final attempt with its check; failures go back to the designer."""
        out = []
        for slot, proposal in proposals:
            attempt = 0
            rec = self.store.find_candidate(self.run_id, it, slot, 0)
            if rec is None:
                raise RunError(f"iteration {it} slot {slot} has no stored proposal to check")
            while True:
                check = self._check_one(rec, proposal)
                repairs = self.config.designer.max_repairs
                if check.ok or check.error_kind == "model" or attempt >= repairs:
                    break
                nxt = self.store.find_candidate(self.run_id, it, slot, attempt + 1)
                if nxt is None:
                    repaired = self.designer.repair(proposal, check.error or "", context)
                    if repaired is None:
                        break
                    nxt = self.add_candidate(it, slot, attempt + 1, repaired)
                    self.callbacks.on_repair_requested(cb.RepairRequested(it, slot, attempt + 1))
                rec, proposal, attempt = nxt, self.proposal_of(nxt), attempt + 1
            out.append(Checked(rec, check))
            event = cb.CandidateChecked(it, slot, rec.id, check.ok, check.error_kind, attempt)
            self.callbacks.on_candidate_checked(event)
        return out

    def _check_one(self, rec: CandidateRecord, proposal: Proposal) -> Check:
        if rec.status == "rejected":
            return Check(code=rec.code, error_kind=rec.error_kind, error=rec.error)
        if rec.details.check is not None and rec.details.check.passed:
            return Check(code=rec.code, program=RewardProgram.from_source(rec.code, self.task))
        check = check_proposal(proposal, self.task, self.sandbox, seed=self.config.seed)
        details = CandidateDetails(check=CheckDetails(passed=check.ok, smoke=check.smoke))
        if check.ok:
            self.store.update_candidate(rec.id, details=details)
            self.workspace.reward_path(self.run_id, rec.id).write_text(rec.code, "utf-8")
        else:
            logger.info("candidate %d rejected (%s): %s", rec.id, check.error_kind, check.error)
            self.store.update_candidate(
                rec.id, status="rejected", error_kind=check.error_kind, error=check.error,
                details=details,
            )  # fmt: skip
        return check

    # --- screening and training -----------------------------------------------------------
    def trajectory_path(self, it: int) -> Path:
        return self.run_dir / "trajectories" / f"iteration_{it}.npz"

    def screen(
        self, it: int, checked: Sequence[Checked], *, min_auc: float, fraction: float
    ) -> list[Checked]:
        """The candidates screening keeps (all of them at iteration 0 or without contrast)."""
        passing = [c for c in checked if c.ok]
        if len(passing) < 2 or it == 0:
            return passing
        paths = [self.trajectory_path(j) for j in range(it)]
        programs = [c.check.program for c in passing if c.check.program is not None]
        verdicts = screen_programs(programs, paths, self.sandbox, min_auc, fraction)
        if verdicts is None:
            return passing
        kept = []
        for c, verdict in zip(passing, verdicts, strict=True):
            details = CandidateDetails(screen=ScreenDetails(auc=verdict.auc, reason=verdict.reason))
            status = None if verdict.keep else "screened_out"
            self.store.update_candidate(c.record.id, status=status, details=details)
            if verdict.keep:
                kept.append(c)
        self.callbacks.on_candidates_screened(
            cb.CandidatesScreened(it, len(kept), len(passing) - len(kept))
        )
        return kept

    def train(
        self,
        it: int,
        kept: Sequence[Checked],
        *,
        rungs: Sequence[float] = (1.0,),
        eta: float = 2.0,
        trajectories: bool = False,
        target: float | None = None,
    ) -> list[CandidateOutcome]:
        """Train ``kept`` with successive halving at ``rungs``, record each outcome; with
        ``trajectories`` keep rollouts for later screening; a candidate whose fitness reaches
        ``target`` stops there. Candidates whose outcome is recorded (before a kill) are not
        trained again."""
        return Trainings(self).run(
            it, kept, rungs=rungs, eta=eta, trajectories=trajectories, target=target
        )

    def record(self, o: CandidateOutcome) -> None:
        """Store one candidate's training outcome (every seed's training and its summary)."""
        Trainings(self).record(o)

    # --- results --------------------------------------------------------------------------
    def results(self) -> list[CandidateResult]:
        """Every candidate trained so far (fully or stopped early), as designers see them."""
        out = []
        for c in self.store.list_candidates(self.run_id):
            if c.status in ("trained", "stopped_early") and c.fitness is not None:
                training = c.details.training
                out.append(
                    CandidateResult(
                        candidate_id=c.id, code=c.code, fitness=c.fitness,
                        success_rate=c.success_rate or 0.0,
                        reflection=training.reflection if training else {},
                        feedback=training.feedback if training else "",
                        iteration=c.iteration, fully_trained=c.status == "trained",
                    )
                )  # fmt: skip
        return out

    def best(self, results: Sequence[CandidateResult] | None = None) -> CandidateResult | None:
        """The best of ``results`` (default: all so far) by ``rank_key``."""
        results = self.results() if results is None else results
        return max(results, key=CandidateResult.rank_key, default=None)

    @property
    def eval_every(self) -> int | None:
        """Steps between the checks that stop a training at the target (None: no checks)."""
        every = self.config.training.eval_every
        return max(1, self.num_steps // 8) if every is None else (every or None)

    def stop_target(self, success_target: float) -> float | None:
        """When a training (and the search) is done: ``success_target``, or on a score task
        the task's own target (None if it sets none)."""
        return success_target if self.task.fitness.kind == "success_rate" else self.task.target

    def reached_target(self, success_target: float) -> bool:
        """Whether the best fitness reached the target (``stop_target``)."""
        target, best = self.stop_target(success_target), self.best()
        return target is not None and best is not None and best.fitness >= target

    # --- the end of an iteration, and of the search ---------------------------------------
    def finish_iteration(
        self,
        it: int,
        *,
        best_here: int | None = None,
        reflection: str | None = None,
        env_steps: int | None = None,
        full_budget_steps: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Record the end of iteration ``it``: its best candidate (default: the best of the
        candidates it trained), that one's reflection, the environment steps its trainings took
        (default: read from the store) and would have taken training every candidate fully
        (default: trained candidates x seeds x budget), and the run's best so far."""
        if best_here is None:
            here = self.best([r for r in self.results() if r.iteration == it])
            best_here = here.candidate_id if here else None
            reflection = here.feedback if here and reflection is None else reflection
        trainings = [  # read back: a resumed iteration may have trained nothing now
            t
            for c in self.store.list_candidates(self.run_id, it)
            for t in self.store.list_trainings(candidate_id=c.id)
        ]
        if env_steps is None:
            env_steps = sum(t.budget_steps for t in trainings)
        if full_budget_steps is None:
            trained = len({t.candidate_id for t in trainings})
            full_budget_steps = trained * len(self.seeds) * self.num_steps
        best = self.best()
        if best is not None:
            self.store.set_best(self.run_id, best.candidate_id)
        self.store.finish_iteration(
            self.run_id, it, best_candidate_id=best_here,
            details={"reflection": reflection or "", "env_steps": env_steps,
                     "full_budget_steps": full_budget_steps, **(details or {})},
        )  # fmt: skip
        event = cb.IterationEnd(it, best_here, best.fitness if best else None, env_steps)
        self.callbacks.on_iteration_end(event)

    def ask_feedback(self, it: int, candidate_id: int | None) -> None:
        """Show a person the iteration's digest and store their answer for the next one."""
        digest = feedback_digest(self.store, self.run_id, self.run_dir, it, candidate_id, self.task)
        text = self.callbacks.on_feedback_request(cb.FeedbackRequest(it, digest))
        self.store.set_iteration_feedback(self.run_id, it, human_feedback=text or "")

    def final_evaluation(self) -> None:
        """The best reward retrained with fresh seeds beside the baselines (recorded once)."""
        run = self.store.get_run(self.run_id)
        settings = self.config.evaluation
        if run.best_candidate_id is None or settings.final_seeds == 0:
            return
        if self.store.list_evaluations(self.run_id, kind="final"):
            return
        best = self.store.get_candidate(run.best_candidate_id)
        seeds = [self.config.seed + 1000 + j for j in range(settings.final_seeds)]
        baselines = ("env", "sparse") if settings.baselines else ()
        self.callbacks.on_final_evaluation_start(
            cb.FinalEvaluationStart(best.id, tuple(seeds), baselines)
        )
        program = RewardProgram.from_source(best.code, self.task)
        reward = SandboxedReward(self.sandbox, program, name=f"c{best.id}")
        try:
            record_final(
                self.store, self.run_id, best.id, self.trainer, reward, seeds, self.num_steps,
                baselines=settings.baselines,
                checkpoint_dir=self.workspace.checkpoint_dir(self.run_id) / "final",
                log_dir=self.workspace.tb_dir(self.run_id) / "final",
                target=self.stop_target(getattr(self.config.strategy, "success_target", 0.9)),
                eval_every=self.eval_every,
            )  # fmt: skip
        finally:
            reward.close()


__all__ = ["REPLACE_PREFIX", "Checked", "OutOfProposals", "SearchSteps"]
