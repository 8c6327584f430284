"""Every registered provider, configured from its variables, against the scripted server."""

from __future__ import annotations

import json

import pytest

from rewardforge.errors import BudgetExceededError, ConfigError, ModelConfigError
from rewardforge.llm import (
    UsageMeter,
    default_model_spec,
    get_model,
    list_providers,
    parse_model_spec,
    provider_status,
    user,
)
from rewardforge.llm.testing import Reply, ScriptedModelServer

from .conftest import FAST, KEY


@pytest.mark.parametrize("spec", list_providers(), ids=lambda s: s.name)
def test_every_provider_completes_against_a_local_server(spec) -> None:  # type: ignore[no-untyped-def]
    protocol = "anthropic" if spec.protocol == "anthropic" else "openai"
    with ScriptedModelServer(protocol) as s:  # type: ignore[arg-type]
        s.script(Reply(f"hello from {spec.name}"))
        env = {spec.key_env: KEY} if spec.key_env else {}
        url = s.url if spec.protocol == "azure" else s.base_url
        model = get_model(f"{spec.name}/some-model", base_url=url, env=env, retry=FAST)
        [c] = model.complete([user("hi")])
        assert c.text == f"hello from {spec.name}"
        [request] = s.requests
        assert (
            request.body["model"] if protocol == "anthropic" or spec.protocol != "azure" else True
        )
        if spec.protocol == "azure":
            assert "/openai/deployments/some-model/" in request.path
            assert request.headers["api-key"] == KEY
        elif spec.key_env:
            sent = request.headers.get("x-api-key") or request.headers["authorization"]
            assert KEY in sent


def test_provider_reads_key_and_base_url_from_its_variables() -> None:
    with ScriptedModelServer() as s:
        s.script(Reply("ok"))
        env = {"OLLAMA_HOST": f"127.0.0.1:{s.port}"}
        model = get_model("ollama/llama3.1", env=env, retry=FAST)
        assert model.complete([user("hi")])[0].text == "ok"


def test_missing_key_says_which_variable_to_set() -> None:
    with pytest.raises(ModelConfigError, match="needs an API key: set GROQ_API_KEY"):
        get_model("groq/llama", env={})


def test_unknown_provider_suggests_a_close_one() -> None:
    with pytest.raises(
        ModelConfigError, match="unknown model provider 'opanai'. Did you mean 'openai'"
    ):
        get_model("opanai/gpt-4o", env={})


def test_bad_spec_and_missing_model_name() -> None:
    with pytest.raises(ModelConfigError, match="must look like 'provider/name'"):
        parse_model_spec("/gpt")
    assert parse_model_spec("openrouter/openai/gpt-4o") == ("openrouter", "openai/gpt-4o")
    with pytest.raises(ModelConfigError, match="no default model; name one: --model vllm/MODEL"):
        get_model("vllm", env={})


def test_default_model_spec() -> None:
    assert default_model_spec({}) is None
    assert default_model_spec({"OLLAMA_HOST": "localhost"}) is None  # local: only when named
    assert default_model_spec({"GROQ_API_KEY": "k"}) == "groq/llama-3.3-70b-versatile"
    assert default_model_spec({"OPENAI_API_KEY": "k", "GROQ_API_KEY": "k"}) == "openai/gpt-4o"
    assert (
        default_model_spec({"REWARDFORGE_MODEL": "ollama/qwen2.5", "OPENAI_API_KEY": "k"})
        == "ollama/qwen2.5"
    )


def test_status_never_shows_a_key() -> None:
    from rewardforge.llm import get_provider

    status = provider_status(get_provider("openai"), {"OPENAI_API_KEY": KEY})
    assert status.configured and status.source == "OPENAI_API_KEY"
    assert KEY not in json.dumps(status.__dict__)
    azure = provider_status(get_provider("azure"), {"AZURE_OPENAI_API_KEY": KEY})
    assert not azure.configured and "AZURE_OPENAI_ENDPOINT" in azure.source


def test_models_cli_lists_providers_without_keys(run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("models", "--json", env={"GROQ_API_KEY": KEY, "REWARDFORGE_MODEL": ""})
    assert result.returncode == 0, result.stderr
    assert KEY not in result.stdout + result.stderr
    data = json.loads(result.stdout)
    groq = next(p for p in data["providers"] if p["name"] == "groq")
    assert groq["configured"] and groq["source"] == "GROQ_API_KEY"
    table = run_cli("models", env={"GROQ_API_KEY": KEY})
    assert table.returncode == 0 and "groq" in table.stdout and KEY not in table.stdout


def test_usage_is_counted_and_token_budget_ends_cleanly(openai_server: ScriptedModelServer) -> None:
    meter = UsageMeter(max_tokens=50)
    model = get_model(
        "compatible/gpt-4o", base_url=openai_server.base_url, env={}, meter=meter, retry=FAST
    )
    openai_server.script(
        Reply("a", prompt_tokens=20, completion_tokens=20),
        Reply("b", prompt_tokens=20, completion_tokens=20),
    )
    model.complete([user("1")])
    totals = meter.totals()
    assert (totals.calls, totals.prompt_tokens, totals.completion_tokens) == (1, 20, 20)
    assert totals.cost_usd == pytest.approx((20 * 2.5 + 20 * 10.0) / 1e6)
    model.complete([user("2")])
    with pytest.raises(BudgetExceededError, match="token budget spent: 80 of 50.*--max-tokens"):
        model.complete([user("3")])
    assert openai_server.request_count == 2


def test_cost_budget_needs_a_price() -> None:
    with pytest.raises(ConfigError, match="--max-cost needs a price for model 'my-local'"):
        get_model(
            "compatible/my-local",
            base_url="http://127.0.0.1:9",
            env={},
            meter=UsageMeter(max_cost_usd=1.0),
        )
    meter = UsageMeter(max_cost_usd=1.0, prices={"my-local": (1.0, 2.0)})
    get_model("compatible/my-local", base_url="http://127.0.0.1:9", env={}, meter=meter)


def test_images_need_a_vision_capable_model() -> None:
    from rewardforge.llm import Image
    from rewardforge.llm.testing import ScriptedChatModel

    model = ScriptedChatModel(["a", "b", "c"])
    with pytest.raises(ConfigError, match="does not accept images"):
        model.complete([user("x")], images=[Image(b"png")])
    assert [c.text for c in model.complete([user("x")], n=3)] == ["a", "b", "c"]
    assert model.calls == 1
