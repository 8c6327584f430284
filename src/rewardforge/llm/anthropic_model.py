"""Anthropic's models through the ``anthropic`` SDK (the optional extra ``anthropic``).

The Messages API has no ``n``: samples are concurrent requests. System turns become the
``system`` parameter; ``max_tokens`` stop reasons become ``length``."""

from __future__ import annotations

import inspect
import time
from collections.abc import Mapping, Sequence
from typing import Any

from rewardforge.errors import MissingExtraError, ModelResponseError
from rewardforge.llm.base import ChatModel
from rewardforge.llm.http_errors import (
    json_body,
    preview,
    response_text,
    sdk_errors,
)
from rewardforge.llm.openai_compat import NO_KEY
from rewardforge.llm.redact import register_secret
from rewardforge.llm.types import Choice, Message, ParsedResponse, RawResponse, Usage

STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}


def anthropic_messages(messages: Sequence[Message]) -> tuple[str | None, list[dict[str, Any]]]:
    """(system text, turns) in the Messages API format."""
    system = "\n\n".join(m.content for m in messages if m.role == "system") or None
    turns: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        content: Any = m.content
        if m.images:
            content = [
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": im.media_type, "data": im.base64()},
                }
                for im in m.images
            ] + [{"type": "text", "text": m.content}]
        turns.append({"role": m.role, "content": content})
    return system, turns


class AnthropicChatModel(ChatModel):
    """A Claude model through the Anthropic Messages API."""

    supports_n = False
    supports_images = True

    def __init__(
        self,
        model: str,
        *,
        provider: str = "anthropic",
        api_key: str | None = None,
        base_url: str | None = None,
        key_hint: str = "Set ANTHROPIC_API_KEY to a valid key",
        **kwargs: Any,
    ) -> None:
        try:
            import anthropic
        except ImportError:
            raise MissingExtraError("anthropic", "anthropic", "Anthropic models") from None
        super().__init__(model, provider=provider, **kwargs)
        register_secret(api_key)
        self._sdk = anthropic
        self.base_url = base_url
        self._key_hint = key_hint
        # Newer SDKs (and models) dropped sampling temperature; send it only where accepted.
        self._client = anthropic.Anthropic(
            api_key=api_key or NO_KEY, base_url=base_url, max_retries=0
        )
        self._takes_temperature = (
            "temperature" in inspect.signature(self._client.messages.create).parameters
        )

    def _send(
        self, messages: Sequence[Message], params: Mapping[str, Any], n: int, timeout_s: float
    ) -> RawResponse:
        sdk = self._sdk
        system, turns = anthropic_messages(messages)
        body: dict[str, Any] = {
            "model": self.model,
            "messages": turns,
            "max_tokens": params["max_tokens"],
        }
        if self._takes_temperature:
            body["temperature"] = min(params["temperature"], 1.0)
        if system:
            body["system"] = system
        if params.get("stop"):
            body["stop_sequences"] = params["stop"]
        start = time.monotonic()
        with sdk_errors(
            sdk,
            spec=self.spec,
            timeout_s=timeout_s,
            key_hint=self._key_hint,
            base_url=self.base_url,
        ):
            response = self._client.messages.with_raw_response.create(**body, timeout=timeout_s)
            text = response_text(response)
        return RawResponse(
            text=text,
            request_id=response.headers.get("request-id"),
            latency_s=time.monotonic() - start,
        )

    def _parse(self, raw: RawResponse) -> ParsedResponse:
        data = json_body(self.spec, raw)
        if not isinstance(data, dict) or not isinstance(data.get("content"), list):
            raise ModelResponseError(
                f"{self.spec} sent an answer without a 'content' list: {preview(raw.text)}",
                request_id=raw.request_id,
            )
        text = "".join(
            str(block.get("text", ""))
            for block in data["content"]
            if isinstance(block, dict) and block.get("type") == "text"
        )
        reason = str(data.get("stop_reason") or "unknown")
        usage: dict[str, Any] = data["usage"] if isinstance(data.get("usage"), dict) else {}
        choices = (Choice(text, STOP_REASONS.get(reason, reason)),)
        return ParsedResponse(
            choices=choices,
            model=str(data.get("model") or self.model),
            usage=Usage(int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)),
            request_id=raw.request_id or (str(data["id"]) if data.get("id") else None),
        )
