"""The same search with the same seed on the same machine gives the same candidates, fitness
values and final figures (timings aside), for evolve (its groups trained by worker processes
that finish in any order), population and preference."""

from __future__ import annotations

import pytest

from rewardforge.runs import Workspace
from rewardforge.search.runner import Search
from tests.search.support import make_config
from tests.search.test_kill_resume import outcome

SEARCHES = {
    # two groups on two local workers: results come back in whatever order they finish
    "evolve": dict(samples=3, iterations=2, steps=1500, final_seeds=2, workers=2, rungs="0.5,1"),
    "population": dict(strategy="population", population_size=3, elites=1, iterations=2,
                       refresh_steps=1200, steps=1200, final_seeds=1),
    "preference": dict(strategy="preference", steps=2000, label_budget=40, pairs_per_update=20,
                       update_every=500, unsupervised_steps=500, seeds=2),
}  # fmt: skip


def figures(workspace: Workspace, run_id: str) -> dict:
    store = workspace.store
    out = outcome(store, run_id)
    out["policies"] = sorted(
        (e.kind, e.baseline, e.details.get("policy"), repr(e.details.get("by_policy")))
        for e in store.list_evaluations(run_id)
    )
    return out


@pytest.mark.parametrize("name", list(SEARCHES))
def test_the_same_search_twice_gives_the_same_candidates_and_figures(tmp_path, name) -> None:
    runs = []
    for i in range(2):
        workspace = Workspace(tmp_path / f"w{i}")
        config = make_config("pendulum", **SEARCHES[name])
        result = Search(config, workspace).run()
        runs.append(figures(workspace, result.run_id))
        assert result.final is not None
    first, second = runs
    assert first["candidates"] and first["evaluations"]
    assert first == second
