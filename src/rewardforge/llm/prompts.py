"""The designer's prompts, built from template files shipped with the package.

Templates live in ``llm/prompts/*.txt`` and use ``$name`` placeholders
(:class:`string.Template`), so reward code with braces needs no escaping."""

from __future__ import annotations

import ast
import inspect
import logging
import math
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from string import Template
from typing import Any

from rewardforge.tasks.spec import Task

logger = logging.getLogger(__name__)

#: Characters of environment source included as context at most (Eureka-style).
ENV_SOURCE_MAX_CHARS = 12_000
#: Values per component shown in reflection feedback (evenly spaced over training).
REFLECTION_MAX_POINTS = 10

Statistics = Mapping[str, Sequence[float] | float]


@cache
def template(name: str) -> Template:
    """The template ``prompts/<name>.txt``."""
    text = resources.files("rewardforge.llm").joinpath("prompts", f"{name}.txt").read_text("utf-8")
    return Template(text)


def render(name: str, **values: Any) -> str:
    return template(name).substitute(**values).strip() + "\n"


def system_prompt() -> str:
    return render("system")


def code_rules() -> str:
    return render("code_rules")


def variables_table(task: Task) -> str:
    """A Markdown table of the task's variables: name, shape, dtype, unit, description."""
    rows = ["| name | shape | dtype | unit | description |", "|---|---|---|---|---|"]
    for v in task.variables:
        desc = v.description.replace("|", "/").replace("\n", " ")
        rows.append(f"| {v.name} | {v.shape_text} | {v.dtype} | {v.unit or '-'} | {desc} |")
    return "\n".join(rows)


def task_prompt(task: Task, env_source: str | None = None) -> str:
    """The task: description, variables table, success rule, reward contract, output rules.

    ``env_source`` (from :func:`env_source_context`) is appended as context when given."""
    source = render("env_source", source=env_source.strip()) if env_source else ""
    return render(
        "task",
        description=task.description.strip(),
        env_name=task.env.name,
        max_episode_steps=task.max_episode_steps,
        success_rule=task.success.describe(),
        success_code=task.success.code.strip(),
        variables_table=variables_table(task),
        signature=", ".join(task.variable_names),
        code_rules=code_rules(),
        env_source=source,
    )


def _format_series(name: str, values: Sequence[float] | float) -> str:
    if isinstance(values, (int, float)):
        return f"{name}: {_num(float(values))}"
    values = [float(v) for v in values]
    if not values:
        return f"{name}: (no values recorded)"
    step = max(1, math.ceil(len(values) / REFLECTION_MAX_POINTS))
    shown = ", ".join(_num(v) for v in values[::step])
    finite = [v for v in values if math.isfinite(v)]
    summary = (
        f"Max: {_num(max(finite))}, Mean: {_num(sum(finite) / len(finite))}, Min: {_num(min(finite))}"
        if finite
        else "no finite values"
    )
    return f"{name}: [{shown}], {summary}"


def _num(v: float) -> str:
    return f"{v:.3g}" if math.isfinite(v) else str(v)


def format_statistics(
    components: Statistics, success_rate: Sequence[float] | float | None = None
) -> str:
    """Eureka-style feedback lines: each component's values over training with max/mean/min."""
    lines = [_format_series(name, values) for name, values in components.items()]
    if success_rate is not None:
        lines.append(_format_series("task success rate", success_rate))
    return "\n".join(lines)


def reflection_prompt(
    feedback: str | Statistics, success_rate: Sequence[float] | float | None = None
) -> str:
    """Policy feedback asking for an improved reward.

    ``feedback`` is ready text, or a mapping of component name to its values over training
    (or one number); ``success_rate`` is the success rate over training (or its final value)."""
    statistics = (
        feedback.strip() if isinstance(feedback, str) else format_statistics(feedback, success_rate)
    )
    if isinstance(feedback, str) and success_rate is not None:
        statistics += "\n" + _format_series("task success rate", success_rate)
    return render("reflection", statistics=statistics, code_rules=code_rules())


def execution_error_prompt(error_text: str) -> str:
    """Feedback for a reward that failed to parse, lint or run."""
    return render("execution_error", error=error_text.strip(), code_rules=code_rules())


def success_criterion_prompt(task: Task) -> str:
    """Ask for an ``is_success`` function over the task's variables (ARCHIE-style)."""
    return render(
        "success_criterion",
        description=task.description.strip(),
        variables_table=variables_table(task),
        signature=", ".join(task.variable_names),
    )


def strip_source(source: str) -> str:
    """Python source without docstrings and comments (re-emitted by ``ast.unparse``)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            first = body[0] if body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree)


def env_source_context(task: Task, max_chars: int = ENV_SOURCE_MAX_CHARS) -> str | None:
    """The task environment's class source, docstrings and comments stripped, size-capped.

    Returns None when the source cannot be found (C extensions, missing packages)."""
    try:
        source = strip_source(inspect.getsource(env_class(task)))
    except Exception as exc:  # missing source is a smaller prompt, not an error
        logger.info("no environment source for task %s: %s", task.id, exc)
        return None
    if len(source) > max_chars:
        source = source[:max_chars].rsplit("\n", 1)[0] + "\n# ... (truncated)"
    return source


def env_class(task: Task) -> type:
    """The environment class of a task, found through Gymnasium's registry or its entry point."""
    from rewardforge.tasks.envs import import_object

    entry: Any = task.env.entry_point
    if task.env.id is not None:
        import gymnasium as gym

        entry = gym.spec(task.env.id).entry_point
    obj = import_object(entry) if isinstance(entry, str) else entry
    if inspect.isclass(obj):
        return obj
    env = obj(**task.env.kwargs)  # a factory function: build one to see its class
    try:
        return type(env.unwrapped)
    finally:
        env.close()
