"""Keys never reach logs, error messages, the cache or any file the layer writes."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from rewardforge.errors import ModelAuthError
from rewardforge.llm import ModelCache, redact, register_secret, user
from rewardforge.llm.testing import Reply, ScriptedModelServer, Status, malformed

from .conftest import KEY, model_for


def test_no_file_the_layer_writes_contains_the_key(tmp_path: Path) -> None:
    log_path = tmp_path / "debug.log"
    handler = logging.FileHandler(log_path)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)  # the SDKs log requests at DEBUG
    try:
        for protocol in ("openai", "anthropic"):
            cache = ModelCache(tmp_path / f"{protocol}.sqlite")
            with ScriptedModelServer(protocol, api_key=KEY) as s:  # type: ignore[arg-type]
                s.script(Status(500, f"upstream failed for key {KEY}"), Reply("ok"), malformed())
                model = model_for(s, cache=cache)
                model.complete([user("a")])
                with pytest.raises(Exception):  # noqa: B017 - malformed answer
                    model.complete([user("b")])
                assert any(KEY in str(r.headers) for r in s.requests)  # it was sent...
            with ScriptedModelServer(protocol, api_key="another-key-0000") as s:  # type: ignore[arg-type]
                with pytest.raises(ModelAuthError) as info:  # the server echoes our key back
                    model_for(s, cache=cache).complete([user("c")])
                assert KEY not in str(info.value) and "***" in str(info.value)
            logging.getLogger("rewardforge.test").warning("key is %s", KEY)
            cache.close()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) >= 3 and log_path.stat().st_size > 0
    for path in files:  # ...but never written down
        assert KEY.encode() not in path.read_bytes(), path


def test_redact_masks_registered_secrets(caplog: pytest.LogCaptureFixture) -> None:
    register_secret("sk-another-long-secret")
    register_secret("short")  # placeholders are not secrets
    assert redact("x sk-another-long-secret y short") == "x *** y short"
    with caplog.at_level(logging.INFO):
        logging.getLogger("rewardforge.llm").info("using %s", "sk-another-long-secret")
    assert "sk-another-long-secret" not in caplog.text and "***" in caplog.text
