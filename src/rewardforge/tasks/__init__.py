"""Tasks: the ``Task`` model (also the task file's schema), task files, the registry,
environments (``make_env``) and batched variable extraction."""

from rewardforge.tasks.files import load_task_file, parse_task_text
from rewardforge.tasks.registry import get_task, list_tasks, register_task
from rewardforge.tasks.spec import SuccessCriterion, Task, Variable
from rewardforge.tasks.vecenv import (
    ENV_REWARD_KEY,
    SUCCESS_KEY,
    EpisodeStats,
    StepResult,
    TaskVecEnv,
    make_env,
)

__all__ = [
    "ENV_REWARD_KEY",
    "SUCCESS_KEY",
    "EpisodeStats",
    "StepResult",
    "SuccessCriterion",
    "Task",
    "TaskVecEnv",
    "Variable",
    "get_task",
    "list_tasks",
    "load_task_file",
    "make_env",
    "parse_task_text",
    "register_task",
]
