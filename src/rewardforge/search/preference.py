"""The ``preference`` strategy (RL-VLM-F, PEBBLE): train SAC on a reward model learned from a
teacher's comparisons of states, and record it like any other search.

The run has one iteration and one candidate: the learned reward. Its record holds the reward
model as a reward program (``export_program``: plain numpy with the weights inlined), the
number of labels, and the fitness after every reward-model update (``details.updates``). The
members' own fitness at the end is the run's ``final`` evaluation; the environment's reward,
trained with the same trainer, seeds and budget, is its ``env`` baseline. The run folder keeps
``reward_model.pt`` (weights and input statistics) and ``preference_labels.npz`` (every pair
asked: both states' variables and the label).

A VLM teacher's answers are kept in the workspace's label cache (``labels.sqlite``); with
``--cache replay`` the run is replayed from it with no model: same labels, same reward model.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import torch

from rewardforge.preference.render import StateRenderer, frame_task, state_task
from rewardforge.preference.reward_model import (
    LearnedReward,
    RewardLearner,
    RewardModelConfig,
    export_program,
)
from rewardforge.preference.schedule import PreferenceLoop, PreferenceSchedule, PreferenceUpdate
from rewardforge.preference.teachers import Teacher
from rewardforge.rewards.base import get_baseline
from rewardforge.rl.base import Trainer
from rewardforge.rl.registry import make_trainer
from rewardforge.runs.details import CandidateDetails, PreferenceDetails, TrainingDetails
from rewardforge.search import callbacks as cb
from rewardforge.search.config import TeacherSettings
from rewardforge.search.final import policy_details
from rewardforge.search.steps import SearchSteps
from rewardforge.search.strategy_configs import PreferenceConfig
from rewardforge.tasks.spec import Task

logger = logging.getLogger(__name__)

#: Frames a CNN reward model reads are this many pixels square (kept for every transition).
CNN_FRAME_SIZE = 48


class PreferenceStrategy:
    """See the module docstring."""

    def __init__(self, config: PreferenceConfig) -> None:
        self.config = config
        self.kind = config.teacher or "scripted"  # resolved by SearchConfig
        self._teacher: Teacher | None = None

    def prepare(self, steps: SearchSteps) -> None:
        """The trainer and the teacher (a vlm teacher without its model key fails here)."""
        self._trainer(steps, steps.task)
        self._teacher = steps.teacher(self.kind, self._task(steps))

    def run(self, steps: SearchSteps) -> None:
        steps.start_iteration(0, 1)
        if steps.store.find_candidate(steps.run_id, 0, 0, 0) is None:
            self._train(steps)  # a run killed while training trains again (deterministic)
        steps.iteration = None

    def evaluate(self, steps: SearchSteps) -> None:
        if steps.config.evaluation.baselines:
            self._baseline(steps)
        steps.store.update_run_summary(steps.run_id, {"preference": self._digest(steps)})

    def close(self) -> None:
        pass

    # --- parts ----------------------------------------------------------------------------
    def _task(self, steps: SearchSteps) -> Task:
        task = steps.task
        if self.config.reward_model == "cnn":
            task = frame_task(task, CNN_FRAME_SIZE)
        return state_task(task) if self.kind == "vlm" else task

    def _trainer(self, steps: SearchSteps, task: Task) -> Trainer:
        """The built-in SAC (``SearchConfig`` allows no other trainer here)."""
        return make_trainer(steps.trainer_name, task, device=steps.config.training.device,
                            eval_policy=steps.config.evaluation.eval_policy,
                            **steps.hparams)  # fmt: skip

    def _train(self, steps: SearchSteps) -> None:
        config, settings = self.config, steps.config
        task = self._task(steps)
        trainer = self._trainer(steps, task)
        teacher = self._teacher or steps.teacher(self.kind, task)
        learner = RewardLearner(
            task,
            RewardModelConfig(
                kind=config.reward_model, ensemble_size=config.ensemble_size, seed=settings.seed
            ),
        )
        schedule = PreferenceSchedule(
            steps.num_steps, config.unsupervised_steps, config.update_every,
            config.pairs_per_update, config.label_budget,
        )  # fmt: skip
        updates: list[dict[str, Any]] = []

        def on_update(update: PreferenceUpdate) -> None:
            updates.append(update.to_dict())
            steps.store.update_run_summary(steps.run_id, {"preference_updates": updates})
            scores = {0: update.fitness} if update.fitness is not None else {}
            steps.callbacks.on_training_progress(
                cb.TrainingProgress(0, update.index, update.step, scores)
            )

        teacher_settings = settings.teacher or TeacherSettings()
        renderer = (
            StateRenderer(task, teacher_settings.render_size, teacher_settings.camera)
            if self.kind == "vlm"
            else None
        )
        reward = LearnedReward(learner)
        started = time.perf_counter()
        pop = trainer.start(
            [reward], steps.seeds, log_dir=steps.workspace.tb_dir(steps.run_id),
            planned_steps=steps.num_steps,
        )  # fmt: skip
        try:
            loop = PreferenceLoop(
                pop, learner, teacher, schedule,
                renderer=renderer, seed=settings.seed, on_update=on_update,
            )  # fmt: skip
            loop.run()
            evals = pop.evaluate()
            results = pop.results(fitness=evals)
            paths = pop.save(steps.workspace.checkpoint_dir(steps.run_id) / "preference")
        finally:
            pop.close()
            if renderer is not None:
                renderer.close()
        self._save(steps, learner, loop)
        self._record(steps, learner, teacher, results, paths, updates, started)

    def _save(self, steps: SearchSteps, learner: RewardLearner, loop: PreferenceLoop) -> None:
        run_dir = steps.run_dir
        torch.save(learner.state_dict(), run_dir / "reward_model.pt")
        np.savez_compressed(run_dir / "preference_labels.npz", **loop.labelled_pairs())  # type: ignore[arg-type]

    def _record(
        self,
        steps: SearchSteps,
        learner: RewardLearner,
        teacher: Teacher,
        results: list[Any],
        paths: list[str],
        updates: list[dict[str, Any]],
        started: float,
    ) -> None:
        store, run_id, seeds = steps.store, steps.run_id, steps.seeds
        per_seed = [r.fitness.fitness for r in results]
        success = [r.fitness.success_rate for r in results]
        fitness, success_rate = float(np.mean(per_seed)), float(np.mean(success))
        wall = time.perf_counter() - started
        code = export_program(learner, note=f"Teacher: {teacher.name}.")
        about = PreferenceDetails(teacher=teacher.name, reward_model=self.config.reward_model)
        candidate_id = store.add_candidate(
            run_id, 0, 0, code, designer=f"preference/{teacher.name}",
            details=CandidateDetails(preference=about),
        ).id  # fmt: skip
        for j, r in enumerate(results):
            store.record_training(
                candidate_id, seed=r.seed, budget_steps=r.num_steps, member=j,
                fitness=r.fitness.fitness, metrics={"eval": r.fitness.to_dict(), "updates": updates},
                checkpoint=paths[j], wall_time_s=wall,
            )  # fmt: skip
        feedback = f"learned from {learner.num_labels} labels ({teacher.name} teacher)"
        learned = PreferenceDetails(
            labels=learner.num_labels, teacher_failures=getattr(teacher, "failures", 0),
            updates=updates,
        )  # fmt: skip
        store.update_candidate(
            candidate_id, status="trained", fitness=fitness, success_rate=success_rate,
            details=CandidateDetails(
                training=TrainingDetails(steps=steps.num_steps, feedback=feedback),
                preference=learned,
            ),
        )  # fmt: skip
        steps.workspace.reward_path(run_id, candidate_id).write_text(code, "utf-8")
        steps.callbacks.on_candidate_scored(
            cb.CandidateScored(0, candidate_id, "trained", fitness, success_rate)
        )
        env_steps = steps.num_steps * len(seeds)
        steps.finish_iteration(
            0, best_here=candidate_id, reflection=feedback, env_steps=env_steps,
            full_budget_steps=env_steps,
        )  # fmt: skip
        store.record_evaluation(
            run_id, kind="final", candidate_id=candidate_id, per_seed=per_seed, seeds=seeds,
            details={"success_rates": success, "num_steps": steps.num_steps,
                     "labels": learner.num_labels,
                     "mean_returns": [r.fitness.mean_return for r in results],
                     **policy_details([r.fitness for r in results])},
        )  # fmt: skip

    def _baseline(self, steps: SearchSteps) -> None:
        """The environment's reward, same trainer, seeds and budget (once per run)."""
        store, run_id = steps.store, steps.run_id
        if store.list_evaluations(run_id, kind="baseline"):
            return
        run = store.get_run(run_id)
        if run.best_candidate_id is not None:
            event = cb.FinalEvaluationStart(run.best_candidate_id, tuple(steps.seeds), ("env",))
            steps.callbacks.on_final_evaluation_start(event)
        trainer = self._trainer(steps, steps.task)
        results = trainer.train([get_baseline("env")], steps.seeds, steps.num_steps)
        evals = [r.fitness for r in results if r.fitness is not None]
        store.record_evaluation(
            run_id, kind="baseline", baseline="env",
            per_seed=[e.fitness for e in evals], seeds=steps.seeds,
            details={"success_rates": [e.success_rate for e in evals],
                     "mean_returns": [e.mean_return for e in evals],
                     "num_steps": steps.num_steps, **policy_details(evals)},
        )  # fmt: skip

    def _digest(self, steps: SearchSteps) -> dict[str, Any]:
        run = steps.store.get_run(steps.run_id)
        if run.best_candidate_id is None:
            return {}
        learned = steps.store.get_candidate(run.best_candidate_id).details.preference
        if learned is None:
            return {}
        return {
            "teacher": self.kind,
            "labels": learned.labels,
            "updates": len(learned.updates),
            "fitness_per_update": [u.get("fitness") for u in learned.updates],
            "teacher_failures": learned.teacher_failures,
        }


__all__ = ["CNN_FRAME_SIZE", "PreferenceStrategy"]
