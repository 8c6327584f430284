"""The cache: answers stored before parsing, reused, and replayed with no network."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from rewardforge.errors import CacheMissError, ConfigError, ModelResponseError, ModelTruncatedError
from rewardforge.llm import ModelCache, get_model, user
from rewardforge.llm.testing import Reply, ScriptedModelServer, malformed

from .conftest import model_for

PROMPT = [user("write a reward for cartpole")]


def test_replayed_run_makes_no_calls_and_yields_identical_candidates(
    server: ScriptedModelServer, tmp_path: Path
) -> None:
    path = tmp_path / "model_cache.sqlite"
    server.answers("r0", "r1", "r2", "r3", "r4")
    original = model_for(server, cache=ModelCache(path))
    first = original.complete(PROMPT, n=4)
    second = original.complete([user("reflection")], n=1)
    server.script(Reply("cut", finish_reason="length"))
    with pytest.raises(ModelTruncatedError):
        original.complete([user("truncated")], n=1)
    calls = server.request_count
    assert calls >= 3

    # offline: no key in the environment, no reachable server
    replay = get_model(
        "compatible/test-model" if server.protocol == "openai" else "anthropic/claude-test",
        base_url="http://127.0.0.1:9", env={}, cache=path, cache_mode="replay",
    )  # fmt: skip
    again = replay.complete(PROMPT, n=4)
    assert [c.text for c in again] == [c.text for c in first]
    assert all(c.cached for c in again)
    assert [c.text for c in replay.complete([user("reflection")])] == [c.text for c in second]
    with pytest.raises(ModelTruncatedError, match="token limit") as info:
        replay.complete([user("truncated")])  # a failure replays as it happened
    assert info.value.text == "cut"
    assert server.request_count == calls


def test_replay_miss_names_the_request(openai_server: ScriptedModelServer, tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    openai_server.answers("a")
    model_for(openai_server, cache=ModelCache(path)).complete(PROMPT)
    replay = model_for(openai_server, cache=ModelCache(path, mode="replay"))
    with pytest.raises(
        CacheMissError, match=r"no cached answer for sample 0 of request \w+ .*'something else'"
    ):
        replay.complete([user("something else")])
    partial = replay.complete(PROMPT, n=2)  # sample 1 was never asked: a failure, not a crash
    assert [c.text for c in partial] == ["a"]
    assert isinstance(partial.failures[0].error, CacheMissError)
    assert openai_server.request_count == 1


def test_replay_needs_an_existing_cache(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="replay needs a model cache"):
        ModelCache(tmp_path / "missing.sqlite", mode="replay")


def test_unknown_mode_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cache mode must be one of use, replay, off"):
        ModelCache(tmp_path / "c.sqlite", mode="always")


def test_raw_answer_is_stored_before_parsing(
    openai_server: ScriptedModelServer, tmp_path: Path
) -> None:
    cache = ModelCache(tmp_path / "c.sqlite")
    openai_server.script(malformed('{"choices": [{"message": {"content": "paid for"'))
    with pytest.raises(ModelResponseError):
        model_for(openai_server, cache=cache).complete(PROMPT)
    [row] = cache.raw_responses()
    assert "paid for" in row["raw_text"] and row["provider"] == "compatible"


def test_use_mode_reuses_answers_and_offsets_give_fresh_ones(
    openai_server: ScriptedModelServer, tmp_path: Path
) -> None:
    model = model_for(openai_server, cache=ModelCache(tmp_path / "c.sqlite"))
    openai_server.answers("a", "b", "c", "d")
    assert [c.text for c in model.complete(PROMPT, n=2)] == ["a", "b"]
    assert [c.text for c in model.complete(PROMPT, n=2)] == ["a", "b"]  # cached
    assert openai_server.request_count == 1
    more = model.complete(PROMPT, n=2, sample_offset=2)
    assert [(c.text, c.sample_index) for c in more] == [("c", 2), ("d", 3)]
    openai_server.answers("e")
    assert model.complete(PROMPT, temperature=0.5)[0].text == "e"  # other parameters: new key


def test_a_stored_failure_is_asked_again_in_use_mode(
    openai_server: ScriptedModelServer, tmp_path: Path
) -> None:
    model = model_for(openai_server, cache=ModelCache(tmp_path / "c.sqlite"))
    openai_server.script(malformed(), Reply("fixed"))
    with pytest.raises(ModelResponseError):
        model.complete(PROMPT)
    assert model.complete(PROMPT)[0].text == "fixed"


def test_off_mode_writes_nothing(openai_server: ScriptedModelServer, tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    openai_server.answers("a", "b")
    model = model_for(openai_server, cache=ModelCache(path, mode="off"))
    assert model.complete(PROMPT)[0].text == "a"
    assert model.complete(PROMPT)[0].text == "b"
    assert not path.exists()


def test_cache_is_wal_and_migrated(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    ModelCache(path).close()
    ModelCache(path).close()  # migrations run once
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT name FROM migrations").fetchall() == [
        ("001_responses_and_samples",)
    ]
