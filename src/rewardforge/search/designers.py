"""Which designer a search uses, built from its config."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rewardforge.designers.base import Designer
from rewardforge.designers.offline import OfflineDesigner
from rewardforge.designers.replay import ReplayDesigner
from rewardforge.errors import ConfigError, ModelConfigError, RunNotFoundError
from rewardforge.runs.workspace import Workspace
from rewardforge.search.config import SearchConfig
from rewardforge.tasks.spec import Task


def make_designer(
    config: SearchConfig,
    task: Task,
    workspace: Workspace,
    on_call: Callable[[Any], None] | None = None,
) -> Designer:
    """The designer ``config.designer`` names (``SearchConfig`` resolved its default)."""
    name = config.designer.name
    if name == "offline":
        return OfflineDesigner(task, seed=config.seed)
    if name == "replay":
        return _replay(config.designer.replay_from, workspace)
    return _llm(config, task, workspace, on_call)


def _replay(source: str | None, workspace: Workspace) -> ReplayDesigner:
    if not source:
        raise ConfigError(
            "the replay designer needs --replay-from FILE, DIR or a run id of this workspace"
        )
    if Path(source).exists():
        return ReplayDesigner.from_path(source)
    if workspace.exists:
        try:
            run = workspace.store.get_run(source)
        except RunNotFoundError:
            raise ConfigError(
                f"--replay-from {source!r} is neither a file, a directory, nor a run with "
                f"trained candidates in {workspace.root}"
            ) from None
        codes = [
            c.code
            for c in workspace.store.list_candidates(run.id)
            if c.status in ("trained", "stopped_early")
        ]
        if codes:
            return ReplayDesigner.from_codes(codes, label=lambda i: f"{run.id} #{i}")
    raise ConfigError(
        f"--replay-from {source!r} is neither a file, a directory, nor a run with trained "
        f"candidates in {workspace.root}"
    )


def _llm(
    config: SearchConfig,
    task: Task,
    workspace: Workspace,
    on_call: Callable[[Any], None] | None,
) -> Designer:
    from rewardforge.designers.llm import LLMDesigner
    from rewardforge.llm import UsageMeter, default_model_spec, get_model

    settings = config.model
    spec = settings.name or default_model_spec()
    if not spec:
        raise ModelConfigError(
            "the llm designer needs a model: set a provider key (e.g. OPENAI_API_KEY) or "
            "pass --model provider/name; `rewardforge models` lists the providers. Without a "
            "model, use --designer offline"
        )
    meter = UsageMeter(max_tokens=settings.max_tokens, max_cost_usd=settings.max_cost)
    model = get_model(
        spec, cache=workspace.model_cache_path, cache_mode=settings.cache, meter=meter,
        retry=settings.retry_policy(),
    )  # fmt: skip
    return LLMDesigner(task, model, temperature=settings.temperature, on_call=on_call)
