"""The LLM designer against a real local OpenAI-protocol server (no mocked model)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rewardforge.designers.base import CandidateResult, DesignContext
from rewardforge.designers.llm import HUMAN_FEEDBACK_HEADING, LLMDesigner, ModelCall
from rewardforge.errors import ModelRequestError, RewardExtractionError, RewardRejectedError
from rewardforge.llm import ChatModel, ModelCache, RetryPolicy, UsageMeter, get_model
from rewardforge.llm.testing import Reply, ScriptedModelServer, Status
from rewardforge.tasks import get_task

FAST = RetryPolicy(
    max_attempts=2, backoff_base_s=0.01, backoff_max_s=0.02, timeout_s=2.0, deadline_s=5.0
)
TASK = get_task("mountaincar")
CODE = [
    f"```python\nimport numpy as np\n\ndef compute_reward(velocity):\n"
    f"    r = {i + 1} * np.abs(velocity)\n    return r, {{'speed': r}}\n```"
    for i in range(4)
]
BEST_CODE = "def compute_reward(position):\n    return position, {'height': position}\n"
FEEDBACK = "height: [0.1, 0.2, 0.3], Max: 0.3, Mean: 0.2, Min: 0.1"


@pytest.fixture
def server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer("openai") as s:
        yield s


def model_for(server: ScriptedModelServer, **kwargs: Any) -> ChatModel:
    return get_model(
        "compatible/test-model", base_url=server.base_url, api_key="x", env={}, retry=FAST, **kwargs
    )


def designer_for(server: ScriptedModelServer, **kwargs: Any) -> LLMDesigner:
    model = model_for(server, **{k: kwargs.pop(k) for k in ("cache", "meter") if k in kwargs})
    kwargs.setdefault("env_source", False)
    return LLMDesigner(TASK, model, **kwargs)


def best(feedback: str = FEEDBACK, **kwargs: Any) -> CandidateResult:
    return CandidateResult(
        candidate_id=5,
        code=BEST_CODE,
        fitness=0.0,
        success_rate=0.0,
        reflection=kwargs.pop("reflection", {}),
        feedback=feedback,
    )


def context(**kwargs: Any) -> DesignContext:
    return DesignContext(task=TASK, iteration=kwargs.pop("iteration", 0), **kwargs)


def test_propose_asks_for_k_samples_in_one_request(server: ScriptedModelServer) -> None:
    server.answers(*CODE[:3])
    proposals = designer_for(server, env_source=True).propose(3, context())
    assert [p.code for p in proposals] == CODE[:3]  # the whole answer: the search extracts
    assert {p.designer for p in proposals} == {"llm"}
    assert {p.parent_id for p in proposals} == {None}
    assert [p.meta["sample_index"] for p in proposals] == [0, 1, 2]
    assert {p.meta["finish_reason"] for p in proposals} == {"stop"}
    [request] = server.requests
    assert request.n == 3
    roles = [m["role"] for m in request.messages]
    assert roles == ["system", "user"]
    prompt = request.messages[1]["content"]
    assert "Drive the car to the flag" in prompt
    assert "class Continuous_MountainCarEnv" in prompt, "environment source as context"
    assert proposals[0].meta["messages"] == request.messages, "kept for repair, JSON-ready"


def test_seed_picks_samples_and_a_resumed_run_gets_its_cached_ones(
    server: ScriptedModelServer, tmp_path: Path
) -> None:
    cache = ModelCache(tmp_path / "cache.sqlite")
    server.answers(*CODE[:2])
    first = designer_for(server, cache=cache).propose(2, context(rng_seed=0))
    again = designer_for(server, cache=cache).propose(2, context(rng_seed=0))
    assert server.request_count == 1
    assert [p.code for p in again] == [p.code for p in first]
    assert all(p.meta["cached"] for p in again)
    server.answers(*CODE[2:4])
    other_seed = designer_for(server, cache=cache).propose(2, context(rng_seed=1))
    assert server.request_count == 2
    assert [p.code for p in other_seed] == CODE[2:4]
    assert [p.meta["sample_index"] for p in other_seed] == [1000, 1001]


def test_next_iteration_continues_from_the_best_candidate_and_its_reflection(
    server: ScriptedModelServer,
) -> None:
    server.answers(*CODE[:2])
    proposals = designer_for(server).propose(2, context(iteration=1, best=best()))
    assert {p.parent_id for p in proposals} == {5}
    messages = server.requests[0].messages
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[2]["content"] == BEST_CODE
    assert FEEDBACK in messages[3]["content"]
    assert "write an improved reward function" in messages[3]["content"]
    assert HUMAN_FEEDBACK_HEADING not in messages[3]["content"]


def test_reflection_is_built_from_data_when_no_feedback_text(server: ScriptedModelServer) -> None:
    server.answers(CODE[0])
    data = {"components": {"height": {"mean": [0.5, 0.25]}}, "success_rate": [0.0, 0.5]}
    designer_for(server).propose(1, context(iteration=1, best=best("", reflection=data)))
    last = server.requests[0].messages[-1]["content"]
    assert "height: [0.5, 0.25]" in last
    assert "task success rate: [0, 0.5]" in last


@pytest.mark.parametrize("mode", ["join", "replace"])
def test_human_feedback_joins_or_replaces_the_reflection(
    server: ScriptedModelServer, mode: str
) -> None:
    server.answers(CODE[0])
    human = "The car rocks back and forth but never commits to the right hill."
    ctx = context(iteration=1, best=best(), human_feedback=human, human_feedback_mode=mode)
    designer_for(server).propose(1, ctx)
    last = server.requests[0].messages[-1]["content"]
    assert f"{HUMAN_FEEDBACK_HEADING}\n{human}" in last
    assert (FEEDBACK in last) == (mode == "join")


def test_human_feedback_on_the_first_iteration_joins_the_task_prompt(
    server: ScriptedModelServer,
) -> None:
    server.answers(CODE[0])
    designer_for(server).propose(1, context(human_feedback="Use less force."))
    messages = server.requests[0].messages
    assert len(messages) == 2
    assert messages[1]["content"].endswith(f"{HUMAN_FEEDBACK_HEADING}\nUse less force.\n")


def test_failed_samples_become_failed_proposals(server: ScriptedModelServer) -> None:
    server.script(Reply(CODE[0], "   ", CODE[1]))
    proposals = designer_for(server).propose(3, context())
    assert [p.code for p in proposals] == [CODE[0], "", CODE[1]]
    failed = proposals[1]
    assert failed.code == ""
    assert failed.meta["sample_index"] == 1
    assert "returned an empty answer for sample 1" in failed.meta["model_error"]
    assert failed.meta["error_type"] == "ModelResponseError"


def test_all_samples_failing_raises_the_model_error(server: ScriptedModelServer) -> None:
    server.script(Status(400, "model 'test-model' does not exist"))
    with pytest.raises(ModelRequestError, match="does not exist"):
        designer_for(server).propose(2, context())


def test_repair_sends_the_error_back_and_returns_the_new_answer(
    server: ScriptedModelServer,
) -> None:
    designer = designer_for(server)
    server.answers(CODE[0], "  ")
    ok, failed = designer.propose(2, context(iteration=1, best=best()))
    error = "NameError: name 'speed' is not defined (line 3)"
    server.script(Reply(CODE[3]))
    fixed = designer.repair(ok, error, context(iteration=1, best=best()))
    assert fixed is not None
    assert (fixed.code, fixed.notes) == (CODE[3], "repair")
    assert (fixed.designer, fixed.parent_id, fixed.meta["attempt"]) == ("llm", 5, 1)
    sent = server.requests[-1]
    assert sent.n == 1
    assert sent.messages[:4] == ok.meta["messages"]
    assert sent.messages[4] == {"role": "assistant", "content": CODE[0]}
    assert sent.messages[5]["role"] == "user" and error in sent.messages[5]["content"]
    assert designer.repair(failed, "model error", context()) is None, "no answer to repair"
    assert server.request_count == 2

    server.script(Reply(CODE[2]))
    second = designer.repair(fixed, "still failing", context())
    assert second is not None and second.meta["attempt"] == 2
    assert len(server.requests[-1].messages) == 8, "the conversation grows with each repair"


def test_success_criterion_is_extracted_and_validated(server: ScriptedModelServer) -> None:
    server.script(
        Reply(
            "The car must reach the flag.\n```python\nimport numpy as np\n\n"
            "def is_success(position, goal_position):\n"
            "    return np.asarray(position >= goal_position)\n```\nDone."
        )
    )
    source = designer_for(server).success_criterion(context())
    assert source.startswith("import numpy as np\n\ndef is_success(position, goal_position):")
    assert "compute_reward" not in source
    [request] = server.requests
    assert "def is_success(" in request.messages[-1]["content"]


@pytest.mark.parametrize(
    ("answer", "error", "match"),
    [
        (
            "I cannot decide that without more information.",
            RewardExtractionError,
            "no function named is_success.*The answer starts: 'I cannot decide",
        ),
        (
            "```python\ndef is_success(posiiton):\n    return posiiton > 0.45\n```",
            RewardRejectedError,
            "success criterion rejected:\n  - line 1: parameter 'posiiton' of is_success is not a "
            "variable of this task. Did you mean 'position'",
        ),
        (
            "```python\nimport os\ndef is_success(position):\n    return position > 0\n```",
            RewardRejectedError,
            "imports 'os'",
        ),
        (
            "```python\ndef is_success():\n    return True\n```",
            RewardRejectedError,
            "is_success takes no variables",
        ),
    ],
)
def test_success_criterion_rejects_a_bad_answer(
    server: ScriptedModelServer, answer: str, error: type[Exception], match: str
) -> None:
    server.script(Reply(answer))
    with pytest.raises(error, match=match):
        designer_for(server).success_criterion(context())


def test_on_call_reports_every_sample_with_tokens_cost_and_purpose(
    server: ScriptedModelServer, tmp_path: Path
) -> None:
    calls: list[ModelCall] = []
    cache = ModelCache(tmp_path / "cache.sqlite")
    meter = UsageMeter(prices={"test-model": (1.0, 2.0)})
    designer = designer_for(server, cache=cache, meter=meter, on_call=calls.append)
    server.script(Reply(CODE[0], CODE[1], prompt_tokens=101, completion_tokens=40))
    first, _ = designer.propose(2, context())
    server.script(Reply(CODE[2], prompt_tokens=7, completion_tokens=3))
    designer.repair(first, "boom", context())
    server.script(Reply("```python\ndef is_success(position):\n    return position > 0.4\n```"))
    designer.success_criterion(context())

    assert [c.purpose for c in calls] == ["propose", "propose", "repair", "success"]
    a, b, repair, _ = calls
    assert (a.prompt_tokens, a.completion_tokens) == (51, 20), "a request's tokens are shared"
    assert (b.prompt_tokens, b.completion_tokens) == (50, 20)
    assert a.cost_usd == pytest.approx((51 * 1.0 + 20 * 2.0) / 1e6)
    assert (repair.prompt_tokens, repair.completion_tokens) == (7, 3)
    assert {(c.provider, c.model, c.cached) for c in calls} == {("compatible", "test-model", False)}
    assert a.request_hash == b.request_hash != repair.request_hash
    for call in calls:  # the same key the model's cache files the answer under
        found = cache.lookup(call.request_hash, call.sample_index)
        assert found is not None and not isinstance(found, Exception)


def test_on_call_prices_at_zero_without_a_known_price(server: ScriptedModelServer) -> None:
    calls: list[ModelCall] = []
    server.answers(CODE[0])
    designer_for(server, on_call=calls.append).propose(1, context())
    [call] = calls
    assert call.cost_usd == 0.0 and call.prompt_tokens == 10 and call.latency_s >= 0.0
