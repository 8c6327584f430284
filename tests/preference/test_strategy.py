"""``--strategy preference`` end to end on pendulum at a tiny budget: real SAC, real store."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rewardforge.cli import search_cmd
from rewardforge.errors import ConfigError
from rewardforge.llm.testing import RecordedRequest, Reply, ScriptedModelServer
from rewardforge.rewards.program import RewardProgram
from rewardforge.runs import Workspace
from rewardforge.search.config import SearchConfig
from rewardforge.search.runner import Search, SearchEvent

TINY: dict[str, Any] = dict(
    task="pendulum", strategy="preference", num_steps=1200, num_envs=2, seed=1,
    unsupervised_steps=400, update_every=400, pairs_per_update=20, label_budget=40,
)  # fmt: skip


def test_preference_run_records_the_learned_reward_labels_and_env_baseline(tmp_path) -> None:
    events: list[SearchEvent] = []
    search = Search(SearchConfig(**TINY), Workspace(tmp_path), on_event=events.append)
    summary = search.run_search()

    store, run_id = search.store, summary["run_id"]
    assert store.get_run(run_id).status == "finished"
    [candidate] = store.list_candidates(run_id)
    assert candidate.status == "trained" and candidate.designer == "preference/scripted"
    RewardProgram.from_source(candidate.code, search.task)  # a reward program like any other
    assert candidate.details["labels"] == 40
    updates = candidate.details["updates"]
    assert [u["step"] for u in updates] == [400, 800]
    assert all(u["fitness"] is not None and u["asked"] == 20 for u in updates)
    kinds = {(e.kind, e.baseline) for e in store.list_evaluations(run_id)}
    assert kinds == {("final", None), ("baseline", "env")}
    assert summary["preference"]["labels"] == 40
    assert summary["final"]["mean"] == candidate.fitness and "env" in summary
    run_dir = tmp_path / run_id
    with np.load(run_dir / "preference_labels.npz") as saved:
        assert saved["labels"].shape == (40,) and "first/theta" in saved.files
    assert (run_dir / "reward_model.pt").exists()
    assert (run_dir / "best_reward.py").read_text() == candidate.code
    assert {"run", "iteration", "rung", "trained", "iteration_done", "done"} <= {
        e.kind for e in events
    }


def vlm_answer(request: RecordedRequest) -> Reply:
    return Reply("Image 1 is lower; Image 2 is higher." if len(request.messages) == 1 else "1")


def test_vlm_run_replays_from_its_label_cache_without_the_model(tmp_path, monkeypatch) -> None:
    pytest.importorskip("pygame")
    settings = {**TINY, "num_steps": 900, "label_budget": 6, "pairs_per_update": 3,
                "baselines": False, "render_size": 32}  # fmt: skip
    with ScriptedModelServer() as server:
        server.script(*[vlm_answer] * 12)
        monkeypatch.setenv("REWARDFORGE_LLM_BASE_URL", server.base_url)
        config = SearchConfig(**settings, model="compatible/vision")
        first = Search(config, Workspace(tmp_path)).run_search()
        assert server.request_count == 12  # 6 pairs, two stages each
        replay = Search(config.model_copy(update={"cache": "replay"}), Workspace(tmp_path))
        second = replay.run_search()
        assert server.request_count == 12  # nothing asked again
    store = replay.store
    [a], [b] = store.list_candidates(first["run_id"]), store.list_candidates(second["run_id"])
    assert a.designer == "preference/vlm" and a.details["labels"] == 6
    assert a.code == b.code  # same labels, same seed: the same reward model
    assert store.model_usage(first["run_id"]).num_calls == 12


def test_preference_needs_sac(tmp_path) -> None:
    search = Search(SearchConfig(**{**TINY, "trainer": "ppo"}), Workspace(tmp_path))
    with pytest.raises(ConfigError, match="--trainer sac"):
        search.run_search()


def test_cli_flags_reach_the_config() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    search_cmd.register(parser.add_subparsers())
    args = parser.parse_args(
        ["search", "pendulum", "--strategy", "preference", "--teacher", "scripted",
         "--label-budget", "50", "--pairs-per-update", "10", "--update-every", "500",
         "--unsupervised-steps", "0", "--teacher-beta", "2", "--teacher-mistake", "0.1",
         "--teacher-skip", "0.05", "--teacher-equal", "0.02", "--designer", "offline"]
    )  # fmt: skip
    config = search_cmd.config_from_args(args)
    assert (config.strategy, config.teacher, config.label_budget) == ("preference", "scripted", 50)
    assert (config.pairs_per_update, config.update_every, config.unsupervised_steps) == (10, 500, 0)
    assert (config.teacher_beta, config.teacher_mistake) == (2.0, 0.1)
    assert (config.teacher_skip, config.teacher_equal) == (0.05, 0.02)
