"""Issue 20 items 8 and 9 against a real local HTTP server: a model that accepts the request and
never answers is named while the search waits and given up at ``--request-timeout``; a cost
budget is checked before a request is sent, so it is never overspent."""

from __future__ import annotations

import logging
import time

import pytest

import rewardforge.llm.waiting as waiting
from rewardforge.errors import BudgetExceededError, ModelUnavailableError
from rewardforge.llm import RetryPolicy, UsageMeter, get_model, user
from rewardforge.llm.testing import Reply, ScriptedModelServer, Slow

from .conftest import KEY

HI = [user("write a reward")]


def test_a_silent_server_is_named_while_waiting_and_timed_out(caplog, monkeypatch):
    monkeypatch.setattr(waiting, "WAIT_NOTICE_S", 0.2)
    policy = RetryPolicy(max_attempts=2, backoff_base_s=0.01, timeout_s=1.0, deadline_s=10.0)
    with ScriptedModelServer("openai") as server:
        server.script(Slow(3600), Slow(3600))  # accepts the request, never answers
        url = server.base_url
        model = get_model("compatible/test-model", base_url=url, api_key=KEY, env={}, retry=policy)
        started = time.monotonic()
        with (
            caplog.at_level(logging.WARNING, logger="rewardforge.llm.waiting"),
            pytest.raises(ModelUnavailableError, match="request timeout 1s"),
        ):
            model.complete(HI)
        elapsed = time.monotonic() - started
    assert 2.0 <= elapsed < 6.0, elapsed  # two attempts of 1 s each, not 900 s of silence
    notices = [r.getMessage() for r in caplog.records if "waiting for" in r.getMessage()]
    assert notices, "nothing said what the search was waiting for"
    assert f"waiting for compatible/test-model at {url} since 0 s" in notices[0]
    assert "times out after 1 s, set with --request-timeout" in notices[0]


def test_an_answer_in_time_says_nothing(caplog, monkeypatch):
    monkeypatch.setattr(waiting, "WAIT_NOTICE_S", 0.5)
    with ScriptedModelServer("openai") as server:
        server.script(Reply("def compute_reward(x): ..."))
        model = get_model("compatible/test-model", base_url=server.base_url, api_key=KEY, env={})
        with caplog.at_level(logging.WARNING, logger="rewardforge.llm.waiting"):
            assert model.complete(HI)[0].text.startswith("def compute_reward")
    assert not [r for r in caplog.records if "waiting for" in r.getMessage()]


def test_request_timeout_reaches_the_model(tmp_path, monkeypatch):
    from rewardforge.cli import build_parser
    from rewardforge.cli.search_cmd import config_from_args
    from rewardforge.runs import Workspace
    from rewardforge.search.designers import make_designer
    from rewardforge.tasks import get_task

    monkeypatch.setenv("REWARDFORGE_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    argv = ["search", "pendulum", "--designer", "llm", "--model", "compatible/m"]
    args = build_parser().parse_args([*argv, "--request-timeout", "2.5"])
    config = config_from_args(args)
    assert config.model.request_timeout == 2.5
    designer = make_designer(config, get_task("pendulum"), Workspace(tmp_path))
    assert designer.model.retry.timeout_s == 2.5  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_request_timeout_must_be_positive(tmp_path, capsys, value):
    from rewardforge.cli import main

    code = main(["search", "pendulum", "--workspace", str(tmp_path), "--request-timeout", value])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "--request-timeout" in err[0], err


def _priced(server: ScriptedModelServer, budget: float) -> tuple:
    meter = UsageMeter(max_cost_usd=budget, prices={"test-model": (1.0, 1.0)})
    model = get_model(
        "compatible/test-model", base_url=server.base_url, api_key=KEY, env={}, meter=meter
    )
    return model, meter


def test_a_tiny_cost_budget_sends_nothing():
    with ScriptedModelServer("openai") as server:
        server.script(Reply("a", prompt_tokens=10, completion_tokens=10))
        model, _ = _priced(server, 1e-9)
        with pytest.raises(BudgetExceededError, match=r"could cost up to \$.*it was not sent"):
            model.complete(HI, max_tokens=100)
        assert server.request_count == 0


def test_the_cost_budget_is_never_overspent():
    """$1 per million tokens: each request may cost (4 prompt + 100 completion) tokens; the
    budget holds one such request and most of a second, which is then not sent."""
    with ScriptedModelServer("openai") as server:
        server.script(Reply("a", prompt_tokens=4, completion_tokens=100))
        model, meter = _priced(server, 180e-6)
        model.complete(HI, max_tokens=100)
        with pytest.raises(BudgetExceededError, match="could cost up to"):
            model.complete([user("write another")], max_tokens=100)
        assert server.request_count == 1
        assert meter.totals().cost_usd <= 180e-6
