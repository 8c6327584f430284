from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rewardforge.llm import ChatModel, RetryPolicy, get_model
from rewardforge.llm.testing import ScriptedModelServer

KEY = "sk-rewardforge-test-SECRET-0123456789"
#: Short timeouts and backoffs so fault tests take fractions of a second.
FAST = RetryPolicy(
    max_attempts=4, backoff_base_s=0.01, backoff_max_s=0.05, timeout_s=0.5, deadline_s=10.0
)


@pytest.fixture(params=["openai", "anthropic"])
def server(request: pytest.FixtureRequest) -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer(request.param) as s:
        yield s


@pytest.fixture
def openai_server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer("openai") as s:
        yield s


def model_for(server: ScriptedModelServer, **kwargs: Any) -> ChatModel:
    spec = "compatible/test-model" if server.protocol == "openai" else "anthropic/claude-test"
    options: dict[str, Any] = {"retry": FAST, "api_key": KEY, "env": {}}
    options.update(kwargs)
    return get_model(spec, base_url=server.base_url, **options)
