"""Each fault the issue names, against a real local HTTP server and the real SDKs."""

from __future__ import annotations

import time

import pytest

from rewardforge.errors import (
    ModelAuthError,
    ModelRequestError,
    ModelResponseError,
    ModelTruncatedError,
    ModelUnavailableError,
)
from rewardforge.llm import RetryPolicy, user
from rewardforge.llm.testing import (
    Drop,
    Raw,
    Reply,
    ScriptedModelServer,
    Slow,
    Status,
    empty_choices,
    malformed,
)

from .conftest import KEY, model_for

HI = [user("write a reward")]


def test_plain_answer_has_text_usage_and_latency(server: ScriptedModelServer) -> None:
    server.script(Reply("def compute_reward(x): ...", prompt_tokens=12, completion_tokens=7))
    [c] = model_for(server).complete(HI)
    assert c.text == "def compute_reward(x): ..."
    assert c.finish_reason == "stop"
    assert (c.usage.prompt_tokens, c.usage.completion_tokens) == (12, 7)
    assert c.latency_s > 0 and c.sample_index == 0 and not c.cached
    assert c.request_id


def test_429_retry_after_is_honoured(server: ScriptedModelServer) -> None:
    server.script(Status(429, "slow down", retry_after=0.3), Reply("ok"))
    [c] = model_for(server).complete(HI)
    assert c.text == "ok"
    first, second = server.requests
    assert second.received_at - first.received_at >= 0.3


@pytest.mark.parametrize("status", [408, 409, 500, 503, 529])
def test_retryable_statuses_are_retried(server: ScriptedModelServer, status: int) -> None:
    server.script(Status(status), Reply("ok"))
    assert model_for(server).complete(HI)[0].text == "ok"
    assert server.request_count == 2


def test_slower_than_timeout_is_retried(server: ScriptedModelServer) -> None:
    server.script(Slow(2.0), Reply("fast"))
    start = time.monotonic()
    [c] = model_for(server, retry=RetryPolicy(timeout_s=0.3, backoff_base_s=0.01)).complete(HI)
    assert c.text == "fast"
    assert time.monotonic() - start < 1.5


def test_dropped_connection_is_retried(server: ScriptedModelServer) -> None:
    server.script(Drop(), Reply("ok"))
    assert model_for(server).complete(HI)[0].text == "ok"
    assert server.request_count == 2


def test_malformed_json_is_a_typed_error(server: ScriptedModelServer) -> None:
    server.script(malformed())
    with pytest.raises(ModelResponseError, match="not valid JSON.*kept in the model cache"):
        model_for(server).complete(HI)
    assert server.request_count == 1  # a paid answer is not asked for again


def test_empty_choices_is_a_typed_error(server: ScriptedModelServer) -> None:
    server.script(empty_choices(server.protocol))
    with pytest.raises(ModelResponseError, match="no choices|empty answer"):
        model_for(server).complete(HI)


def test_non_object_json_is_a_typed_error(server: ScriptedModelServer) -> None:
    server.script(Raw("[1, 2]"))
    with pytest.raises(ModelResponseError, match="not an object|without a 'content' list"):
        model_for(server).complete(HI)


def test_truncated_answer_keeps_its_text(server: ScriptedModelServer) -> None:
    server.script(Reply("def compute_reward(x):\n    return", finish_reason="length"))
    with pytest.raises(ModelTruncatedError, match="token limit.*max_tokens=64") as info:
        model_for(server).complete(HI, max_tokens=64)
    assert info.value.text.startswith("def compute_reward")


def test_auth_error_fails_at_once_naming_the_variable(openai_server: ScriptedModelServer) -> None:
    openai_server.script(Status(401, "Incorrect API key provided"))
    from rewardforge.llm import get_model

    model = get_model("openai/gpt-4o", base_url=openai_server.base_url, env={"OPENAI_API_KEY": KEY})
    with pytest.raises(ModelAuthError, match="Set OPENAI_API_KEY to a valid key") as info:
        model.complete(HI)
    assert info.value.status_code == 401 and info.value.request_id
    assert openai_server.request_count == 1


def test_anthropic_auth_error_names_its_variable() -> None:
    with (
        ScriptedModelServer("anthropic", api_key="the-right-key-000") as s,
        pytest.raises(ModelAuthError, match="ANTHROPIC_API_KEY") as info,
    ):
        model_for(s).complete(HI)
    assert KEY not in str(info.value)


def test_bad_request_fails_at_once_saying_what_was_rejected(server: ScriptedModelServer) -> None:
    server.script(Status(400, "temperature must be at most 2", param="temperature"))
    with pytest.raises(ModelRequestError, match="rejected the request.*temperature must be"):
        model_for(server).complete(HI)
    assert server.request_count == 1


def test_unknown_model_says_check_the_name(openai_server: ScriptedModelServer) -> None:
    openai_server.script(Status(404, "model 'gtp-4' does not exist"))
    with pytest.raises(ModelRequestError, match="Check the model name and the base URL"):
        model_for(openai_server).complete(HI)


def test_retries_run_out_into_a_typed_error(server: ScriptedModelServer) -> None:
    server.script(*[Status(500, "boom")] * 4)
    with pytest.raises(ModelUnavailableError, match="kept failing.*HTTP 500.*4 attempt") as info:
        model_for(server).complete(HI)
    assert info.value.status_code == 500


def test_deadline_stops_retrying(server: ScriptedModelServer) -> None:
    server.script(Status(429, retry_after=5.0), Reply("late"))
    start = time.monotonic()
    with pytest.raises(ModelUnavailableError, match="HTTP 429"):
        model_for(server, retry=RetryPolicy(deadline_s=0.5, backoff_base_s=0.01)).complete(HI)
    assert time.monotonic() - start < 1.0


def test_failed_samples_are_dropped_and_the_rest_kept(server: ScriptedModelServer) -> None:
    server.script(Reply("a"), *[Status(500)] * 4, Reply("c"))
    result = model_for(server, concurrency=1, supports_n=False).complete(HI, n=3)
    assert [c.text for c in result] == ["a", "c"]
    assert [c.sample_index for c in result] == [0, 2]
    [failure] = result.failures
    assert failure.sample_index == 1 and isinstance(failure.error, ModelUnavailableError)


def test_n_is_one_request_when_supported(openai_server: ScriptedModelServer) -> None:
    openai_server.answers("a", "b", "c")
    result = model_for(openai_server).complete(HI, n=3)
    assert [c.text for c in result] == ["a", "b", "c"]
    assert [r.n for r in openai_server.requests] == [3]
    assert sum(c.usage.prompt_tokens for c in result) == 10  # one request's tokens, split


@pytest.mark.parametrize("n_mode", ["reject", "ignore"])
def test_n_unsupported_falls_back_to_concurrent_requests(n_mode: str) -> None:
    with ScriptedModelServer("openai", n_mode=n_mode) as s:  # type: ignore[arg-type]
        s.answers("a", "b", "c", "d")
        model = model_for(s, concurrency=3)
        result = model.complete(HI, n=4)
        assert sorted(c.text for c in result) == ["a", "b", "c", "d"]
        assert sorted(c.sample_index for c in result) == [0, 1, 2, 3]
        assert s.requests[0].n == 4 and all(r.n == 1 for r in s.requests[1:])
        s.answers("e", "f")
        model.complete(HI, n=2, sample_offset=4)  # n is not tried again
        assert all(r.n == 1 for r in s.requests[-2:])


def test_anthropic_samples_are_concurrent_requests() -> None:
    with ScriptedModelServer("anthropic") as s:
        s.answers("a", "b", "c")
        result = model_for(s).complete([user("x")], n=3)
    assert sorted(c.text for c in result) == ["a", "b", "c"]
    assert s.request_count == 3 and all("n" not in r.body for r in s.requests)


def test_system_and_images_reach_the_server(server: ScriptedModelServer) -> None:
    from rewardforge.llm import Image, system

    server.script(Reply("ok"))
    model_for(server).complete(
        [system("be brief"), user("look")], images=[Image(b"\x89PNG", "image/png")]
    )
    body = server.requests[0].body
    text = str(body)
    assert "be brief" in text and "iVBORw" in text  # base64 of the PNG magic
    if server.protocol == "anthropic":
        assert body["system"] == "be brief"
