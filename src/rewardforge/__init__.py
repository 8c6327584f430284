"""rewardforge: design reward functions for reinforcement learning.

The front door::

    import rewardforge as rf

    result = rf.search("pendulum", samples=2, iterations=1, steps=5000, workspace="runs")
    print(result.best.fitness, result.best.code_path, result.final.success_rate)

``rf.search`` runs a search in one call; ``rf.Search(rf.SearchConfig(...))`` gives the run to
hold (``run()``, ``Search.resume``); ``rf.SearchCallback`` receives progress;
``rf.register_strategy`` adds a strategy. Tasks: ``rf.get_task``, ``rf.Task``, ``rf.make_env``;
trainers: ``rf.make_trainer``; stored runs: ``rf.Workspace``; benchmarks: ``rf.Bench``,
``rf.BenchSettings``, ``rf.load_suite``. Names other than ``search`` are
imported on first use (torch and the trainers load only when needed).

``rf.search`` is the function; the package of the same name is ``rewardforge.search`` in
``import`` statements (``from rewardforge.search.steps import SearchSteps``).
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("rewardforge")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from rewardforge.search.api import search  # noqa: E402 - after __version__, which the CLI reads

#: Public name -> the module that defines it.
_EXPORTS = {
    "Bench": "rewardforge.bench.runner",
    "BenchSettings": "rewardforge.bench.plan",
    "load_suite": "rewardforge.bench.suite",
    "Search": "rewardforge.search.runner",
    "SearchConfig": "rewardforge.search.config",
    "SearchResult": "rewardforge.search.result",
    "SearchCallback": "rewardforge.search.callbacks",
    "SearchSteps": "rewardforge.search.steps",
    "Strategy": "rewardforge.search.strategy",
    "StrategyConfig": "rewardforge.search.registry",
    "register_strategy": "rewardforge.search.registry",
    "Task": "rewardforge.tasks.spec",
    "get_task": "rewardforge.tasks.registry",
    "make_env": "rewardforge.tasks.vecenv",
    "make_trainer": "rewardforge.rl.registry",
    "Workspace": "rewardforge.runs.workspace",
    "rank_key": "rewardforge.ranking",
}

if TYPE_CHECKING:
    from rewardforge.bench.plan import BenchSettings
    from rewardforge.bench.runner import Bench
    from rewardforge.bench.suite import load_suite
    from rewardforge.ranking import rank_key
    from rewardforge.rl.registry import make_trainer
    from rewardforge.runs.workspace import Workspace
    from rewardforge.search.callbacks import SearchCallback
    from rewardforge.search.config import SearchConfig
    from rewardforge.search.registry import StrategyConfig, register_strategy
    from rewardforge.search.result import SearchResult
    from rewardforge.search.runner import Search
    from rewardforge.search.steps import SearchSteps
    from rewardforge.search.strategy import Strategy
    from rewardforge.tasks.registry import get_task
    from rewardforge.tasks.spec import Task
    from rewardforge.tasks.vecenv import make_env


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rewardforge' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "Bench",
    "BenchSettings",
    "Search",
    "SearchCallback",
    "SearchConfig",
    "SearchResult",
    "SearchSteps",
    "Strategy",
    "StrategyConfig",
    "Task",
    "Workspace",
    "__version__",
    "get_task",
    "load_suite",
    "make_env",
    "make_trainer",
    "rank_key",
    "register_strategy",
    "search",
]
