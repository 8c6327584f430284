"""Keeping API keys out of logs, messages and files.

Every key the model layer reads is registered with :func:`register_secret`. From then on
every log record made in this process (ours and the SDKs') has the key replaced by ``***``
before any handler sees it, and :func:`redact` does the same for error messages."""

from __future__ import annotations

import logging
import threading
from typing import Any

MASK = "***"
#: Shorter values are not treated as secrets (a key of "ollama" or "x" is a placeholder).
MIN_SECRET_LENGTH = 8

_lock = threading.Lock()
_secrets: set[str] = set()
_factory_installed = False


def register_secret(value: str | None) -> None:
    """Remember ``value`` as a secret to mask everywhere from now on."""
    global _factory_installed
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        _secrets.add(value)
        if not _factory_installed:
            _install_record_factory()
            _factory_installed = True


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    if not _secrets or not text:
        return text
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_value(value: Any) -> Any:
    """Redact strings inside nested dicts, lists and tuples."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(v) for v in value)
    return value


def _redact_record(record: logging.LogRecord) -> None:
    if not _secrets:
        return
    try:
        message = record.getMessage()
    except Exception:  # a broken format string is the handler's problem, not ours
        return
    clean = redact(message)
    if clean != message:
        record.msg = clean
        record.args = None


class RedactingFilter(logging.Filter):
    """A logging filter that masks registered secrets; attach it to any handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record)
        return True


def _install_record_factory() -> None:
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _redact_record(record)
        return record

    logging.setLogRecordFactory(factory)
