"""Teachers from a search's settings, and trainers whose fitness a teacher judges.

``make_teacher`` builds the scripted teacher (from the task itself, with B-Pref's knobs) or a
VLM teacher (a vision model of the model layer, with the workspace's label cache).
``make_search_trainer`` is the trainer every code-writing strategy trains with: the named
trainer, wrapped in a ``JudgedTrainer`` when a judge selects rewards (``strategy.judge``). It is
also what a training job builds in a worker process (scripted judges only: a VLM judge keeps
its training in the search's process, which holds the model and its budget)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rewardforge.errors import ModelConfigError
from rewardforge.preference.judge import JudgedTrainer
from rewardforge.preference.render import StateRenderer, state_task
from rewardforge.preference.teachers import (
    LabelCache,
    ScriptedTeacher,
    Teacher,
    TeacherKnobs,
    VLMTeacher,
)
from rewardforge.rl.base import Trainer
from rewardforge.rl.registry import make_trainer
from rewardforge.runs.workspace import Workspace
from rewardforge.search.config import ModelSettings, TeacherSettings
from rewardforge.tasks.spec import Task

LABEL_CACHE_FILE = "labels.sqlite"
#: Starts each policy plays when a teacher judges policies (``--judge``).
JUDGE_EPISODES = 4


def scripted_teacher(settings: TeacherSettings, task: Task, seed: int) -> ScriptedTeacher:
    knobs = TeacherKnobs(
        beta=settings.beta, mistake=settings.mistake, skip=settings.skip, equal=settings.equal
    )
    return ScriptedTeacher(task, settings.utility, knobs, seed=seed)


def make_teacher(
    kind: str,
    settings: TeacherSettings,
    task: Task,
    *,
    seed: int,
    model: ModelSettings,
    workspace: Workspace,
    on_call: Callable[[Any], None] | None = None,
) -> Teacher:
    """The ``scripted`` or ``vlm`` teacher for ``task`` (a vlm one needs ``model.name``)."""
    if kind == "scripted":
        return scripted_teacher(settings, task, seed)
    from rewardforge.llm import UsageMeter, get_model

    if not model.name:
        raise ModelConfigError(
            "the vlm teacher needs a vision model: pass --model provider/name (model.name) or "
            "set a provider key; without one, use the scripted teacher"
        )
    cache = LabelCache(workspace.root / LABEL_CACHE_FILE, mode=model.cache)
    chat = None
    if model.cache != "replay":
        meter = UsageMeter(max_tokens=model.max_tokens, max_cost_usd=model.max_cost)
        chat = get_model(
            model.name, cache=workspace.model_cache_path, cache_mode=model.cache, meter=meter,
            retry=model.retry_policy(),
        )  # fmt: skip
    return VLMTeacher(chat, task.description, cache=cache, model_spec=model.name, on_call=on_call)


def make_search_trainer(
    name: str,
    task: Task,
    *,
    device: str = "cpu",
    hparams: Mapping[str, Any] | None = None,
    judge: Teacher | None = None,
    settings: TeacherSettings | None = None,
    eval_policy: str | None = None,
) -> Trainer:
    """``make_trainer(name, task)``; with a ``judge``, its fitness is the judge's tournament
    (a judge that looks at frames gets a task that keeps the simulator state, to render)."""
    options = {"device": device, "eval_policy": eval_policy, **dict(hparams or {})}
    if judge is None:
        return make_trainer(name, task, **options)
    settings = settings or TeacherSettings()
    if judge.needs_frames:
        task = state_task(task)
    inner = make_trainer(name, task, **options)
    renderer = (
        StateRenderer(inner.task, settings.render_size, settings.camera)
        if judge.needs_frames
        else None
    )
    return JudgedTrainer(inner, judge, episodes=JUDGE_EPISODES, renderer=renderer)  # type: ignore[return-value]


__all__ = [
    "JUDGE_EPISODES",
    "LABEL_CACHE_FILE",
    "make_search_trainer",
    "make_teacher",
    "scripted_teacher",
]
