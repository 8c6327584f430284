"""``rf.search(...)``: a search in one call.

Options are the command line's flags with underscores (``samples``, ``iterations``, ``steps``,
``strategy``, ``model``, ...), or whole sections (``training={"steps": 5000}``); a config file
and dotted ``overrides`` work as on the command line. The search's machinery (torch, the
trainers) is imported when the function is called, so ``import rewardforge`` stays light."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rewardforge.search.config import SearchConfig
from rewardforge.search.options import build_config, load_config_file

if TYPE_CHECKING:
    from rewardforge.designers.base import Designer
    from rewardforge.runs.workspace import Workspace
    from rewardforge.search.callbacks import SearchCallback
    from rewardforge.search.result import SearchResult


def search(
    task: str | None = None,
    *,
    config: SearchConfig | None = None,
    config_file: str | Path | None = None,
    overrides: Sequence[str] = (),
    workspace: Workspace | str | os.PathLike[str] | None = None,
    callbacks: Sequence[SearchCallback] = (),
    designer: Designer | None = None,
    **options: Any,
) -> SearchResult:
    """Run a search on ``task`` (an id or a task file) and return its ``SearchResult``::

        result = rf.search("pendulum", samples=2, iterations=1, steps=5000, workspace="runs")
        print(result.best.fitness, result.best.code_path, result.final.success_rate)

    ``config`` (a ``SearchConfig``) or ``config_file`` gives the starting settings; then
    ``options``, then ``overrides`` (``"strategy.samples=4"``) change them. The run is stored in
    ``workspace`` (default ``$REWARDFORGE_HOME``, else ``./runs``)."""
    from rewardforge.search.runner import Search

    if config is not None and config_file is not None:
        raise TypeError("pass config or config_file, not both")
    base = load_config_file(config_file) if config_file is not None else None
    if config is not None:
        base = config.to_dict()
    settings = build_config(task, base=base, values=options, overrides=overrides)
    return Search(settings, workspace, callbacks=callbacks, designer=designer).run()


__all__ = ["search"]
