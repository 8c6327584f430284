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
from typing import TYPE_CHECKING, Any

import torch

from rewardforge.designers.base import DesignContext, Proposal
from rewardforge.errors import ConfigError, RunError
from rewardforge.rewards.base import EnvReward, RewardFunction
from rewardforge.rewards.program import RewardProgram
from rewardforge.rewards.sandbox import SandboxedReward
from rewardforge.rl.sac import SACConfig
from rewardforge.rl.shared_sac import MemberEvaluation, SharedSACPopulation
from rewardforge.rl.types import EvalResult
from rewardforge.search.feedback import reflection_data, reflection_text
from rewardforge.search.runner import SearchEvent, _OutOfProposals, _proposal
from rewardforge.search.training import CandidateOutcome

if TYPE_CHECKING:
    from rewardforge.runs.records import CandidateRecord
    from rewardforge.search.runner import Search

logger = logging.getLogger(__name__)

STATE_FILE = "state.pt"


class PopulationSearch:
    """The population strategy's iterations, run by ``Search`` (see the module docstring)."""

    def __init__(self, search: Search) -> None:
        cfg = search.config
        if cfg.elites >= cfg.population_size:
            raise ConfigError(
                f"--elites ({cfg.elites}) must be smaller than --population-size "
                f"({cfg.population_size}), or no member ever gets a new reward"
            )
        if not isinstance(search.trainer.config, SACConfig):
            raise ConfigError(
                "the population strategy trains SAC policies from one shared replay buffer; "
                f"drop --trainer {cfg.trainer} (or pass --trainer sac)"
            )
        self.search, self.config, self.store = search, cfg, search.store
        self.task, self.run_id = search.task, search.run_id
        self.size = cfg.population_size
        self.num_members = self.size + int(cfg.with_env_member)
        self.refresh_steps = cfg.refresh_steps or search.num_steps
        self.seeds = [cfg.seed + k for k in range(self.num_members)]
        self.state_path = search.run_dir / "population" / STATE_FILE
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
        self.store.start_iteration(self.run_id, it)
        self.search.on_event(SearchEvent("iteration", it, {"of": self.config.iterations}))
        ranking = self._ranking()
        slots = self._to_replace(ranking)
        context = self._context(it, ranking)
        proposals = self._proposals(it, slots, context)
        checked = self.search._checked(it, proposals, context)
        new = {
            slot: rec
            for (slot, _), (rec, check) in zip(proposals, checked, strict=True)
            if check.ok
        }
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
            score = e["score"] if e["score"] is not None else 0.0
            return (usable, e["fitness"], e["success_rate"], score, e["mean_return"], -k)

        return sorted(range(self.num_members), key=key, reverse=True)

    def _to_replace(self, ranking: list[int]) -> list[int]:
        if self.pop is None:
            return list(range(self.size))
        program = [k for k in ranking if k < self.size]
        return sorted(program[self.config.elites :])

    def _context(self, it: int, ranking: list[int]) -> DesignContext:
        """The runner's context (human feedback included), about the present members: the
        best member is the one refined from, the members are the history."""
        base = self.search._context(it)
        results = {r.candidate_id: r for r in self.search._results()}
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
        stored = [self.store.find_candidate(self.run_id, it, slot, 0) for slot in slots]
        if all(rec is not None for rec in stored):
            return [(slot, _proposal(rec)) for slot, rec in zip(slots, stored, strict=True) if rec]
        proposals = self.search.designer.propose(len(slots), context)
        if not proposals:
            message = (
                f"the {self.search.designer.name} designer proposed nothing for iteration {it}"
            )
            if self.pop is None:
                raise RunError(message)
            raise _OutOfProposals(message)
        out = []
        for slot, rec, proposal in zip(slots, stored, proposals, strict=False):
            rec = rec or self.search._add(it, slot, 0, proposal)
            out.append((slot, _proposal(rec)))
        self.search.on_event(SearchEvent("proposed", it, {"count": len(out)}))
        return out

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
                    self.store.update_candidate(
                        old, details={"replaced_at_iteration": it, "left_at_step": self.pop.steps}
                    )
                self.reward_ids[slot] = new[slot].id
            self.pop.set_rewards({slot: self._reward(new[slot].id) for slot in new})
            self.pop.release(range(self.num_members))  # kept members train freely
            for slot in sorted(new):
                scale, shift = self.pop.rescale(slot, best)
                self.pop.copy_member(best, slot)
                self.store.update_candidate(
                    new[slot].id,
                    details={"started_from_member": best, "reward_scale": scale, "shift": shift},
                )
            self.pop.anchor(sorted(new), self.config.l2_weight)
        for slot, rec in new.items():
            self.candidates[slot] = rec.id
            self.store.update_candidate(
                rec.id,
                status="training",
                details={
                    "member": slot,
                    "joined_at_iteration": it,
                    "joined_at_step": self.pop.steps,
                },
            )

    def _make_population(self) -> SharedSACPopulation:
        rewards: list[RewardFunction] = [self._reward(cid) for cid in self.reward_ids]
        if self.config.with_env_member:
            rewards.append(EnvReward())
        trainer = self.search.trainer
        return SharedSACPopulation(
            self.task,
            rewards,
            self.seeds,
            trainer.config,
            device=trainer.device,
            num_threads=trainer.num_threads,
            log_dir=self.search.workspace.tb_dir(self.run_id) / "population",
            thompson_window=self.config.thompson_window,
        )

    def _reward(self, candidate_id: int) -> SandboxedReward:
        if candidate_id not in self._rewards:
            code = self.store.get_candidate(candidate_id).code
            program = RewardProgram.from_source(code, self.task)
            self._rewards[candidate_id] = SandboxedReward(
                self.search.sandbox, program, name=f"c{candidate_id}"
            )
        return self._rewards[candidate_id]

    def _train(self, it: int) -> None:
        pop = self.pop
        assert pop is not None
        start, before = time.perf_counter(), pop.steps
        pop.restart_episodes()
        pop.train_more(self.refresh_steps)
        evaluations = pop.evaluate_members()
        paths = pop.save(self.search.workspace.checkpoint_dir(self.run_id) / f"iteration_{it}")
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
        best = self.search._best(self.search._results())
        if best is not None:
            self.store.set_best(self.run_id, best.candidate_id)
        here = [e for e in self.last if self._candidate(e["member"]) is not None] if trained else []
        top = max(here, key=lambda e: (e["fitness"], e["success_rate"]), default=None)
        top_id = self.candidates[top["member"]] if top is not None else None
        env_steps = int(top["env_steps"]) if top is not None else 0
        details = {
            "reflection": top["feedback"] if top is not None else "",
            "env_steps": env_steps,
            "full_budget_steps": env_steps,
            "population": members,
        }
        self.store.finish_iteration(self.run_id, it, best_candidate_id=top_id, details=details)
        best_fitness = best.fitness if best is not None else None
        self.search.on_event(
            SearchEvent(
                "iteration_done", it, {"best_fitness": best_fitness, "env_steps": env_steps}
            )
        )
        self._ask_feedback(it)

    def _candidate(self, k: int) -> int | None:
        """Member ``k``'s candidate: None for a vacant member and the environment's member."""
        return self.candidates[k] if k < self.size else None

    def _record(self, candidate_id: int, e: dict[str, Any]) -> None:
        rec = self.store.get_candidate(candidate_id)
        curve = {k: list(v) for k, v in rec.details.get("curve", {}).items()}
        if e["steps"] not in curve.get("steps", []):  # recording again after a kill
            for key in ("steps", "fitness", "success_rate"):
                curve.setdefault(key, []).append(e[key])
        outcome = CandidateOutcome(
            candidate_id,
            status="failed" if e["error"] else "trained",
            steps=e["steps"],
            fitness=e["fitness"],
            success_rate=e["success_rate"],
            per_seed=[EvalResult(**e["eval"])],
            seeds=[self.seeds[e["member"]]],
            curve=curve,
            reflection=e["reflection"],
            feedback=e["feedback"],
            checkpoints=[e["checkpoint"]],
            error=e["error"],
            wall_time_s=e["wall_time_s"],
        )
        self.search._record(outcome)
        self.store.update_candidate(
            candidate_id,
            details={
                "curve": curve,
                "own_return": e["own_return"],
                "env_return": e["mean_return"],
                "eval_components": e["eval_components"],
            },
        )

    def _ask_feedback(self, it: int) -> None:
        ask = self.search.ask_feedback if self.config.feedback == "human" else None
        last = it == self.config.iterations - 1
        if ask is not None and not last and not self.search._reached_target():
            best = self.store.get_iteration(self.run_id, it)
            text = ask(self.search.feedback_digest(it, best.best_candidate_id if best else None))
            self.store.set_iteration_feedback(self.run_id, it, human_feedback=text or "")

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


__all__ = ["PopulationSearch", "member_feedback"]
