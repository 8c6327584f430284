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
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from rewardforge.errors import ConfigError, ModelConfigError
from rewardforge.preference.render import StateRenderer, frame_task, state_task
from rewardforge.preference.reward_model import (
    LearnedReward,
    RewardLearner,
    RewardModelConfig,
    export_program,
)
from rewardforge.preference.schedule import PreferenceLoop, PreferenceSchedule, PreferenceUpdate
from rewardforge.preference.teachers import (
    LabelCache,
    ScriptedTeacher,
    Teacher,
    TeacherKnobs,
    VLMTeacher,
)
from rewardforge.rewards.base import get_baseline
from rewardforge.rl.registry import make_trainer
from rewardforge.search.config import SearchConfig
from rewardforge.search.final import search_summary
from rewardforge.tasks.spec import Task

if TYPE_CHECKING:
    from rewardforge.runs.workspace import Workspace
    from rewardforge.search.runner import Search

logger = logging.getLogger(__name__)

LABEL_CACHE_FILE = "labels.sqlite"
#: Frames a CNN reward model reads are this many pixels square (kept for every transition).
CNN_FRAME_SIZE = 48
#: Starts each policy plays when a teacher judges policies (``--judge``).
JUDGE_EPISODES = 4


def teacher_kind(config: SearchConfig) -> str:
    """``vlm`` when asked for or when a model is named, else ``scripted``."""
    return config.teacher or ("vlm" if config.model else "scripted")


def make_teacher(
    config: SearchConfig,
    task: Task,
    workspace: Workspace,
    on_call: Any = None,
    kind: str | None = None,
) -> Teacher:
    """The teacher a config asks for (``kind`` overrides ``teacher_kind(config)``)."""
    kind = kind or teacher_kind(config)
    if kind == "scripted":
        knobs = TeacherKnobs(
            beta=config.teacher_beta,
            mistake=config.teacher_mistake,
            skip=config.teacher_skip,
            equal=config.teacher_equal,
        )
        return ScriptedTeacher(task, config.teacher_utility, knobs, seed=config.seed)
    from rewardforge.llm import RetryPolicy, UsageMeter, default_model_spec, get_model

    spec = config.model or default_model_spec()
    if not spec:
        raise ModelConfigError(
            "the vlm teacher needs a vision model: pass --model provider/name (or set a "
            "provider key); without one, use --teacher scripted"
        )
    cache = LabelCache(workspace.root / LABEL_CACHE_FILE, mode=config.cache)
    model = None
    if config.cache != "replay":
        meter = UsageMeter(max_tokens=config.max_tokens, max_cost_usd=config.max_cost)
        model = get_model(
            spec,
            cache=workspace.model_cache_path,
            cache_mode=config.cache,
            meter=meter,
            retry=RetryPolicy.with_timeout(config.request_timeout),
        )
    return VLMTeacher(model, task.description, cache=cache, model_spec=spec, on_call=on_call)


def judged_trainer(search: Search) -> Any:
    """``search``'s trainer with its fitness replaced by a tournament judged by the config's
    teacher (``--judge scripted|vlm``)."""
    from rewardforge.preference.judge import JudgedTrainer

    config = search.config
    teacher = make_teacher(config, search.task, search.workspace, search._record_call, config.judge)
    renderer = None
    if teacher.needs_frames:
        search._trainer = make_trainer(
            config.trainer or search.task.trainer,
            state_task(search.task),
            device=config.device,
            **({"num_envs": config.num_envs} if config.num_envs else {}),
        )
        renderer = StateRenderer(search._trainer.task, config.render_size, config.camera)
    return JudgedTrainer(search._trainer, teacher, episodes=JUDGE_EPISODES, renderer=renderer)


def run_preference(search: Search) -> dict[str, Any]:
    """Run (or rerun) a ``preference`` search to the end; returns the run's summary."""
    return PreferenceStrategy(search).run()


class PreferenceStrategy:
    """See the module docstring. Uses ``search``'s store, workspace, seeds and events."""

    def __init__(self, search: Search) -> None:
        self.search = search
        self.config = search.config
        self.store = search.store
        self.run_id = search.run_id

    def run(self) -> dict[str, Any]:
        return self.search.run_recorded(self._run)

    def _run(self, start: float) -> dict[str, Any]:
        from rewardforge.search.runner import SearchEvent

        s = self.search
        s._iteration = 0
        self.store.start_iteration(self.run_id, 0)
        s.on_event(SearchEvent("iteration", 0, {"of": 1}))
        if self.store.find_candidate(self.run_id, 0, 0, 0) is None:
            self._train()  # a run killed while training trains again (deterministic)
        s._iteration = None
        if self.config.baselines:
            self._baseline()
        summary = search_summary(s, time.perf_counter() - start)
        summary["preference"] = self._digest()
        return summary

    # --- parts ----------------------------------------------------------------------------
    def _task(self, teacher: str) -> Task:
        task = self.search.task
        if self.config.reward_model == "cnn":
            task = frame_task(task, CNN_FRAME_SIZE)
        return state_task(task) if teacher == "vlm" else task

    def _trainer(self, task: Task) -> Any:
        name = self.config.trainer or task.trainer
        if name != "sac":
            raise ConfigError(
                f"the preference strategy trains with the built-in SAC (its replay buffer is "
                f"relabelled after every reward-model update); got --trainer {name}. Use "
                "--trainer sac"
            )
        hparams = {"num_envs": self.config.num_envs} if self.config.num_envs else {}
        return make_trainer(name, task, device=self.config.device, **hparams)

    def _train(self) -> None:
        from rewardforge.search.runner import SearchEvent

        s, config = self.search, self.config
        kind = teacher_kind(config)
        task = self._task(kind)
        trainer = self._trainer(task)
        teacher = make_teacher(config, task, s.workspace, s._record_call, kind)
        learner = RewardLearner(
            task,
            RewardModelConfig(
                kind=config.reward_model, ensemble_size=config.ensemble_size, seed=config.seed
            ),
        )
        schedule = PreferenceSchedule(
            s.num_steps,
            config.unsupervised_steps,
            config.update_every,
            config.pairs_per_update,
            config.label_budget,
        )
        s.on_event(SearchEvent("proposed", 0, {"count": 1}))
        s.on_event(SearchEvent("checked", 0, {"slot": 0, "ok": True, "kind": None}))
        updates: list[dict[str, Any]] = []

        def on_update(update: PreferenceUpdate) -> None:
            updates.append(update.to_dict())
            self.store.update_run_summary(self.run_id, {"preference_updates": updates})
            scores = {0: update.fitness} if update.fitness is not None else {}
            s.on_event(
                SearchEvent(
                    "rung", 0, {"rung": update.index, "steps": update.step, "scores": scores}
                )
            )

        renderer = StateRenderer(task, config.render_size, config.camera) if kind == "vlm" else None
        reward = LearnedReward(learner)
        started = time.perf_counter()
        pop = trainer.start(
            [reward], s.seeds, log_dir=s.workspace.tb_dir(self.run_id), planned_steps=s.num_steps
        )
        try:
            loop = PreferenceLoop(
                pop, learner, teacher, schedule,
                renderer=renderer, seed=config.seed, on_update=on_update,
            )  # fmt: skip
            loop.run()
            evals = pop.evaluate()
            results = pop.results(fitness=evals)
            paths = pop.save(s.workspace.checkpoint_dir(self.run_id) / "preference")
        finally:
            pop.close()
            if renderer is not None:
                renderer.close()
        self._save(learner, loop)
        self._record(learner, teacher, results, paths, updates, started)

    def _save(self, learner: RewardLearner, loop: PreferenceLoop) -> None:
        run_dir = self.search.run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        torch.save(learner.state_dict(), run_dir / "reward_model.pt")
        np.savez_compressed(run_dir / "preference_labels.npz", **loop.labelled_pairs())  # type: ignore[arg-type]

    def _record(
        self,
        learner: RewardLearner,
        teacher: Teacher,
        results: list[Any],
        paths: list[str],
        updates: list[dict[str, Any]],
        started: float,
    ) -> None:
        from rewardforge.search.runner import SearchEvent

        s = self.search
        per_seed = [r.fitness.fitness for r in results]
        success = [r.fitness.success_rate for r in results]
        fitness = float(np.mean(per_seed))
        wall = time.perf_counter() - started
        code = export_program(learner, note=f"Teacher: {teacher.name}.")
        candidate_id = self.store.add_candidate(
            self.run_id, 0, 0, code, designer=f"preference/{teacher.name}",
            details={"teacher": teacher.name, "reward_model": self.config.reward_model},
        ).id  # fmt: skip
        for j, r in enumerate(results):
            self.store.record_training(
                candidate_id, seed=r.seed, budget_steps=r.num_steps, member=j,
                fitness=r.fitness.fitness, metrics={"eval": r.fitness.to_dict(), "updates": updates},
                checkpoint=paths[j], wall_time_s=wall,
            )  # fmt: skip
        failures = getattr(teacher, "failures", 0)
        self.store.update_candidate(
            candidate_id,
            status="trained",
            fitness=fitness,
            details={
                "success_rate": float(np.mean(success)),
                "steps": s.num_steps,
                "labels": learner.num_labels,
                "teacher_failures": failures,
                "updates": updates,
                "feedback": f"learned from {learner.num_labels} labels ({teacher.name} teacher)",
            },
        )
        s.workspace.reward_path(self.run_id, candidate_id).write_text(code, "utf-8")
        self.store.set_best(self.run_id, candidate_id)
        self.store.finish_iteration(
            self.run_id, 0, best_candidate_id=candidate_id,
            details={"env_steps": s.num_steps * len(s.seeds),
                     "full_budget_steps": s.num_steps * len(s.seeds)},
        )  # fmt: skip
        self.store.record_evaluation(
            self.run_id, kind="final", candidate_id=candidate_id, per_seed=per_seed,
            seeds=s.seeds, details={"success_rates": success, "num_steps": s.num_steps,
                                    "labels": learner.num_labels,
                                    "mean_returns": [r.fitness.mean_return for r in results]},
        )  # fmt: skip
        s.on_event(SearchEvent("trained", 0, {"candidate": candidate_id, "status": "trained",
                                              "fitness": fitness}))  # fmt: skip
        s.on_event(SearchEvent("iteration_done", 0, {"best_fitness": fitness,
                                                     "env_steps": s.num_steps * len(s.seeds)}))  # fmt: skip

    def _baseline(self) -> None:
        """The environment's reward, same trainer, seeds and budget (once per run)."""
        if self.store.list_evaluations(self.run_id, kind="baseline"):
            return
        from rewardforge.search.runner import SearchEvent

        s = self.search
        s.on_event(SearchEvent("baseline", None, {"baseline": "env"}))
        trainer = self._trainer(s.task)
        results = trainer.train([get_baseline("env")], s.seeds, s.num_steps)
        self.store.record_evaluation(
            self.run_id, kind="baseline", baseline="env",
            per_seed=[r.fitness.fitness for r in results], seeds=s.seeds,
            details={"success_rates": [r.fitness.success_rate for r in results],
                     "mean_returns": [r.fitness.mean_return for r in results],
                     "num_steps": s.num_steps},
        )  # fmt: skip

    def _digest(self) -> dict[str, Any]:
        run = self.store.get_run(self.run_id)
        if run.best_candidate_id is None:
            return {}
        details = self.store.get_candidate(run.best_candidate_id).details
        updates = details.get("updates", [])
        return {
            "teacher": teacher_kind(self.config),
            "labels": details.get("labels", 0),
            "updates": len(updates),
            "fitness_per_update": [u.get("fitness") for u in updates],
            "teacher_failures": details.get("teacher_failures", 0),
        }
