"""The VLM teacher against a real local OpenAI-protocol server: images sent, two stages, labels
parsed, "cannot tell" dropped, faults survived, and a replay from the label cache."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from rewardforge.errors import CacheMissError, ConfigError
from rewardforge.llm import RetryPolicy, get_model
from rewardforge.llm.testing import (
    RecordedRequest,
    Reply,
    ScriptedChatModel,
    ScriptedModelServer,
    Slow,
    Status,
)
from rewardforge.preference.reward_model import RewardLearner
from rewardforge.preference.teachers import (
    ANALYSIS_PROMPT,
    LABEL_PROMPT,
    LabelCache,
    PairBatch,
    VLMTeacher,
)
from rewardforge.tasks.registry import get_task

from .test_reward_model import states, take

FAST = RetryPolicy(
    max_attempts=3, backoff_base_s=0.01, backoff_max_s=0.02, timeout_s=0.5, deadline_s=10.0
)
GOAL = "Swing the pendulum upright."
SPEC = "compatible/vision-test"


@pytest.fixture
def server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer("openai") as s:
        yield s


def model(server: ScriptedModelServer):  # noqa: ANN201
    return get_model(SPEC, base_url=server.base_url, api_key="k", retry=FAST, env={})


def frames_of(theta: np.ndarray) -> np.ndarray:
    """A tiny picture per state: a bright pixel whose column follows the angle."""
    out = np.zeros((len(theta), 8, 8, 3), np.uint8)
    col = ((theta + np.pi) / (2 * np.pi) * 7.999).astype(int)
    out[np.arange(len(theta)), 4, col] = 255
    out[:, 0, 0, 0] = (theta + np.pi) / (2 * np.pi) * 255  # and the angle, finely
    out[:, 0, 0, 1] = (theta * 1000) % 256
    return out


def pair_batch(n: int, seed: int = 0) -> PairBatch:
    pool = states(2 * n, seed)
    a, b = take(pool, np.arange(n)), take(pool, np.arange(n, 2 * n))
    return PairBatch(a, b, frames_of(a["theta"]), frames_of(b["theta"]))


def image_parts(request: RecordedRequest) -> list[str]:
    first = request.messages[0]
    assert isinstance(first["content"], list)
    return [p["image_url"]["url"] for p in first["content"] if p["type"] == "image_url"]


def by_images(request: RecordedRequest) -> Reply:
    """Stage 1: an analysis; stage 2: a label that depends only on the two images."""
    if len(request.messages) == 1:
        return Reply("Image 1 shows a pendulum; Image 2 shows another one.")
    a, b = (hashlib.sha256(u.encode()).hexdigest() for u in image_parts(request))
    return Reply("-1" if a[0] in "cdef" else ("1" if b < a else "0"))


def test_two_stages_send_both_images_and_labels_come_back(server: ScriptedModelServer) -> None:
    server.script(Reply("Image 1: arm down. Image 2: arm up, closer."), Reply("1"),
                  Reply("Image 1 is upright."), Reply("Answer: 0"))  # fmt: skip
    teacher = VLMTeacher(model(server), GOAL, concurrency=1)
    labels = teacher.label(pair_batch(2))
    assert labels.tolist() == [1.0, 0.0]
    assert server.request_count == 4
    stage1, stage2 = server.requests[0], server.requests[1]
    # stage 1: one user message with the prompt and both frames as PNG data URLs
    assert len(stage1.messages) == 1 and stage1.messages[0]["role"] == "user"
    parts = stage1.messages[0]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "image_url"]
    assert parts[0]["text"] == ANALYSIS_PROMPT.format(goal=GOAL)
    assert all(url.startswith("data:image/png;base64,") for url in image_parts(stage1))
    # stage 2: the same images, the model's analysis, then the question for a label
    assert [m["role"] for m in stage2.messages] == ["user", "assistant", "user"]
    assert image_parts(stage2) == image_parts(stage1)
    assert stage2.messages[1]["content"] == "Image 1: arm down. Image 2: arm up, closer."
    assert stage2.messages[2]["content"] == LABEL_PROMPT


def test_cannot_tell_gives_no_label_and_is_dropped(server: ScriptedModelServer) -> None:
    server.script(Reply("They look the same."), Reply("-1"),
                  Reply("Hard to say."), Reply("I cannot tell."))  # fmt: skip
    batch = pair_batch(2)
    labels = VLMTeacher(model(server), GOAL, concurrency=1).label(batch)
    assert np.isnan(labels).all()
    learner = RewardLearner(get_task("pendulum"))
    assert learner.add(batch.first, batch.second, labels) == 0
    assert learner.fit()["epochs"] == 0  # nothing to learn from


def test_server_errors_and_timeouts_are_retried(server: ScriptedModelServer) -> None:
    server.script(Status(500), Reply("analysis"), Slow(2.0), Reply("1"))
    teacher = VLMTeacher(model(server), GOAL, concurrency=1)
    assert teacher.label(pair_batch(1)).tolist() == [1.0]
    assert server.request_count == 4 and teacher.failures == 0


def test_a_comparison_that_keeps_failing_gets_no_label_and_the_rest_go_on(
    server: ScriptedModelServer,
) -> None:
    server.script(Status(503), Status(503), Status(503), Reply("analysis"), Reply("0"))
    teacher = VLMTeacher(model(server), GOAL, concurrency=1)
    labels = teacher.label(pair_batch(2))
    assert np.isnan(labels[0]) and labels[1] == 0.0
    assert teacher.failures == 1


def test_replay_from_the_label_cache_gives_the_same_model_with_no_requests(
    server: ScriptedModelServer, tmp_path
) -> None:
    server.script(*[by_images] * 200)
    batch = pair_batch(40)
    task = get_task("pendulum")

    def learn(teacher: VLMTeacher) -> tuple[np.ndarray, dict[str, torch.Tensor]]:
        labels = teacher.label(batch)
        learner = RewardLearner(task)
        learner.observe(batch.first)
        learner.add(batch.first, batch.second, labels)
        learner.fit()
        return labels, learner.model.state_dict()  # type: ignore[union-attr]

    cache = LabelCache(tmp_path / "labels.sqlite")
    labels, weights = learn(VLMTeacher(model(server), GOAL, cache=cache, concurrency=4))
    asked = server.request_count
    assert asked == 80 and cache.count() == 40
    assert np.isnan(labels).any() and not np.isnan(labels).all()  # some "cannot tell"
    cache.close()

    replay = LabelCache(tmp_path / "labels.sqlite", mode="replay")
    labels2, weights2 = learn(VLMTeacher(None, GOAL, cache=replay, model_spec=SPEC))
    assert server.request_count == asked  # no model call
    np.testing.assert_array_equal(labels, labels2)
    assert all(torch.equal(weights[k], weights2[k]) for k in weights)
    with pytest.raises(CacheMissError, match="no cached label"):
        VLMTeacher(None, GOAL, cache=replay, model_spec=SPEC).label(pair_batch(1, seed=7))


def test_teacher_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="does not accept images"):
        VLMTeacher(ScriptedChatModel(), GOAL)
    with pytest.raises(ConfigError, match="give both cache= and model_spec="):
        VLMTeacher(None, GOAL)
    with pytest.raises(ConfigError, match="compares frames"):
        VLMTeacher(None, GOAL, cache=LabelCache(":memory:", mode="off"), model_spec=SPEC).label(
            PairBatch(states(1, 0), states(1, 1))
        )
