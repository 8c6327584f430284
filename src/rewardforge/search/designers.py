"""Which designer a search uses, built from its config."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rewardforge.designers.base import Designer
from rewardforge.designers.offline import OfflineDesigner
from rewardforge.designers.replay import ReplayDesigner
from rewardforge.errors import ConfigError, ModelConfigError
from rewardforge.runs.workspace import Workspace
from rewardforge.search.config import SearchConfig
from rewardforge.tasks.spec import Task


def default_designer(env: Any = None) -> str:
    """``llm`` when a model provider is configured (a key in the environment), else ``offline``."""
    from rewardforge.llm import default_model_spec

    return "llm" if default_model_spec(env) else "offline"


def make_designer(
    config: SearchConfig,
    task: Task,
    workspace: Workspace,
    on_call: Callable[[Any], None] | None = None,
) -> Designer:
    if config.designer == "offline":
        return OfflineDesigner(task, seed=config.seed)
    if config.designer == "replay":
        return _replay(config, workspace)
    return _llm(config, task, workspace, on_call)


def _replay(config: SearchConfig, workspace: Workspace) -> ReplayDesigner:
    source = config.replay_from
    if not source:
        raise ConfigError(
            "the replay designer needs --replay-from FILE, DIR or a run id of this workspace"
        )
    if Path(source).exists():
        return ReplayDesigner.from_path(source)
    if workspace.exists:
        run = workspace.store.get_run(source)
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
    from rewardforge.llm import RetryPolicy, UsageMeter, default_model_spec, get_model

    spec = config.model or default_model_spec()
    if not spec:
        raise ModelConfigError(
            "the llm designer needs a model: set a provider key (e.g. OPENAI_API_KEY) or "
            "pass --model provider/name; `rewardforge models` lists the providers. Without a "
            "model, use --designer offline"
        )
    meter = UsageMeter(max_tokens=config.max_tokens, max_cost_usd=config.max_cost)
    model = get_model(
        spec,
        cache=workspace.model_cache_path,
        cache_mode=config.cache,
        meter=meter,
        retry=RetryPolicy.with_timeout(config.request_timeout),
    )
    return LLMDesigner(task, model, temperature=config.temperature, on_call=on_call)
