"""Tasks: specs, the registry, built-in task files and batched variable extraction."""

from rewardforge.tasks.registry import get_task, list_tasks, register_task
from rewardforge.tasks.spec import SuccessCriterion, Task, Variable, load_task_file, parse_task_text
from rewardforge.tasks.vecenv import (
    ENV_REWARD_KEY,
    SUCCESS_KEY,
    EpisodeStats,
    StepResult,
    TaskVecEnv,
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
    "parse_task_text",
    "register_task",
]
