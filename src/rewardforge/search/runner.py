"""The search loop: propose, check (and repair), screen, train with halving, reflect, repeat;
then the final evaluation. Every step is recorded in the run store as it happens.

The store is the loop's memory: everything the next step needs (history, best candidate,
reflection, human feedback, trajectories) is read back from it, so ``resume`` is the same loop
run again on the same run id. Steps already recorded are read, not redone: a proposal that is
stored is not asked for again, a repair that is stored is not asked for again, an iteration
whose training is recorded is not trained again, and a recorded final evaluation is kept. The
unit of training work is one iteration's population: a kill while it trains loses that
iteration's training (its answers and checks are kept), and since training is deterministic
for given seeds, the redone training gives the same results."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rewardforge.designers.base import CandidateResult, DesignContext, Designer, Proposal
from rewardforge.errors import BudgetExceededError, RunError
from rewardforge.rewards.program import RewardProgram
from rewardforge.rewards.sandbox import RewardSandbox, SandboxedReward
from rewardforge.rl.base import Trainer
from rewardforge.rl.registry import make_trainer
from rewardforge.runs.executors import Executor, make_executor
from rewardforge.runs.records import CandidateRecord, RunRecord
from rewardforge.runs.store import RunStore
from rewardforge.runs.summary import iteration_digest
from rewardforge.runs.workspace import Workspace
from rewardforge.search.checking import Check, check_proposal, extracted
from rewardforge.search.config import SearchConfig
from rewardforge.search.final import record_final, search_summary
from rewardforge.search.jobs import failed_outcomes, run_training_job, split_jobs, store_files
from rewardforge.search.screening import episode_returns, has_contrast, ranking_auc, screen
from rewardforge.search.training import CandidateOutcome, train_candidates
from rewardforge.search.trajectories import load_trajectories, save_trajectories
from rewardforge.tasks.registry import get_task
from rewardforge.tasks.spec import Task

logger = logging.getLogger(__name__)

#: Trajectories kept per iteration for screening, and the episodes collected per member.
MAX_TRAJECTORIES = 48
TRAJECTORY_EPISODES = 2
#: A person's feedback starting with this replaces the automatic reflection instead of joining it.
REPLACE_PREFIX = "replace:"
FINISHED = ("trained", "stopped_early", "failed")


@dataclass(frozen=True)
class SearchEvent:
    """Something the live view may show: ``kind`` and what it is about."""

    kind: str  # run, iteration, proposed, checked, screened, rung, trained, final, done
    iteration: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


EventFn = Callable[[SearchEvent], None]
FeedbackFn = Callable[[str], str | None]


class Search:
    """One run of a search; ``Search.resume`` continues one that stopped."""

    def __init__(
        self,
        config: SearchConfig,
        workspace: Workspace,
        *,
        run: RunRecord | None = None,
        designer: Designer | None = None,
        on_event: EventFn | None = None,
        ask_feedback: FeedbackFn | None = None,
    ) -> None:
        self.config = config
        self.workspace = workspace
        self.store: RunStore = workspace.store
        self.task: Task = get_task(config.task)
        self.run = run or self.store.create_run(
            self.task.id, config.strategy, config.model_dump(mode="json")
        )
        self.run_id = self.run.id
        self.on_event = on_event or (lambda event: None)
        self.ask_feedback = ask_feedback
        self.num_steps = config.num_steps or self.task.num_steps
        self.seeds = [config.seed + j for j in range(config.seeds)]
        self.run_dir = workspace.run_dir(self.run_id)
        self._designer = designer
        self._trainer: Trainer | None = None
        self._sandbox: RewardSandbox | None = None
        self._success_code: str | None = None

    @classmethod
    def resume(cls, workspace: Workspace, run_id: str, **kwargs: Any) -> Search:
        run = workspace.store.get_run(run_id)
        if run.status == "finished":
            raise RunError(f"run {run.id} has already finished; start a new search instead")
        try:
            config = SearchConfig(**run.config)
        except ValidationError as exc:
            raise RunError(
                f"run {run.id} cannot be resumed: its stored configuration does not fit this "
                f"version of rewardforge ({exc.error_count()} problem(s), first: "
                f"{exc.errors()[0]['loc']}: {exc.errors()[0]['msg']})"
            ) from None
        return cls(config, workspace, run=run, **kwargs)

    # --- parts, made when first needed ----------------------------------------------------
    @property
    def designer(self) -> Designer:
        if self._designer is None:
            from rewardforge.search.designers import make_designer

            self._designer = make_designer(
                self.config, self.task, self.workspace, self._record_call
            )
        return self._designer

    @property
    def trainer(self) -> Trainer:
        if self._trainer is None:
            hparams = {"num_envs": self.config.num_envs} if self.config.num_envs else {}
            default = "sac" if self.config.strategy == "population" else self.task.trainer
            self._trainer = make_trainer(
                self.config.trainer or default,
                self.task,
                device=self.config.device,
                **hparams,
            )
            if self.config.judge is not None:  # fitness from a teacher's tournament
                from rewardforge.search.preference import judged_trainer

                self._trainer = judged_trainer(self)
        return self._trainer

    @property
    def sandbox(self) -> RewardSandbox:
        if self._sandbox is None:
            self._sandbox = RewardSandbox()
        return self._sandbox

    def _record_call(self, call: Any) -> None:
        self.store.record_model_call(
            self.run_id,
            request_hash=call.request_hash,
            provider=call.provider,
            model=call.model,
            prompt_tokens=call.prompt_tokens,
            completion_tokens=call.completion_tokens,
            cost_usd=call.cost_usd,
            latency_s=call.latency_s,
            cached=call.cached,
            iteration=self._iteration,
            purpose=call.purpose,
        )
        usage = self.store.model_usage(self.run_id)
        self.on_event(SearchEvent("model", self._iteration, {"usage": usage}))

    # --- the loop -------------------------------------------------------------------------
    _iteration: int | None = None
    _population: Any = None  # the population strategy's state (search/population.py)

    @property
    def num_iterations(self) -> int:
        return 1 if self.config.strategy == "oneshot" else self.config.iterations

    @property
    def samples(self) -> int:
        return 1 if self.config.strategy == "refine" else self.config.samples

    def run_search(self) -> dict[str, Any]:
        """Run (or continue) the search to the end; returns the run's summary."""
        if self.config.strategy == "preference":  # one learned reward (search/preference.py)
            from rewardforge.search.preference import run_preference

            return run_preference(self)
        return self.run_recorded(self._iterate)

    def run_recorded(self, body: Callable[[float], dict[str, Any]]) -> dict[str, Any]:
        """Run ``body(start_time)`` as this run: the store says running, then finished with the
        summary ``body`` returns, or interrupted / failed with the error; closed either way."""
        start = time.perf_counter()
        self.store.set_run_status(self.run_id, "running", error=None)
        self.on_event(SearchEvent("run", None, {"run_id": self.run_id, "task": self.task.id}))
        try:
            summary = body(start)
            self.store.set_run_status(self.run_id, "finished", summary=summary)
        except KeyboardInterrupt:
            self.store.set_run_status(self.run_id, "interrupted", error="interrupted by the user")
            raise
        except BaseException as exc:
            self.store.set_run_status(self.run_id, "failed", error=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self.close()
        self.on_event(SearchEvent("done", None, summary))
        return summary

    def _iterate(self, start: float) -> dict[str, Any]:
        for it in range(self.num_iterations):
            self._iteration = it
            record = self.store.get_iteration(self.run_id, it)
            if record is None or record.status != "finished":
                try:
                    self._run_iteration(it)
                except _OutOfProposals as exc:
                    logger.info("%s; the search ends here", exc)
                    break
                except BudgetExceededError as exc:
                    logger.warning("model budget spent in iteration %d: %s", it, exc)
                    self.store.update_run_summary(self.run_id, {"budget_stop": str(exc)})
                    self.on_event(SearchEvent("budget", it, {"message": str(exc)}))
                    break
            if self._reached_target():
                logger.info("success target reached after iteration %d", it)
                break
        self._iteration = None
        record_final(self)
        return search_summary(self, time.perf_counter() - start)

    def close(self) -> None:
        if self._population is not None:
            self._population.close()
            self._population = None
        if self._executor is not None:
            self._executor.close()
            self._executor = None
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None

    def _run_iteration(self, it: int) -> None:
        if self.config.strategy == "population":  # LaRes (search/population.py)
            if self._population is None:
                from rewardforge.search.population import PopulationSearch

                self._population = PopulationSearch(self)
            self._population.run_iteration(it)
            return
        self.store.start_iteration(self.run_id, it)
        context = self._context(it)
        self.on_event(SearchEvent("iteration", it, {"of": self.num_iterations}))
        slots = self._checked(it, self._proposals(it, context), context)
        passing = [(rec, check) for rec, check in slots if check.ok]
        kept = self._screened(it, passing)
        self._trained(it, kept)
        self._finish(it)

    # --- history --------------------------------------------------------------------------
    def _results(self) -> list[CandidateResult]:
        out = []
        for c in self.store.list_candidates(self.run_id):
            if c.status in ("trained", "stopped_early") and c.fitness is not None:
                out.append(
                    CandidateResult(
                        candidate_id=c.id,
                        code=c.code,
                        fitness=c.fitness,
                        success_rate=float(c.details.get("success_rate", 0.0)),
                        reflection=c.details.get("reflection", {}),
                        feedback=c.details.get("feedback", ""),
                        meta={"iteration": c.iteration, "status": c.status},
                    )
                )
        return out

    def _best(self, results: list[CandidateResult]) -> CandidateResult | None:
        """Best by fitness among fully trained candidates (else among all that have one)."""
        trained = [r for r in results if r.meta.get("status") == "trained"] or results
        return max(
            trained, key=lambda r: (r.fitness, r.success_rate, -r.candidate_id), default=None
        )

    def _context(self, it: int) -> DesignContext:
        history = self._results()
        if self.config.strategy == "refine":
            previous = [r for r in history if r.meta.get("iteration") == it - 1]
            best = self._best(previous) or self._best(history)
        else:
            best = self._best(history)
        human, mode = "", "join"
        previous_record = self.store.get_iteration(self.run_id, it - 1) if it else None
        if previous_record is not None and previous_record.human_feedback:
            human = previous_record.human_feedback.strip()
            if human.lower().startswith(REPLACE_PREFIX):
                human, mode = human[len(REPLACE_PREFIX) :].strip(), "replace"
        kwargs: dict[str, Any] = {}
        if "human_feedback_mode" in DesignContext.__dataclass_fields__:
            kwargs["human_feedback_mode"] = mode
        return DesignContext(
            task=self.task,
            iteration=it,
            best=best,
            history=tuple(history),
            human_feedback=human,
            rng_seed=self.config.seed,
            **kwargs,
        )

    def _reached_target(self) -> bool:
        if self.config.strategy == "oneshot" or self.task.fitness_kind != "success_rate":
            return False
        best = self._best(self._results())
        return best is not None and best.fitness >= self.config.success_target

    # --- proposals and checks -------------------------------------------------------------
    def _proposals(self, it: int, context: DesignContext) -> list[tuple[int, Proposal]]:
        k = self.samples
        stored = [self.store.find_candidate(self.run_id, it, slot, 0) for slot in range(k)]
        if all(rec is not None for rec in stored):
            return [(slot, _proposal(rec)) for slot, rec in enumerate(stored) if rec is not None]
        proposals = self.designer.propose(k, context)
        if not proposals:
            message = f"the {self.designer.name} designer proposed no candidate for iteration {it}"
            if it == 0:
                raise RunError(message)
            raise _OutOfProposals(message)
        proposals = [self._prepare(p, context) for p in proposals]
        out = []
        for slot, proposal in enumerate(proposals):
            rec = stored[slot] if slot < len(stored) else None
            if rec is None:
                rec = self._add(it, slot, 0, proposal)
            out.append((slot, _proposal(rec)))
        self.on_event(SearchEvent("proposed", it, {"count": len(out)}))
        return out

    def _prepare(self, proposal: Proposal, context: DesignContext) -> Proposal:
        """ARCHIE's structure (oneshot --archie): the success bonus outweighs all shaping."""
        if not (self.config.strategy == "oneshot" and self.config.archie):
            return proposal
        from rewardforge.search.archie import archie_proposal

        return archie_proposal(proposal, self._success_source(context), self.task, self.sandbox)

    def _success_source(self, context: DesignContext) -> str:
        """The success criterion used by ARCHIE's bonus: the model's when asked, else the task's."""
        if self._success_code is None:
            details = self.store.get_run(self.run_id).summary
            code = details.get("success_code")
            if code is None:
                ask = self.config.generate_success and hasattr(self.designer, "success_criterion")
                code = (
                    self.designer.success_criterion(context)  # type: ignore[attr-defined]
                    if ask
                    else self.task.success.code
                )
                self.store.update_run_summary(self.run_id, {"success_code": code})
            self._success_code = str(code)
        return self._success_code

    def _add(self, it: int, slot: int, attempt: int, proposal: Proposal) -> CandidateRecord:
        code = extracted(proposal)
        details: dict[str, Any] = {"notes": proposal.notes, "meta": dict(proposal.meta)}
        if proposal.code != code:
            details["raw"] = proposal.code
        return self.store.add_candidate(
            self.run_id,
            it,
            slot,
            code,
            designer=proposal.designer,
            parent_id=proposal.parent_id,
            attempt=attempt,
            details=details,
        )

    def _checked(
        self, it: int, proposals: list[tuple[int, Proposal]], context: DesignContext
    ) -> list[tuple[CandidateRecord, Check]]:
        """Each slot's final attempt with its check; failures go back to the designer."""
        out = []
        for slot, proposal in proposals:
            attempt = 0
            rec = self.store.find_candidate(self.run_id, it, slot, 0)
            assert rec is not None
            while True:
                check = self._check(rec, proposal)
                if check.ok or check.error_kind == "model" or attempt >= self.config.max_repairs:
                    break
                nxt = self.store.find_candidate(self.run_id, it, slot, attempt + 1)
                if nxt is None:
                    repaired = self.designer.repair(proposal, check.error or "", context)
                    if repaired is None:
                        break
                    nxt = self._add(it, slot, attempt + 1, repaired)
                    self.on_event(SearchEvent("repair", it, {"slot": slot, "attempt": attempt + 1}))
                rec, proposal, attempt = nxt, _proposal(nxt), attempt + 1
            out.append((rec, check))
            self.on_event(
                SearchEvent("checked", it, {"slot": slot, "ok": check.ok, "kind": check.error_kind})
            )
        return out

    def _check(self, rec: CandidateRecord, proposal: Proposal) -> Check:
        if rec.status == "rejected":
            return Check(code=rec.code, error_kind=rec.error_kind, error=rec.error)
        if rec.details.get("checked"):
            program = RewardProgram.from_source(rec.code, self.task)
            return Check(code=rec.code, program=program)
        check = check_proposal(proposal, self.task, self.sandbox, seed=self.config.seed)
        if check.ok:
            self.store.update_candidate(rec.id, details={"checked": True, **check.details})
            self.workspace.reward_path(self.run_id, rec.id).write_text(rec.code, "utf-8")
        else:
            logger.info("candidate %d rejected (%s): %s", rec.id, check.error_kind, check.error)
            self.store.update_candidate(
                rec.id,
                status="rejected",
                error_kind=check.error_kind,
                error=check.error,
                details=check.details,
            )
        return check

    # --- screening ------------------------------------------------------------------------
    def _trajectory_path(self, it: int) -> Path:
        return self.run_dir / "trajectories" / f"iteration_{it}.npz"

    def _screened(
        self, it: int, passing: list[tuple[CandidateRecord, Check]]
    ) -> list[tuple[CandidateRecord, Check]]:
        if not self.config.screening or len(passing) < 2 or it == 0:
            return passing
        trajectories = [t for j in range(it) for t in load_trajectories(self._trajectory_path(j))]
        if not has_contrast(trajectories):
            return passing
        aucs: list[float | None] = []
        for _, check in passing:
            assert check.program is not None
            reward = SandboxedReward(self.sandbox, check.program)
            try:
                aucs.append(_auc(reward, trajectories))
            except Exception as exc:  # noqa: BLE001 - a reward that fails here trains and fails there
                logger.info("screening could not score %s: %s", reward.name, exc)
                aucs.append(None)
            finally:
                reward.close()
        verdicts = screen(aucs, self.config.screen_min_auc, self.config.screen_fraction)
        kept = []
        for (rec, check), verdict in zip(passing, verdicts, strict=True):
            screen_info = {"auc": verdict.auc, "reason": verdict.reason}
            if verdict.keep:
                self.store.update_candidate(rec.id, details={"screen": screen_info})
                kept.append((rec, check))
            else:
                self.store.update_candidate(
                    rec.id, status="screened_out", details={"screen": screen_info}
                )
        self.on_event(SearchEvent("screened", it, {"out": len(passing) - len(kept)}))
        return kept

    # --- training -------------------------------------------------------------------------
    def _trained(
        self, it: int, kept: list[tuple[CandidateRecord, Check]]
    ) -> list[CandidateOutcome]:
        if not kept or all(rec.status in FINISHED for rec, _ in kept):
            return []  # every outcome was recorded before a kill: not trained again
        if self.config.executor == "local" and (self.config.workers or 1) <= 1:
            return self._trained_here(it, kept)
        return self._trained_apart(it, kept)

    def _trained_here(
        self, it: int, kept: list[tuple[CandidateRecord, Check]]
    ) -> list[CandidateOutcome]:
        """One population of all kept candidates, trained in this process."""
        rewards = []
        for rec, check in kept:
            assert check.program is not None
            rewards.append(
                (rec.id, SandboxedReward(self.sandbox, check.program, name=f"c{rec.id}"))
            )
            self.store.update_candidate(rec.id, status="training")

        def on_rung(index: int, steps: int, scores: dict[int, float]) -> None:
            self.on_event(
                SearchEvent("rung", it, {"rung": index, "steps": steps, "scores": scores})
            )

        try:
            outcomes, trajectories = train_candidates(
                self.trainer,
                rewards,
                self.seeds,
                self.num_steps,
                rungs=self.config.rungs,
                eta=self.config.eta,
                checkpoint_dir=self.workspace.checkpoint_dir(self.run_id) / f"iteration_{it}",
                log_dir=self.workspace.tb_dir(self.run_id) / f"iteration_{it}",
                on_rung=on_rung,
                trajectory_episodes=TRAJECTORY_EPISODES if self.config.screening else 0,
            )
        finally:
            for _, fn in rewards:
                fn.close()
        if trajectories:
            step = max(1, len(trajectories) // MAX_TRAJECTORIES)
            save_trajectories(self._trajectory_path(it), trajectories[::step][:MAX_TRAJECTORIES])
        for outcome in outcomes:
            self._record(outcome)
        return outcomes

    def _trained_apart(
        self, it: int, kept: list[tuple[CandidateRecord, Check]]
    ) -> list[CandidateOutcome]:
        """Groups of candidates as jobs on the executor; each group is recorded as it ends."""
        for rec, _ in kept:
            self.store.update_candidate(rec.id, status="training")
        jobs = split_jobs(
            [(rec.id, check.program.source) for rec, check in kept if check.program is not None],
            self.executor.parallelism,
            task=self.task,
            trainer=self.config.trainer or self.task.trainer,
            hparams={"num_envs": self.config.num_envs} if self.config.num_envs else {},
            device=self.config.device,
            seeds=tuple(self.seeds),
            num_steps=self.num_steps,
            rungs=self.config.rungs,
            eta=self.config.eta,
            folder=f"iteration_{it}",
            trajectory_episodes=TRAJECTORY_EPISODES if self.config.screening else 0,
        )
        by_cid: dict[int, CandidateOutcome] = {}
        trajectories: dict[int, list[Any]] = {}
        retries = 0
        for report in self.executor.map_unordered(run_training_job, jobs):
            job, output = jobs[report.index], report.result
            if output is None:
                outcomes = failed_outcomes(job, report.error or "no result")
            else:
                store_files(output, self.run_dir)
                outcomes, trajectories[job.group] = output.outcomes, output.trajectories
                for index, steps, scores in output.rungs:
                    data = {"rung": index, "steps": steps, "scores": scores, "group": job.group}
                    self.on_event(SearchEvent("rung", it, data))
            retries += report.retries
            where = {"executor": self.executor.name, "group": job.group}
            for o in outcomes:
                self._record(o)
                self.store.update_candidate(
                    o.candidate_id, details={"training_job": {**where, "attempts": report.attempts}}
                )
                by_cid[o.candidate_id] = o
        if retries:
            total = int(self.store.get_run(self.run_id).summary.get("worker_retries", 0)) + retries
            self.store.update_run_summary(self.run_id, {"worker_retries": total})
        gathered = [t for g in sorted(trajectories) for t in trajectories[g]]
        if gathered:
            step = max(1, len(gathered) // MAX_TRAJECTORIES)
            save_trajectories(self._trajectory_path(it), gathered[::step][:MAX_TRAJECTORIES])
        return [by_cid[rec.id] for rec, _ in kept if rec.id in by_cid]

    @property
    def executor(self) -> Executor:
        """Where trainings run when they leave this process (made on first use)."""
        if self._executor is None:
            gpus = self.config.gpus_per_task
            if gpus is None:
                gpus = 0.25 if self.config.device.startswith("cuda") else 0.0
            self._executor = make_executor(
                self.config.executor,
                workers=self.config.workers,
                address=self.config.ray_address,
                num_gpus_per_task=gpus,
            )
        return self._executor

    _executor: Executor | None = None

    def _record(self, o: CandidateOutcome) -> None:
        components = o.components()
        metrics = {"curve": o.curve, "components": components, "reflection": o.reflection}
        status = {"trained": "finished"}.get(o.status, o.status)
        for j, seed in enumerate(o.seeds):
            self.store.record_training(
                o.candidate_id,
                seed=seed,
                budget_steps=o.steps,
                status=status,
                member=j,
                fitness=o.per_seed[j].fitness if j < len(o.per_seed) else None,
                metrics={**metrics, "eval": o.per_seed[j].to_dict() if j < len(o.per_seed) else {}},
                checkpoint=o.checkpoints[j] if j < len(o.checkpoints) else None,
                wall_time_s=o.wall_time_s,
            )
        self.store.update_candidate(
            o.candidate_id,
            status=o.status,
            fitness=o.fitness,
            error_kind="runtime" if o.error else None,
            error=o.error,
            details={
                "success_rate": o.success_rate,
                "steps": o.steps,
                "components": components,
                "reflection": o.reflection,
                "feedback": o.feedback,
            },
        )
        self.on_event(
            SearchEvent(
                "trained",
                self._iteration,
                {"candidate": o.candidate_id, "status": o.status, "fitness": o.fitness},
            )
        )

    def _finish(self, it: int) -> None:
        results = [r for r in self._results() if r.meta.get("iteration") == it]
        best_here = self._best(results)
        best = self._best(self._results())
        if best is not None:
            self.store.set_best(self.run_id, best.candidate_id)
        trainings = [  # read back, not passed in: a resumed iteration may have trained nothing
            t
            for c in self.store.list_candidates(self.run_id, it)
            for t in self.store.list_trainings(candidate_id=c.id)
        ]
        env_steps = sum(t.budget_steps for t in trainings)  # one row per candidate and seed
        num_trained = len({t.candidate_id for t in trainings})
        self.store.finish_iteration(
            self.run_id,
            it,
            best_candidate_id=best_here.candidate_id if best_here else None,
            details={
                "reflection": best_here.feedback if best_here else "",
                "env_steps": env_steps,
                "full_budget_steps": num_trained * len(self.seeds) * self.num_steps,
            },
        )
        self.on_event(
            SearchEvent(
                "iteration_done",
                it,
                {"best_fitness": best.fitness if best else None, "env_steps": env_steps},
            )
        )
        last = it == self.num_iterations - 1
        ask = self.ask_feedback if self.config.feedback == "human" else None
        if ask is not None and not last and not self._reached_target():
            text = ask(self.feedback_digest(it, best_here.candidate_id if best_here else None))
            self.store.set_iteration_feedback(self.run_id, it, human_feedback=text or "")

    def feedback_digest(self, it: int, candidate_id: int | None) -> str:
        """What a person giving feedback sees: the iteration's best candidates, their component
        statistics, and the path of an animation of the best one's policy (rendered now)."""
        from rewardforge.report.animation import animate_candidate

        animation = None
        if candidate_id is not None:
            path = self.run_dir / "animations" / f"iteration_{it}.gif"
            try:
                animation = str(
                    animate_candidate(
                        self.store, self.run_id, path, candidate_id=candidate_id, task=self.task
                    )
                )
            except RunError as exc:  # the digest says why there is none
                animation = f"none ({exc})"
        return iteration_digest(self.store, self.run_id, it, animation_path=animation)


class _OutOfProposals(Exception):
    """The designer has nothing more to propose (a replay source ran out)."""


def _proposal(rec: CandidateRecord) -> Proposal:
    meta = dict(rec.details.get("meta", {}))
    meta["attempt"] = rec.attempt
    return Proposal(
        code=rec.details.get("raw", rec.code),
        designer=rec.designer,
        parent_id=rec.parent_id,
        notes=rec.details.get("notes", ""),
        meta=meta,
    )


def _auc(reward: SandboxedReward, trajectories: list[Any]) -> float:
    import numpy as np

    returns = episode_returns(lambda batch: reward(batch).reward, trajectories)
    success = np.array([t.success for t in trajectories], dtype=bool)
    return ranking_auc(returns, success)
