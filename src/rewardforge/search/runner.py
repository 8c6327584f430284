"""``Search``: one run of a search, from a config to a recorded run and its ``SearchResult``.

Making a ``Search`` writes nothing. ``run()`` builds the strategy registered under the config's
``strategy.name`` and the shared steps, lets the strategy build what can fail on a bad setting
(a trainer that does not exist, a missing model key or replay source) before the run exists,
then creates the run in the store and runs the strategy's iterations and final evaluation. The
store says ``running`` while it works, then ``finished`` with the summary, or ``interrupted`` /
``failed`` with the error. ``Search.resume`` continues a stopped run with its stored config."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from rewardforge.designers.base import Designer
from rewardforge.errors import RunError
from rewardforge.runs.records import RunRecord
from rewardforge.runs.workspace import Workspace
from rewardforge.search.callbacks import CallbackList, SearchCallback, SearchStart
from rewardforge.search.config import SearchConfig
from rewardforge.search.registry import get_strategy
from rewardforge.search.result import BEST_REWARD_FILE, SearchResult
from rewardforge.search.steps import SearchSteps
from rewardforge.search.strategy import Strategy
from rewardforge.tasks.registry import get_task

logger = logging.getLogger(__name__)


class Search:
    """One search; see the module docstring."""

    def __init__(
        self,
        config: SearchConfig,
        workspace: Workspace | str | os.PathLike[str] | None = None,
        *,
        callbacks: Sequence[SearchCallback] = (),
        designer: Designer | None = None,
        run_id: str | None = None,
        new_run_id: str | None = None,
    ) -> None:
        """``run_id``: a stored run to continue (``resume``); ``new_run_id``: the id the new
        run gets (default: made from the task, the strategy and the time)."""
        self.config = config
        self.workspace = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
        self.callbacks = CallbackList(callbacks)
        self.run_id = run_id
        self.new_run_id = new_run_id
        self._designer = designer

    @classmethod
    def resume(
        cls, workspace: Workspace | str | os.PathLike[str] | None, run_id: str, **kwargs: Any
    ) -> Search:
        """The search of a stopped run (``run_id`` or a unique prefix), with its stored config."""
        workspace = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
        if not workspace.exists:
            raise RunError(f"no workspace at {workspace.root}: it has no runs to resume")
        run = workspace.store.get_run(run_id)
        if run.status == "finished":
            raise RunError(f"run {run.id} has already finished; start a new search instead")
        return cls(_stored_config(run), workspace, run_id=run.id, **kwargs)

    def run(self) -> SearchResult:
        """Run (or continue) the search to the end; returns what it found."""
        task = get_task(self.config.task)
        spec = get_strategy(self.config.strategy.name)
        strategy: Strategy = spec.load()(self.config.strategy)
        steps = SearchSteps(
            self.config, task, self.workspace, self.callbacks, designer=self._designer
        )
        try:
            strategy.prepare(steps)  # a bad setting fails here, before any run exists
            run = self._open(task.id)
            steps.bind(run.id)
            return self._recorded(run, strategy, steps)
        finally:
            strategy.close()
            steps.close()

    def _open(self, task_id: str) -> RunRecord:
        store = self.workspace.store
        if self.run_id is not None:
            return store.get_run(self.run_id)
        run = store.create_run(
            task_id, self.config.strategy.name, self.config.to_dict(), run_id=self.new_run_id
        )
        self.run_id = run.id
        return run

    def _recorded(self, run: RunRecord, strategy: Strategy, steps: SearchSteps) -> SearchResult:
        store = self.workspace.store
        resumed = run.status != "running" or bool(store.list_iterations(run.id))
        start = time.perf_counter()
        store.set_run_status(run.id, "running", error=None)
        self.callbacks.on_search_start(
            SearchStart(
                run.id,
                steps.task.id,
                self.config.strategy.name,
                self.config.strategy.num_iterations,
                resumed,
            )  # fmt: skip
        )
        try:
            strategy.run(steps)
            steps.iteration = None
            steps.release_executor()  # its workers exit during the final evaluation
            strategy.evaluate(steps)
            result = self._result(run.id, time.perf_counter() - start)
            store.set_run_status(run.id, "finished", summary=result.to_dict())
        except KeyboardInterrupt:
            store.set_run_status(run.id, "interrupted", error="interrupted by the user")
            raise
        except BaseException as exc:
            store.set_run_status(run.id, "failed", error=f"{type(exc).__name__}: {exc}")
            raise
        result = dataclasses.replace(result, status="finished")
        self.callbacks.on_search_end(result)
        return result

    def _result(self, run_id: str, wall_time_s: float) -> SearchResult:
        """The run's result; writes the best reward to ``<run>/best_reward.py``."""
        store = self.workspace.store
        best_id = store.get_run(run_id).best_candidate_id
        if best_id is not None:
            code = store.get_candidate(best_id).code
            (self.workspace.run_dir(run_id) / BEST_REWARD_FILE).write_text(code, "utf-8")
        return SearchResult.from_store(self.workspace, run_id, wall_time_s=wall_time_s)


def _stored_config(run: RunRecord) -> SearchConfig:
    """The config ``run`` was started with; one this version cannot read is a ``RunError``."""
    try:
        return SearchConfig.from_stored(run.config)
    except ValidationError as exc:
        first = exc.errors()[0]
        problem = f"{exc.error_count()} problem(s), first: {first['loc']}: {first['msg']}"
    except (KeyError, ValueError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    raise RunError(
        f"run {run.id} cannot be resumed: its stored configuration does not fit this "
        f"version of rewardforge ({problem})"
    ) from None


__all__ = ["Search"]
