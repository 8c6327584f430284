"""An evolve run against a real local OpenAI-protocol server whose answers are partly broken:
every failure is recorded with its error and sent back for repair."""

from __future__ import annotations

import pytest

from rewardforge.errors import ConfigError
from rewardforge.llm.testing import Reply, ScriptedModelServer
from rewardforge.runs import Workspace
from rewardforge.search.config import SearchConfig
from rewardforge.search.runner import Search
from tests.search.support import make_config, with_options


def fenced(body: str) -> str:
    return f"Here is the reward.\n\n```python\nimport numpy as np\n\n{body}```\n"


GOOD = fenced(
    "def compute_reward(position, velocity, goal_position):\n"
    "    speed = np.abs(velocity) * 100.0\n"
    "    bonus = 10.0 * (position >= goal_position)\n"
    "    return speed + bonus, {'speed': speed, 'bonus': bonus}\n"
)
SYNTAX = fenced("def compute_reward(position:\n    return position, {}\n")
ESCAPE = fenced(
    "def compute_reward(position):\n"
    "    leak = np.fromfile('/proc/self/environ', dtype=np.uint8)\n"
    "    return position + leak.sum(), {}\n"
)
NAN = fenced(
    "def compute_reward(position):\n    r = np.log(position - 10.0)\n    return r, {'r': r}\n"
)
UNKNOWN = fenced("def compute_reward(speed):\n    return speed, {'speed': speed}\n")


@pytest.fixture
def server(monkeypatch):
    with ScriptedModelServer("openai") as s:
        monkeypatch.setenv("REWARDFORGE_LLM_BASE_URL", s.base_url)
        monkeypatch.setenv("REWARDFORGE_LLM_API_KEY", "test-key")
        yield s


def config(**kwargs) -> SearchConfig:
    base = dict(
        designer="llm",
        model="compatible/test-model",
        samples=3,
        iterations=2,
        max_repairs=1,
        steps=1200,
        num_envs=2,
        final_seeds=0,
        success_target=1.0,
        seed=5,
    )
    return make_config("mountaincar", **{**base, **kwargs})


def test_evolve_with_broken_answers_records_and_repairs_each(server, tmp_path) -> None:
    server.script(
        Reply(GOOD, SYNTAX, ESCAPE),  # iteration 0: three samples in one request
        Reply(GOOD.replace("100.0", "80.0")),  # repair of the syntax error
        Reply(NAN),  # repair of the escape attempt: still broken
        Reply(UNKNOWN, GOOD.replace("10.0 *", "20.0 *"), GOOD.replace("100.0", "60.0")),
        Reply(GOOD.replace("100.0", "70.0")),  # repair of the unknown variable
    )
    workspace = Workspace(tmp_path)
    search = Search(config(), workspace)
    summary = search.run().to_dict()
    store = workspace.store
    assert store.get_run(summary["run_id"]).status == "finished"
    assert server.pending == 0 and server.request_count == 5

    by_key = {(c.iteration, c.slot, c.attempt): c for c in store.list_candidates(summary["run_id"])}
    assert by_key[(0, 1, 0)].error_kind == "lint"
    assert "never closed" in by_key[(0, 1, 0)].error
    assert by_key[(0, 2, 0)].error_kind == "smoke"
    assert "PermissionError" in by_key[(0, 2, 0)].error
    assert by_key[(0, 2, 1)].error_kind == "smoke" and "NaN" in by_key[(0, 2, 1)].error
    assert by_key[(1, 0, 0)].error_kind == "lint" and "'speed'" in by_key[(1, 0, 0)].error
    for key in [(0, 0, 0), (0, 1, 1), (1, 0, 1), (1, 1, 0), (1, 2, 0)]:
        assert by_key[key].status in ("trained", "stopped_early"), key
    assert by_key[(0, 2, 1)].status == "rejected"  # out of repairs

    # each error went back to the model in the repair request
    repairs = [server.requests[i].messages[-1]["content"] for i in (1, 2, 4)]
    assert "never closed" in repairs[0]
    assert "PermissionError" in repairs[1]
    assert "speed" in repairs[2] and "position" in repairs[2]
    # iteration 1's prompt carries the best candidate of iteration 0 and its reflection
    iteration_1 = server.requests[3].messages
    best_0 = store.get_iteration(summary["run_id"], 0).best_candidate_id
    assert store.get_candidate(best_0).code.strip() in iteration_1[-2]["content"]
    assert "success rate" in iteration_1[-1]["content"]
    # every sample is recorded as a model call, with its tokens
    calls = store.list_model_calls(summary["run_id"])
    assert len(calls) == 3 + 1 + 1 + 3 + 1
    assert store.model_usage(summary["run_id"]).total_tokens > 0


def test_a_second_run_from_the_cache_asks_the_model_nothing(server, tmp_path) -> None:
    server.script(Reply(GOOD, GOOD.replace("100.0", "50.0")))
    workspace = Workspace(tmp_path)
    cfg = config(samples=2, iterations=1)
    first = Search(cfg, workspace).run().to_dict()
    assert server.request_count == 1
    again = Search(with_options(cfg, cache="replay"), workspace).run().to_dict()
    assert server.request_count == 1  # every answer came from the cache
    codes = [
        [c.code for c in workspace.store.list_candidates(run["run_id"])] for run in (first, again)
    ]
    assert codes[0] == codes[1]
    assert all(c.cached for c in workspace.store.list_model_calls(again["run_id"]))


def test_llm_designer_without_a_model_says_how_to_configure_one(tmp_path, monkeypatch) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "REWARDFORGE_LLM_BASE_URL",
                 "REWARDFORGE_MODEL", "GEMINI_API_KEY", "GROQ_API_KEY", "OPENROUTER_API_KEY",
                 "AZURE_OPENAI_API_KEY"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="needs a model: pass model.name .*--designer offline"):
        config(model=None)


def test_a_spent_token_budget_ends_the_search_cleanly_with_what_it_has(server, tmp_path) -> None:
    server.script(Reply(GOOD, GOOD.replace("100.0", "50.0"), prompt_tokens=400))
    workspace = Workspace(tmp_path)
    summary = Search(config(samples=2, iterations=3, max_tokens=300), workspace).run().to_dict()
    run = workspace.store.get_run(summary["run_id"])
    assert run.status == "finished"
    assert "budget" in run.summary["budget_stop"]
    assert server.request_count == 1  # iteration 1 was never asked for
    assert summary["iterations"] == 1 and summary["best_candidate"] is not None


def test_the_request_timeout_reaches_the_model(server, tmp_path) -> None:
    from rewardforge.search.designers import make_designer
    from rewardforge.tasks import get_task

    cfg = config(request_timeout=7.5)
    designer = make_designer(cfg, get_task("mountaincar"), Workspace(tmp_path))
    assert designer.model.retry.timeout_s == 7.5
    assert config().model.retry_policy().timeout_s == 180.0  # the model layer's default
    with pytest.raises(ConfigError, match=r"model.request_timeout \(--request-timeout\)"):
        config(request_timeout=0)
