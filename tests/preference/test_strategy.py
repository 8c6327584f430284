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
from rewardforge.search.result import SearchResult
from rewardforge.search.runner import Search
from rewardforge.tasks.registry import get_task
from tests.search.support import EventLog, make_config, with_options

TINY: dict[str, Any] = dict(
    strategy="preference", steps=1200, num_envs=2, seed=1,
    unsupervised_steps=400, update_every=400, pairs_per_update=20, label_budget=40,
)  # fmt: skip


def config(**values: Any) -> Any:
    return make_config("pendulum", **{**TINY, **values})


def test_preference_run_records_the_learned_reward_labels_and_env_baseline(tmp_path) -> None:
    log = EventLog()
    search = Search(config(), Workspace(tmp_path), callbacks=[log])
    summary = search.run().to_dict()

    store, run_id = search.workspace.store, summary["run_id"]
    assert store.get_run(run_id).status == "finished"
    [candidate] = store.list_candidates(run_id)
    assert candidate.status == "trained" and candidate.designer == "preference/scripted"
    RewardProgram.from_source(candidate.code, get_task("pendulum"))  # a reward program
    assert candidate.details.preference.labels == 40
    assert candidate.success_rate is not None
    updates = candidate.details.preference.updates
    assert [u["step"] for u in updates] == [400, 800]
    assert all(u["fitness"] is not None and u["asked"] == 20 for u in updates)
    kinds = {(e.kind, e.baseline) for e in store.list_evaluations(run_id)}
    assert kinds == {("final", None), ("baseline", "env")}
    assert summary["preference"]["labels"] == 40
    result = SearchResult.from_store(search.workspace, run_id)
    assert result.preference is not None and result.preference.labels == 40
    assert result.preference.updates == 2 and result.preference.teacher == "scripted"
    assert summary["final"]["mean"] == candidate.fitness and "env" in summary
    run_dir = tmp_path / run_id
    with np.load(run_dir / "preference_labels.npz") as saved:
        assert saved["labels"].shape == (40,) and "first/theta" in saved.files
    assert (run_dir / "reward_model.pt").exists()
    assert (run_dir / "best_reward.py").read_text() == candidate.code
    assert {
        "on_search_start", "on_iteration_start", "on_training_progress", "on_candidate_scored",
        "on_iteration_end", "on_search_end",
    } <= log.hooks  # fmt: skip


def vlm_answer(request: RecordedRequest) -> Reply:
    return Reply("Image 1 is lower; Image 2 is higher." if len(request.messages) == 1 else "1")


def test_vlm_run_replays_from_its_label_cache_without_the_model(tmp_path, monkeypatch) -> None:
    pytest.importorskip("pygame")
    settings = {"steps": 900, "label_budget": 6, "pairs_per_update": 3,
                "baselines": False, "render_size": 32}  # fmt: skip
    with ScriptedModelServer() as server:
        server.script(*[vlm_answer] * 12)
        monkeypatch.setenv("REWARDFORGE_LLM_BASE_URL", server.base_url)
        cfg = config(**settings, model="compatible/vision")
        assert cfg.strategy.teacher == "vlm"  # a named model: the vlm teacher
        first = Search(cfg, Workspace(tmp_path)).run().to_dict()
        assert server.request_count == 12  # 6 pairs, two stages each
        replay = Search(with_options(cfg, cache="replay"), Workspace(tmp_path))
        second = replay.run().to_dict()
        assert server.request_count == 12  # nothing asked again
    store = replay.workspace.store
    [a], [b] = store.list_candidates(first["run_id"]), store.list_candidates(second["run_id"])
    assert a.designer == "preference/vlm" and a.details.preference.labels == 6
    assert a.code == b.code  # same labels, same seed: the same reward model
    assert store.model_usage(first["run_id"]).num_calls == 12


def test_preference_needs_sac(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"the preference strategy \(--strategy preference\) "
                       r"trains with sac; training.trainer \(--trainer ppo\) cannot be used"):  # fmt: skip
        config(trainer="ppo")
    assert config().training.trainer == "sac"


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
    cfg = search_cmd.config_from_args(args)
    strategy, teacher = cfg.strategy, cfg.teacher
    assert (strategy.name, strategy.teacher, strategy.label_budget) == (
        "preference",
        "scripted",
        50,
    )
    assert (strategy.pairs_per_update, strategy.update_every) == (10, 500)
    assert strategy.unsupervised_steps == 0
    assert (teacher.beta, teacher.mistake, teacher.skip, teacher.equal) == (2.0, 0.1, 0.05, 0.02)
