"""The population strategy (LaRes, NeurIPS 2025): many rewards, one shared replay buffer.

P members, each a reward program (a candidate of the run) with its own SAC policy, train as one
``SharedSACPopulation``: one replay buffer keeps every transition's variables and a reward
column per member, Thompson sampling over each member's last ``thompson_window`` episodes
chooses who plays each next episode, and every member learns from every transition under its
own reward. Environment steps a replaced reward's policy took stay in the buffer for the
others. An iteration is one refresh:

1. from iteration 1, members are ranked by their last evaluation (fitness, success rate, the
   task's score, return under the environment's reward); the top ``elites`` keep their
   rewards; the designer writes new rewards for the others, refined from the best member's
   reward and feedback (success rate, returns under the environment's and its own reward,
   component statistics). Every new reward is checked like any proposal (extract, lint,
   smoke run, repairs); a member whose new reward fails keeps its reward and policy;
2. a member with a new reward gets its buffer column relabelled over the whole buffer (in
   the sandbox, in batches) and rescaled to the best member's column (mean and spread); it
   starts from the best member's networks and trains with an L2 pull toward them
   (``l2_weight``) until the next refresh;
3. ``refresh_steps`` environment steps of training, then every member is evaluated and
   recorded: each member's reward is a candidate whose fitness is its latest evaluation, and
   each evaluation a training record at the population's step count.

``with_env_member`` adds a member on the environment's own reward (LaRes's "with init" mode);
it is never replaced and is not a candidate, but when it is the best member, replaced members
start from its networks and are rescaled to its column. At iteration 0, slots whose proposal
failed every check train on the first passing reward and are replaced first at the next
refresh.

Resume: at the end of each iteration's training the population (networks, optimizer, buffer,
random streams, Thompson windows) and its evaluation are saved atomically to
``<run>/population/state.pt``, before anything of that iteration is recorded as finished, and
every iteration starts its environments on new episodes. So a resumed run continues exactly as
an uninterrupted one would. A kill during an iteration's training loses that training (its
proposals and checks stay in the store and are not asked for again): the iteration is
trained again from the previous iteration's state. A kill after the save only redoes the
bookkeeping.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Any

import torch

from rewardforge.designers.base import DesignContext, Proposal
from rewardforge.errors import RunError
from rewardforge.ranking import rank_key
from rewardforge.rewards.base import EnvReward, RewardFunction
from rewardforge.rewards.program import RewardProgram
from rewardforge.rewards.sandbox import SandboxedReward
from rewardforge.rl.shared_sac import MemberEvaluation, SharedSACPopulation
from rewardforge.rl.types import EvalResult
from rewardforge.runs.details import CandidateDetails, MemberDetails
from rewardforge.runs.records import CandidateRecord
from rewardforge.search.feedback import reflection_data, reflection_text
from rewardforge.search.iterative import iterate
from rewardforge.search.steps import OutOfProposals, SearchSteps
from rewardforge.search.strategy_configs import PopulationConfig
from rewardforge.search.training import CandidateOutcome

logger = logging.getLogger(__name__)

STATE_FILE = "state.pt"


class PopulationStrategy:
    """The ``population`` strategy (see the module docstring)."""

    def __init__(self, config: PopulationConfig) -> None:
        self.config = config
        self.state: PopulationRun | None = None

    def prepare(self, steps: SearchSteps) -> None:
        steps.trainer  # noqa: B018 - a trainer that cannot build fails before the run exists
        steps.designer  # noqa: B018 - likewise a missing model key or replay source

    def run(self, steps: SearchSteps) -> None:
        self.state = PopulationRun(self.config, steps)
        iterate(
            steps,
            self.config.iterations,
            self.state.run_iteration,
            lambda: steps.reached_target(self.config.success_target),
        )

    def evaluate(self, steps: SearchSteps) -> None:
        steps.final_evaluation()

    def close(self) -> None:
        if self.state is not None:
            self.state.close()
            self.state = None


def member_key(e: dict[str, Any], usable: bool) -> tuple[Any, ...]:
    """A member's place in the population, by its last evaluation (``rank_key``)."""
    score = e["score"] if e["score"] is not None else 0.0
    return rank_key(
        e["fitness"], e["success_rate"], fully_trained=usable, candidate_id=e["member"],
        extra=(score, e["mean_return"]),
    )  # fmt: skip


class PopulationRun:
    """One run's population: its members, their rewards and the shared SAC population."""

    def __init__(self, config: PopulationConfig, steps: SearchSteps) -> None:
        self.steps, self.config, self.store = steps, config, steps.store
        self.task, self.run_id = steps.task, steps.run_id
        self.size = config.population_size
        self.num_members = self.size + int(config.with_env_member)
        self.refresh_steps = config.refresh_steps or steps.num_steps
        self.seeds = [steps.config.seed + k for k in range(self.num_members)]
        self.state_path = steps.run_dir / "population" / STATE_FILE
        self.pop: SharedSACPopulation | None = None
        self.candidates: list[int | None] = [None] * self.size  # None: vacant
        self.reward_ids: list[int] = []  # the candidate whose reward each member trains on
        self.last: list[dict[str, Any]] = []  # each member's last evaluation
        self.done = -1  # the last iteration whose training ``pop`` holds
        self._rewards: dict[int, SandboxedReward] = {}
        self._loaded = False

    # --- one iteration --------------------------------------------------------------------
    def run_iteration(self, it: int) -> None:
        if not self._loaded:
            self._load()
        if self.done >= it:  # trained and saved before a kill: only the records are left
            self._finish(it)
            return
        self.steps.start_iteration(it, self.config.iterations)
        ranking = self._ranking()
        slots = self._to_replace(ranking)
        context = self._context(it, ranking)
        proposals = self._proposals(it, slots, context)
        checked = self.steps.check(it, proposals, context)
        new = {slot: c.record for (slot, _), c in zip(proposals, checked, strict=True) if c.ok}
        if self.pop is None and not new:
            logger.info("iteration %d: no reward passed its checks; nothing to train", it)
        else:
            self._refresh(it, new, ranking)
            self._train(it)
        self._finish(it)

    def _ranking(self) -> list[int]:
        """Members, best first, by their last evaluation; vacant and failed members last."""
        if not self.last:
            return []

        def key(k: int) -> tuple[Any, ...]:
            e = self.last[k]
            usable = e["error"] is None and (k >= self.size or self.candidates[k] is not None)
            return member_key(e, usable)

        return sorted(range(self.num_members), key=key, reverse=True)

    def _to_replace(self, ranking: list[int]) -> list[int]:
        if self.pop is None:
            return list(range(self.size))
        program = [k for k in ranking if k < self.size]
        return sorted(program[self.config.elites :])

    def _context(self, it: int, ranking: list[int]) -> DesignContext:
        """The runner's context (human feedback included), about the present members: the
        best member is the one refined from, the members are the history."""
        base = self.steps.context(it)
        results = {r.candidate_id: r for r in self.steps.results()}
        members = [results[c] for c in self.candidates if c is not None and c in results]
        best = next(
            (
                results[c]
                for k in ranking
                if k < self.size and (c := self.candidates[k]) is not None and c in results
            ),
            None,
        )
        return dataclasses.replace(base, best=best, history=tuple(members))

    def _proposals(
        self, it: int, slots: list[int], context: DesignContext
    ) -> list[tuple[int, Proposal]]:
        """One proposal per slot to fill, from the store when it holds them (resume)."""
        try:
            return self.steps.propose(it, len(slots), context, slots=slots)
        except OutOfProposals as exc:
            if self.pop is None:  # nothing to go on with: the run fails
                raise RunError(str(exc)) from None
            raise

    # --- the population -------------------------------------------------------------------
    def _refresh(self, it: int, new: dict[int, CandidateRecord], ranking: list[int]) -> None:
        """Members in ``new`` get their new rewards (the population starts when there is none)."""
        if self.pop is None:
            filler = new[min(new)].id
            self.reward_ids = [new[k].id if k in new else filler for k in range(self.size)]
            self.pop = self._make_population()
        else:
            best = ranking[0]
            for slot in new:
                old = self.candidates[slot]
                if old is not None:
                    left = MemberDetails(replaced_at_iteration=it, left_at_step=self.pop.steps)
                    self.store.update_candidate(old, details=CandidateDetails(member=left))
                self.reward_ids[slot] = new[slot].id
            self.pop.set_rewards({slot: self._reward(new[slot].id) for slot in new})
            self.pop.release(range(self.num_members))  # kept members train freely
            for slot in sorted(new):
                scale, shift = self.pop.rescale(slot, best)
                self.pop.copy_member(best, slot)
                started = MemberDetails(
                    started_from_member=best, reward_scale=scale, reward_shift=shift
                )
                self.store.update_candidate(new[slot].id, details=CandidateDetails(member=started))
            self.pop.anchor(sorted(new), self.config.l2_weight)
        for slot, rec in new.items():
            self.candidates[slot] = rec.id
            joined = MemberDetails(
                member=slot, joined_at_iteration=it, joined_at_step=self.pop.steps
            )
            self.store.update_candidate(
                rec.id, status="training", details=CandidateDetails(member=joined)
            )

    def _make_population(self) -> SharedSACPopulation:
        rewards: list[RewardFunction] = [self._reward(cid) for cid in self.reward_ids]
        if self.config.with_env_member:
            rewards.append(EnvReward())
        trainer = self.steps.trainer
        return SharedSACPopulation(
            self.task,
            rewards,
            self.seeds,
            trainer.config,
            device=trainer.device,
            num_threads=trainer.num_threads,
            eval_policy=trainer.eval_policy,
            log_dir=self.steps.workspace.tb_dir(self.run_id) / "population",
            thompson_window=self.config.thompson_window,
        )

    def _reward(self, candidate_id: int) -> SandboxedReward:
        if candidate_id not in self._rewards:
            code = self.store.get_candidate(candidate_id).code
            program = RewardProgram.from_source(code, self.task)
            self._rewards[candidate_id] = SandboxedReward(
                self.steps.sandbox, program, name=f"c{candidate_id}"
            )
        return self._rewards[candidate_id]

    def _train(self, it: int) -> None:
        pop = self.pop
        assert pop is not None
        start, before = time.perf_counter(), pop.steps
        pop.restart_episodes()
        pop.train_more(self.refresh_steps)
        evaluations = pop.evaluate_members()
        paths = pop.save(self.steps.workspace.checkpoint_dir(self.run_id) / f"iteration_{it}")
        wall = time.perf_counter() - start
        self.last = [
            self._summarize(k, ev, paths[k], pop.steps - before, wall)
            for k, ev in enumerate(evaluations)
        ]
        self.done = it
        self._save(it)

    def _summarize(
        self, k: int, ev: MemberEvaluation, checkpoint: str, env_steps: int, wall: float
    ) -> dict[str, Any]:
        """Member ``k``'s evaluation and reflection, as plain data (saved with the state)."""
        assert self.pop is not None
        r = ev.result
        played = [s for s in self.pop.recorder.snapshots[k] if s.num_episodes]
        reflection = reflection_data(played)
        return {
            "member": k,
            "steps": self.pop.steps,
            "env_steps": env_steps,
            "wall_time_s": wall,
            "eval": r.to_dict(),
            "fitness": r.fitness,
            "success_rate": r.success_rate,
            "score": r.score,
            "mean_return": r.mean_return,
            "own_return": ev.own_return,
            "eval_components": ev.components,
            "reflection": reflection,
            "feedback": member_feedback(ev, reflection, self.pop.steps, self.num_members),
            "error": self.pop.rewards.errors[k],
            "checkpoint": checkpoint,
            "thompson": list(self.pop.thompson.posterior(k)),
            "reward_scale": float(self.pop.reward_scale[k]),
            "reward_shift": float(self.pop.reward_shift[k]),
        }

    # --- records --------------------------------------------------------------------------
    def _finish(self, it: int) -> None:
        """Record every member's evaluation (idempotent), the best candidate, the iteration."""
        trained = self.done == it
        if trained:
            for k, cid in enumerate(self.candidates):
                if cid is not None and self.reward_ids[k] == cid:  # not vacant
                    self._record(cid, self.last[k])
        members = (
            [_brief(e, self._candidate(k)) for k, e in enumerate(self.last)] if trained else []
        )
        here = [e for e in self.last if self._candidate(e["member"]) is not None] if trained else []
        top = max(here, key=lambda e: member_key(e, True), default=None)
        top_id = self.candidates[top["member"]] if top is not None else None
        env_steps = int(top["env_steps"]) if top is not None else 0
        self.steps.finish_iteration(
            it, best_here=top_id, reflection=top["feedback"] if top is not None else "",
            env_steps=env_steps, full_budget_steps=env_steps, details={"population": members},
        )  # fmt: skip
        last = it == self.config.iterations - 1
        target = self.steps.reached_target(self.config.success_target)
        if self.config.feedback == "human" and not last and not target:
            self.steps.ask_feedback(it, top_id)

    def _candidate(self, k: int) -> int | None:
        """Member ``k``'s candidate: None for a vacant member and the environment's member."""
        return self.candidates[k] if k < self.size else None

    def _record(self, candidate_id: int, e: dict[str, Any]) -> None:
        rec = self.store.get_candidate(candidate_id)
        member = rec.details.member or MemberDetails()
        curve = {k: list(v) for k, v in member.curve.items()}
        if e["steps"] not in curve.get("steps", []):  # recording again after a kill
            for key in ("steps", "fitness", "success_rate"):
                curve.setdefault(key, []).append(e[key])
        outcome = CandidateOutcome(
            candidate_id,
            status="failed" if e["error"] else "trained",
            steps=e["steps"],
            fitness=e["fitness"],
            success_rate=e["success_rate"],
            per_seed=[EvalResult.from_dict(e["eval"])],
            seeds=[self.seeds[e["member"]]],
            curve=curve,
            reflection=e["reflection"],
            feedback=e["feedback"],
            checkpoints=[e["checkpoint"]],
            error=e["error"],
            wall_time_s=e["wall_time_s"],
        )
        self.steps.record(outcome)
        evaluated = MemberDetails(
            curve=curve, own_return=e["own_return"], env_return=e["mean_return"],
            eval_components=e["eval_components"],
        )  # fmt: skip
        self.store.update_candidate(candidate_id, details=CandidateDetails(member=evaluated))

    # --- saving and loading ---------------------------------------------------------------
    def _save(self, it: int) -> None:
        assert self.pop is not None
        state = {
            "iteration": it,
            "candidates": self.candidates,
            "reward_ids": self.reward_ids,
            "last": self.last,
            "population": self.pop.state_dict(),
        }
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_name(STATE_FILE + ".tmp")
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.state_path)

    def _load(self) -> None:
        self._loaded = True
        if not self.state_path.exists():
            return
        state = torch.load(self.state_path, weights_only=True)
        self.candidates = list(state["candidates"])
        self.reward_ids = [int(c) for c in state["reward_ids"]]
        self.last = list(state["last"])
        self.done = int(state["iteration"])
        self.pop = self._make_population()
        self.pop.load_state_dict(state["population"])
        logger.info("population restored after iteration %d (%d steps)", self.done, self.pop.steps)

    def close(self) -> None:
        if self.pop is not None:
            self.pop.close()
            self.pop = None
        for reward in self._rewards.values():
            reward.close()
        self._rewards = {}


def member_feedback(
    ev: MemberEvaluation, reflection: dict[str, Any], steps: int, num_members: int
) -> str:
    """Reflection for the designer: training statistics of the episodes the member played,
    then its evaluation under the task, the environment's reward and its own reward."""
    r = ev.result
    training = (
        reflection_text(None, reflection)
        if reflection.get("steps")
        else "Thompson sampling gave this policy no episode to play since its reward was set "
        "(other members looked more likely to succeed), so there are no statistics of its "
        "reward components during training; it learned from the other members' transitions."
    )
    lines = [
        training,
        f"The policy learned from {steps:,} environment steps shared by a population of "
        f"{num_members} policies (each relabelled with its own reward). Evaluated over "
        f"{r.num_episodes} episodes: success rate {r.success_rate:.2f}, mean return under the "
        f"environment's own reward {r.mean_return:.3g}, under this reward {ev.own_return:.3g}.",
    ]
    if ev.components:
        comps = ", ".join(f"{name} {value:.3g}" for name, value in ev.components.items())
        lines.append(f"Per-episode sums of this reward's components in those episodes: {comps}.")
    return "\n".join(lines)


def _brief(e: dict[str, Any], candidate_id: int | None) -> dict[str, Any]:
    keys = ("member", "fitness", "success_rate", "mean_return", "own_return", "thompson",
            "reward_scale", "reward_shift", "error")  # fmt: skip
    return {"candidate": candidate_id, **{k: e[k] for k in keys}}


__all__ = ["STATE_FILE", "PopulationRun", "PopulationStrategy", "member_feedback", "member_key"]
