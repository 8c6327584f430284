"""The population strategy (LaRes) end to end on pendulum at tiny budgets: real shared-buffer
SAC, real sandbox, real store; resume after kills continues exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from rewardforge.errors import ConfigError
from rewardforge.runs import Workspace
from rewardforge.search.population import STATE_FILE
from rewardforge.search.runner import Search
from tests.search.support import EventLog, make_config

BUILTIN = Path(__file__).resolve().parents[2] / "src/rewardforge/tasks/builtin/pendulum.yaml"
#: pendulum with a SAC small enough that a few hundred steps include gradient steps
SAC = {"learning_starts": 100, "batch_size": 16, "net_arch": [8], "gradient_steps": 1}


@pytest.fixture
def tiny(tmp_path) -> dict:
    spec = yaml.safe_load(BUILTIN.read_text())
    spec["id"] = "pendulum-tiny"
    spec["trainers"] = {"sac": SAC}
    path = tmp_path / "pendulum-tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    return dict(
        task=str(path),
        strategy="population",
        steps=200,
        num_envs=2,
        final_seeds=0,
        success_target=1.0,
    )


def config(task: str, **values) -> object:
    return make_config(task, **values)


def test_population_search_records_members_refreshes_and_state(tiny, tmp_path) -> None:
    cfg = config(**tiny, population_size=3, elites=1, iterations=2, with_env_member=True)
    search = Search(cfg, Workspace(tmp_path))
    summary = search.run().to_dict()

    store, run_id = search.workspace.store, summary["run_id"]
    assert store.get_run(run_id).status == "finished"
    assert summary["iterations"] == 2 and summary["env_steps"] == 400
    candidates = {c.id: c for c in store.list_candidates(run_id)}
    first = [c for c in candidates.values() if c.iteration == 0]
    second = [c for c in candidates.values() if c.iteration == 1]
    assert [c.slot for c in first] == [0, 1, 2] and len(second) == 2  # P - elites replaced
    assert all(c.status == "trained" and c.fitness is not None for c in candidates.values())
    (elite,) = [c for c in first if c.details.member.replaced_at_iteration is None]
    assert elite.details.member.curve["steps"] == [200, 400]
    assert len(store.list_trainings(candidate_id=elite.id)) == 2
    for c in second:
        member = c.details.member
        assert member.member != elite.slot
        assert member.reward_scale is not None and member.reward_shift is not None
        assert member.started_from_member in (elite.slot, 3)
        assert "under this reward" in c.details.training.feedback
        assert c.success_rate is not None
    for record in store.list_iterations(run_id):
        members = record.details["population"]
        assert record.details["env_steps"] == 200 and len(members) == 4
        assert members[3]["candidate"] is None  # the environment's own reward
    assert (tmp_path / run_id / "population" / STATE_FILE).exists()
    assert summary["best_candidate"] in candidates


def _fingerprint(workspace: Path, run_id: str) -> tuple:
    store = Workspace(workspace).store
    cands = [(c.iteration, c.slot, c.attempt, c.code, c.status, c.fitness)
             for c in store.list_candidates(run_id)]  # fmt: skip
    state = torch.load(workspace / run_id / "population" / STATE_FILE, weights_only=True)
    varying = ("wall_time_s", "checkpoint")  # time, and a path naming the run
    last = [{k: v for k, v in e.items() if k not in varying} for e in state["last"]]
    return cands, state["population"]["nets"], json.dumps(last, sort_keys=True)  # NaN-safe


class Kill(Exception):
    """Stands for a SIGKILL at a chosen event."""


def test_resume_after_kills_continues_as_if_never_interrupted(tiny, tmp_path) -> None:
    cfg = config(**tiny, population_size=2, elites=1, iterations=2)
    reference = Search(cfg, Workspace(tmp_path / "ref")).run().to_dict()
    want = _fingerprint(tmp_path / "ref", reference["run_id"])

    workspace = Workspace(tmp_path / "killed")

    def kill_at(hook: str, iteration: int) -> list[EventLog]:
        def on(name: str, event) -> None:
            if name == hook and event.iteration == iteration:
                raise Kill(f"{hook} {iteration}")

        return [EventLog(on)]

    search = Search(cfg, workspace, callbacks=kill_at("on_candidate_checked", 1))  # before training
    with pytest.raises(Kill):
        search.run()
    run_id = search.run_id
    assert workspace.store.get_run(run_id).status == "failed"
    resumed = Search.resume(workspace, run_id, callbacks=kill_at("on_candidate_scored", 1))
    with pytest.raises(Kill):  # after saving
        resumed.run()
    summary = Search.resume(workspace, run_id).run().to_dict()
    assert summary["iterations"] == 2 and summary["env_steps"] == reference["env_steps"]
    got = _fingerprint(tmp_path / "killed", run_id)
    assert got[0] == want[0] and got[2] == want[2]
    for name, tensor in want[1].items():
        assert torch.equal(got[1][name], tensor), name


def test_population_runs_end_to_end_on_fetch_reach(tmp_path) -> None:
    """The real Gymnasium-Robotics FetchReach (MuJoCo), a Dict observation, 4-D actions."""
    spec = yaml.safe_load((BUILTIN.parent / "fetch-reach.yaml").read_text())
    spec["id"] = "fetch-reach-tiny"
    spec["trainers"] = {"sac": {**SAC, "gamma": 0.98}}
    spec["fitness"]["num_episodes"] = 2
    path = tmp_path / "fetch-reach-tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    cfg = config(
        str(path), strategy="population", steps=200, num_envs=2, final_seeds=0,
        population_size=3, elites=1, iterations=2, success_target=1.0,
    )  # fmt: skip
    search = Search(cfg, Workspace(tmp_path))
    summary = search.run().to_dict()
    store, run_id = search.workspace.store, summary["run_id"]
    assert store.get_run(run_id).status == "finished" and summary["env_steps"] == 400
    candidates = store.list_candidates(run_id)
    assert len(candidates) == 5  # 3 members, then 2 replaced at the refresh
    assert all(c.status == "trained" and 0.0 <= c.fitness <= 1.0 for c in candidates)
    for record in store.list_iterations(run_id):
        assert record.details["env_steps"] == 200 and len(record.details["population"]) == 3


def test_population_settings_are_checked(tiny, tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"strategy.elites \(--elites 2\) must be smaller than "
                       r"strategy.population_size \(--population-size 2\)"):  # fmt: skip
        config(**tiny, population_size=2, elites=2)
    with pytest.raises(ConfigError, match=r"population strategy \(--strategy population\) "
                       r"trains with sac; training.trainer \(--trainer ppo\)"):  # fmt: skip
        config(**tiny, trainer="ppo")
    with pytest.raises(ConfigError, match=r"population strategy .* executor.workers "
                       r"\(--workers 2\) cannot be used"):  # fmt: skip
        config(**tiny, workers=2)
    assert config(**{**tiny, "workers": None}).executor.workers == 1  # trains in this process
    assert not Workspace(tmp_path).exists


def test_cli_runs_a_population_search(run_cli, tmp_path) -> None:
    out = run_cli(
        "search", "pendulum", "--strategy", "population", "--designer", "offline",
        "--population-size", "2", "--elites", "1", "--refresh-steps", "200", "-i", "1",
        "--num-envs", "2", "--thompson-window", "5", "--with-env-member", "--final-seeds", "0",
        "--json", "--workspace", str(tmp_path),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout)
    stored = Workspace(tmp_path).store.get_run(summary["run_id"]).config
    assert stored["strategy"]["name"] == "population"
    assert stored["strategy"]["with_env_member"] is True
    assert stored["strategy"]["thompson_window"] == 5 and summary["env_steps"] == 200
    assert stored["training"]["trainer"] == "sac" and stored["executor"]["workers"] == 1


def _fenced(body: str) -> str:
    return f"Here is the reward.\n\n```python\nimport numpy as np\n\n{body}```\n"


def _upright(weight: float) -> str:
    return _fenced(
        "def compute_reward(theta, action):\n"
        f"    upright = {weight} * np.cos(theta)\n"
        "    effort = -0.01 * np.sum(action ** 2, axis=-1)\n"
        "    return upright + effort, {'upright': upright, 'effort': effort}\n"
    )


def test_llm_designer_refines_from_the_best_members_feedback(tiny, tmp_path, monkeypatch):
    from rewardforge.llm.testing import Reply, ScriptedModelServer

    broken = _fenced("def compute_reward(pole_angle):\n    return pole_angle, {}\n")
    with ScriptedModelServer("openai") as server:
        monkeypatch.setenv("REWARDFORGE_LLM_BASE_URL", server.base_url)
        monkeypatch.setenv("REWARDFORGE_LLM_API_KEY", "test-key")
        server.script(
            Reply(_upright(1.0), broken),  # iteration 0: two members, one answer fails lint
            Reply(_upright(2.0)),  # its repair
            Reply(_upright(3.0)),  # iteration 1: a new reward for the member not kept
        )
        cfg = config(
            **tiny, designer="llm", model="compatible/test-model", population_size=2,
            elites=1, iterations=2,
        )  # fmt: skip
        search = Search(cfg, Workspace(tmp_path))
        summary = search.run().to_dict()
        assert server.pending == 0 and server.request_count == 3
        refine = server.requests[2].messages
    store = search.workspace.store
    by_key = {(c.iteration, c.slot, c.attempt): c for c in store.list_candidates(summary["run_id"])}
    assert by_key[(0, 1, 0)].error_kind == "lint" and by_key[(0, 1, 1)].status == "trained"
    (new,) = [c for c in by_key.values() if c.iteration == 1]
    parent = store.get_candidate(new.parent_id)
    assert parent.iteration == 0 and parent.slot != new.slot  # the kept (best) member
    assert refine[-2]["role"] == "assistant" and refine[-2]["content"] == parent.code
    assert "under this reward" in refine[-1]["content"]
