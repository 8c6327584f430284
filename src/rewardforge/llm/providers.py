"""The provider table, the registry, and ``get_model("provider/name")``.

A provider is a row: protocol, default base URL, the environment variables that hold its
key and endpoint, its default model and what it supports. Add one with
:func:`register_provider`; every registered provider is exercised by the test suite."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rewardforge.errors import ConfigError, ModelConfigError, did_you_mean
from rewardforge.llm.base import DEFAULT_CONCURRENCY, ChatModel
from rewardforge.llm.cache import ModelCache
from rewardforge.llm.retry import RetryPolicy
from rewardforge.llm.usage import UsageMeter

Protocol = Literal["openai", "azure", "anthropic"]
#: Names ``default_model_spec`` reads first: ``REWARDFORGE_MODEL=provider/name``.
MODEL_ENV = "REWARDFORGE_MODEL"


@dataclass(frozen=True)
class ProviderSpec:
    """One row of the provider table."""

    name: str
    protocol: Protocol
    base_url: str | None
    key_env: str | None
    default_model: str
    supports_n: bool = True
    key_required: bool = True
    base_url_env: str | None = None
    #: Appended to the value of ``base_url_env`` (Ollama's OLLAMA_HOST has no ``/v1``).
    base_url_suffix: str = ""
    max_tokens_param: str = "max_tokens"
    extra_env: tuple[str, ...] = ()
    description: str = ""

    @property
    def local(self) -> bool:
        return not self.key_required


_PROVIDERS: dict[str, ProviderSpec] = {}


def register_provider(spec: ProviderSpec, *, replace: bool = False) -> None:
    """Add a provider to the table (``replace=True`` to redefine one)."""
    if spec.name in _PROVIDERS and not replace:
        raise ConfigError(f"provider {spec.name!r} is already registered; pass replace=True")
    if "/" in spec.name:
        raise ConfigError(f"provider names cannot contain '/', got {spec.name!r}")
    _PROVIDERS[spec.name] = spec


def get_provider(name: str) -> ProviderSpec:
    try:
        return _PROVIDERS[name]
    except KeyError:
        raise ModelConfigError(
            f"unknown model provider {name!r}.{did_you_mean(name, _PROVIDERS)} "
            f"Known: {', '.join(_PROVIDERS)}"
        ) from None


def list_providers() -> list[ProviderSpec]:
    return list(_PROVIDERS.values())


for _spec in (
    ProviderSpec("openai", "openai", "https://api.openai.com/v1", "OPENAI_API_KEY", "gpt-4o",
                 base_url_env="OPENAI_BASE_URL", max_tokens_param="max_completion_tokens",
                 description="OpenAI"),
    ProviderSpec("azure", "azure", None, "AZURE_OPENAI_API_KEY", "",
                 base_url_env="AZURE_OPENAI_ENDPOINT",
                 extra_env=("AZURE_OPENAI_DEPLOYMENT", "OPENAI_API_VERSION"),
                 max_tokens_param="max_completion_tokens",
                 description="Azure OpenAI; the model name is the deployment name"),
    ProviderSpec("anthropic", "anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY",
                 "claude-sonnet-4-5", supports_n=False, base_url_env="ANTHROPIC_BASE_URL",
                 description="Anthropic (pip install 'rewardforge[anthropic]')"),
    ProviderSpec("gemini", "openai", "https://generativelanguage.googleapis.com/v1beta/openai/",
                 "GEMINI_API_KEY", "gemini-2.0-flash", description="Google Gemini (OpenAI endpoint)"),
    ProviderSpec("groq", "openai", "https://api.groq.com/openai/v1", "GROQ_API_KEY",
                 "llama-3.3-70b-versatile", supports_n=False, description="Groq"),
    ProviderSpec("openrouter", "openai", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY",
                 "openai/gpt-4o", supports_n=False, description="OpenRouter"),
    ProviderSpec("ollama", "openai", "http://localhost:11434/v1", None, "llama3.1",
                 supports_n=False, key_required=False, base_url_env="OLLAMA_HOST",
                 base_url_suffix="/v1", description="Ollama (local)"),
    ProviderSpec("vllm", "openai", "http://localhost:8000/v1", "VLLM_API_KEY", "",
                 key_required=False, base_url_env="VLLM_BASE_URL", description="vLLM server (local)"),
    ProviderSpec("llamacpp", "openai", "http://localhost:8080/v1", "LLAMACPP_API_KEY", "",
                 supports_n=False, key_required=False, base_url_env="LLAMACPP_BASE_URL",
                 description="llama.cpp server (local)"),
    ProviderSpec("compatible", "openai", None, "REWARDFORGE_LLM_API_KEY", "",
                 key_required=False, base_url_env="REWARDFORGE_LLM_BASE_URL",
                 description="any OpenAI-compatible server at a base URL"),
):  # fmt: skip
    register_provider(_spec)


def parse_model_spec(spec: str) -> tuple[str, str]:
    """``"provider/name"`` -> (provider, name). The name may itself contain '/'."""
    provider, _, name = spec.strip().partition("/")
    if not provider:
        raise ModelConfigError(
            f"--model must look like 'provider/name' (e.g. 'openai/gpt-4o'), got {spec!r}"
        )
    return provider, name


@dataclass(frozen=True)
class ProviderStatus:
    """What ``rewardforge models`` shows for a provider: never a key."""

    name: str
    configured: bool
    source: str
    base_url: str | None
    default_model: str
    supports_n: bool
    description: str


def _resolve_base_url(spec: ProviderSpec, env: Mapping[str, str]) -> str | None:
    if spec.base_url_env and env.get(spec.base_url_env):
        value = env[spec.base_url_env].rstrip("/")
        if spec.name == "ollama" and "://" not in value:
            value = "http://" + value
        if spec.base_url_suffix and not value.endswith(spec.base_url_suffix):
            value += spec.base_url_suffix
        return value
    return spec.base_url


def provider_status(spec: ProviderSpec, env: Mapping[str, str] | None = None) -> ProviderStatus:
    env = os.environ if env is None else env
    has_key = bool(spec.key_env and env.get(spec.key_env))
    base_url = _resolve_base_url(spec, env)
    if spec.key_required:
        configured = has_key and (spec.protocol != "azure" or bool(base_url))
        source = spec.key_env or "" if configured else f"set {spec.key_env}"
        if spec.protocol == "azure" and not base_url:
            source = f"set {spec.key_env} and {spec.base_url_env}"
    else:
        configured = bool(base_url)
        source = (
            spec.base_url_env if spec.base_url_env and env.get(spec.base_url_env) else "default URL"
        )
        if not base_url:
            source = f"set {spec.base_url_env}"
    return ProviderStatus(
        name=spec.name,
        configured=configured,
        source=source,
        base_url=base_url,
        default_model=spec.default_model
        or (env.get(spec.extra_env[0], "") if spec.extra_env else ""),
        supports_n=spec.supports_n,
        description=spec.description,
    )


def default_model_spec(env: Mapping[str, str] | None = None) -> str | None:
    """The ``provider/name`` to use when the user names none, or None when no key is set.

    ``REWARDFORGE_MODEL`` wins; then the first provider in the table whose key is set.
    Local servers are used only when named (they cannot be detected without a request)."""
    env = os.environ if env is None else env
    if env.get(MODEL_ENV):
        return env[MODEL_ENV].strip()
    for spec in _PROVIDERS.values():
        if not spec.key_required:
            continue
        status = provider_status(spec, env)
        if status.configured and status.default_model:
            return f"{spec.name}/{status.default_model}"
    return None


ModelFactory = Callable[..., ChatModel]


def _factory(protocol: Protocol) -> ModelFactory:
    if protocol == "anthropic":
        from rewardforge.llm.anthropic_model import AnthropicChatModel

        return AnthropicChatModel
    from rewardforge.llm.openai_compat import OpenAIChatModel

    return OpenAIChatModel


def get_model(
    spec: str,
    *,
    cache: ModelCache | str | Path | None = None,
    cache_mode: str = "use",
    meter: UsageMeter | None = None,
    retry: RetryPolicy | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    api_key: str | None = None,
    base_url: str | None = None,
    supports_n: bool | None = None,
    env: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> ChatModel:
    """A chat model from ``"provider/name"`` (the name defaults to the provider's default).

    Keys and endpoints come from the provider's environment variables unless given.
    ``cache`` is a :class:`ModelCache` or a path to one (opened in ``cache_mode``)."""
    env = os.environ if env is None else env
    provider_name, name = parse_model_spec(spec)
    provider = get_provider(provider_name)
    key = api_key or (env.get(provider.key_env) if provider.key_env else None) or None
    url = base_url or _resolve_base_url(provider, env)
    in_replay = (
        isinstance(cache, ModelCache)
        and cache.mode == "replay"
        or (cache is not None and not isinstance(cache, ModelCache) and cache_mode == "replay")
    )
    if provider.key_required and not key and not in_replay:
        raise ModelConfigError(
            f"model provider {provider.name!r} needs an API key: set {provider.key_env} "
            "(or choose another provider with --model provider/name; `rewardforge models` "
            "lists what is configured)"
        )
    if not url and provider.protocol != "anthropic":
        raise ModelConfigError(
            f"model provider {provider.name!r} needs a base URL: set {provider.base_url_env} "
            "or pass base_url"
        )
    if not name:
        name = provider.default_model or (
            env.get(provider.extra_env[0], "") if provider.extra_env else ""
        )
    if not name:
        raise ModelConfigError(
            f"model provider {provider.name!r} has no default model; name one: "
            f"--model {provider.name}/MODEL"
        )
    if cache is not None and not isinstance(cache, ModelCache):
        cache = ModelCache(cache, mode=cache_mode)
    options: dict[str, Any] = dict(
        provider=provider.name, api_key=key, cache=cache, meter=meter, retry=retry,
        concurrency=concurrency,
        supports_n=provider.supports_n if supports_n is None else supports_n,
        key_hint=f"Set {provider.key_env} to a valid key" if provider.key_env else "Check the server's key",
        **kwargs,
    )  # fmt: skip
    if provider.protocol == "azure":
        options.update(
            azure_endpoint=url,
            api_version=env.get("OPENAI_API_VERSION", "2024-10-21"),
            max_tokens_param=provider.max_tokens_param,
        )
    elif provider.protocol == "openai":
        options.update(base_url=url, max_tokens_param=provider.max_tokens_param)
    else:
        options.update(base_url=url)
    return _factory(provider.protocol)(name, **options)
