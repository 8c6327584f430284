"""Turning an SDK's HTTP failure into our retry signal or a typed, actionable error."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rewardforge.errors import ModelAuthError, ModelError, ModelRequestError, ModelResponseError
from rewardforge.llm.redact import redact
from rewardforge.llm.retry import TransientError, is_retryable_status, parse_retry_after
from rewardforge.llm.types import RawResponse

_N_REJECTED = re.compile(
    r"('n'|\"n\"|`n`|\bn\b\s*(must|should|is not|not supported|>|<=)|parameter n\b)", re.I
)


def error_text(body: Any, fallback: str) -> tuple[str, str | None]:
    """The message and the rejected parameter (if named) from an error body."""
    err = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(err, dict):
        message = str(err.get("message") or fallback)
        param = err.get("param")
        return message, str(param) if param else None
    if isinstance(err, str):
        return err, None
    return fallback, None


def rejects_n(status: int, message: str, param: str | None) -> bool:
    """Whether a 400/422 answer says the ``n`` parameter is not supported."""
    return status in (400, 422) and (param == "n" or bool(_N_REJECTED.search(message)))


def status_error(
    *,
    spec: str,
    status: int,
    message: str,
    request_id: str | None,
    headers: Any,
    key_hint: str,
    base_url: str | None,
) -> Exception:
    """The exception to raise for an HTTP error status: transient (retried) or final."""
    message = redact(message)
    rid = f", request id {request_id}" if request_id else ""
    if is_retryable_status(status):
        return TransientError(
            f"HTTP {status}{rid}: {message}",
            status_code=status,
            request_id=request_id,
            retry_after_s=parse_retry_after(headers),
        )
    if status in (401, 403):
        return ModelAuthError(
            f"{spec} rejected the credentials (HTTP {status}{rid}): {message}. {key_hint}",
            status_code=status,
            request_id=request_id,
        )
    if status == 404:
        return ModelRequestError(
            f"{spec}: not found (HTTP 404{rid}): {message}. Check the model name and the base "
            f"URL ({base_url or 'default'})",
            status_code=status,
            request_id=request_id,
        )
    return ModelRequestError(
        f"{spec} rejected the request (HTTP {status}{rid}): {message}",
        status_code=status,
        request_id=request_id,
    )


@contextmanager
def sdk_errors(
    sdk: Any,
    *,
    spec: str,
    timeout_s: float,
    key_hint: str,
    base_url: str | None,
    on_status: Callable[[int, str, str | None], None] | None = None,
) -> Iterator[None]:
    """Turn the errors of a Stainless-generated SDK (``openai``, ``anthropic``: the same
    exception classes) into ours: timeouts and dropped connections are ``TransientError``
    (retried), an HTTP error status is ``status_error``'s typed error. ``on_status(status,
    message, param)`` may raise a more specific error first."""
    try:
        yield
    except sdk.APITimeoutError:
        raise TransientError(f"no answer within the {timeout_s:.3g}s request timeout") from None
    except sdk.APIConnectionError as exc:
        cause = exc.__cause__ or exc
        raise TransientError(
            f"connection failed: {redact(str(cause)) or type(cause).__name__}"
        ) from None
    except sdk.APIStatusError as exc:
        message, param = error_text(exc.body, exc.message)
        if on_status is not None:
            on_status(exc.status_code, message, param)
        raise status_error(
            spec=spec,
            status=exc.status_code,
            message=message,
            request_id=exc.request_id,
            headers=exc.response.headers,
            key_hint=key_hint,
            base_url=base_url,
        ) from None
    except Exception as exc:
        if is_transport_error(exc):
            raise TransientError(f"connection failed: {redact(str(exc))}") from None
        raise


def is_transport_error(exc: BaseException) -> bool:
    """An error from the HTTP stack underneath the SDK (connection reset, protocol error)."""
    module = type(exc).__module__.split(".")[0]
    return module in ("httpx", "httpx2", "httpcore", "httpcore2", "h11") or isinstance(
        exc, (ConnectionError, TimeoutError)
    )


__all__ = [
    "ModelError",
    "error_text",
    "is_transport_error",
    "rejects_n",
    "response_text",
    "status_error",
]


def response_text(response: Any) -> str:
    """The body of an SDK raw response as text (``text`` is a property or a method by SDK)."""
    http = getattr(response, "http_response", None)
    if http is not None:
        return str(http.text)
    text = response.text
    return str(text() if callable(text) else text)


#: Characters of a response body quoted in error messages.
PREVIEW_CHARS = 200


def preview(text: str) -> str:
    """The start of a response body, for error messages."""
    text = text.strip()
    return repr(text[:PREVIEW_CHARS] + ("..." if len(text) > PREVIEW_CHARS else ""))


def json_body(spec: str, raw: RawResponse) -> Any:
    """The decoded JSON of a response, or a ``ModelResponseError`` that quotes its start."""
    try:
        return json.loads(raw.text)
    except json.JSONDecodeError as exc:
        raise ModelResponseError(
            f"{spec} sent an answer that is not valid JSON ({exc.msg} at character "
            f"{exc.pos}); it is kept in the model cache. It begins {preview(raw.text)}",
            request_id=raw.request_id,
        ) from None
