"""Every OpenAI-compatible provider, through the official ``openai`` SDK.

OpenAI, Azure OpenAI, Groq, Gemini's OpenAI endpoint, OpenRouter, Ollama, vLLM and
llama.cpp's server all speak this protocol; they differ only in base URL, key variable
and which parameters they accept. The SDK's own retries are off: :mod:`.retry` does it."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import openai

from rewardforge.errors import ModelResponseError
from rewardforge.llm.base import ChatModel, NUnsupportedError
from rewardforge.llm.http_errors import (
    error_text,
    json_body,
    preview,
    rejects_n,
    response_text,
    sdk_errors,
)
from rewardforge.llm.redact import redact, register_secret
from rewardforge.llm.types import Choice, Message, ParsedResponse, RawResponse, Usage

#: Placeholder key for local servers that need none (the SDK insists on some value).
NO_KEY = "no-key"


def openai_message(message: Message) -> dict[str, Any]:
    if not message.images:
        return {"role": message.role, "content": message.content}
    parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}]
    parts += [{"type": "image_url", "image_url": {"url": im.data_url()}} for im in message.images]
    return {"role": message.role, "content": parts}


class OpenAIChatModel(ChatModel):
    """A model behind an OpenAI-compatible chat completions endpoint."""

    supports_n = True
    supports_images = True

    def __init__(
        self,
        model: str,
        *,
        provider: str = "openai",
        api_key: str | None = None,
        base_url: str | None = None,
        key_hint: str = "Set OPENAI_API_KEY to a valid key",
        max_tokens_param: str = "max_tokens",
        azure_endpoint: str | None = None,
        api_version: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(model, provider=provider, **kwargs)
        register_secret(api_key)
        self.base_url = azure_endpoint or base_url
        self._key_hint = key_hint
        self._max_tokens_param = max_tokens_param
        client: openai.OpenAI
        if azure_endpoint is not None:
            client = openai.AzureOpenAI(
                azure_endpoint=azure_endpoint,
                api_version=api_version,
                api_key=api_key or NO_KEY,
                max_retries=0,
            )
        else:
            client = openai.OpenAI(api_key=api_key or NO_KEY, base_url=base_url, max_retries=0)
        self._client = client

    def _send(
        self, messages: Sequence[Message], params: Mapping[str, Any], n: int, timeout_s: float
    ) -> RawResponse:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [openai_message(m) for m in messages],
            "temperature": params["temperature"],
            self._max_tokens_param: params["max_tokens"],
        }
        if n > 1:
            body["n"] = n
        if params.get("stop"):
            body["stop"] = params["stop"]
        start = time.monotonic()

        def n_rejected(status: int, message: str, param: str | None) -> None:
            if n > 1 and rejects_n(status, message, param):
                raise NUnsupportedError(redact(message)) from None

        with sdk_errors(
            openai,
            spec=self.spec,
            timeout_s=timeout_s,
            key_hint=self._key_hint,
            base_url=self.base_url,
            on_status=n_rejected,
        ):
            response = self._client.chat.completions.with_raw_response.create(
                **body, timeout=timeout_s
            )
            text = response_text(response)
        return RawResponse(
            text=text,
            request_id=response.headers.get("x-request-id"),
            latency_s=time.monotonic() - start,
        )

    def _parse(self, raw: RawResponse) -> ParsedResponse:
        data = json_body(self.spec, raw)
        if not isinstance(data, dict):
            raise ModelResponseError(
                f"{self.spec} sent JSON that is not an object: {preview(raw.text)}",
                request_id=raw.request_id,
            )
        choices = data.get("choices")
        if choices is None and "error" in data:
            message, _ = error_text(data, "unknown error")
            raise ModelResponseError(
                f"{self.spec} answered with an error: {redact(message)}", request_id=raw.request_id
            )
        if not isinstance(choices, list):
            raise ModelResponseError(
                f"{self.spec} sent an answer without a 'choices' list: {preview(raw.text)}",
                request_id=raw.request_id,
            )
        parsed = [self._choice(c, raw) for c in sorted(choices, key=_choice_index)]
        usage: dict[str, Any] = data["usage"] if isinstance(data.get("usage"), dict) else {}
        return ParsedResponse(
            choices=tuple(parsed),
            model=str(data.get("model") or self.model),
            usage=Usage(_int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))),
            request_id=raw.request_id or (str(data["id"]) if data.get("id") else None),
        )

    def _choice(self, choice: Any, raw: RawResponse) -> Choice:
        if not isinstance(choice, dict):
            raise ModelResponseError(
                f"{self.spec} sent a choice that is not an object: {preview(json.dumps(choice))}",
                request_id=raw.request_id,
            )
        message = choice.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):  # content parts
            content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        return Choice(
            text=content if isinstance(content, str) else None,
            finish_reason=str(choice.get("finish_reason") or "unknown"),
        )


def _choice_index(choice: Any) -> int:
    return _int(choice.get("index")) if isinstance(choice, dict) else 0


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0
