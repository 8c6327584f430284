"""The retry policy: which failures are retried, how long to wait, when to give up.

Providers raise :class:`TransientError` for failures worth another try (408/409/429/5xx,
timeouts, dropped connections) and a final :class:`~rewardforge.errors.ModelError` for the
rest (authentication, bad request). :func:`call_with_retry` retries with jittered
exponential backoff, honours ``Retry-After`` and stops at an overall deadline."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from rewardforge.errors import ModelUnavailableError

logger = logging.getLogger(__name__)

#: HTTP statuses that are retried (plus every 5xx).
RETRY_STATUS_CODES = frozenset({408, 409, 429})
DEFAULT_MAX_ATTEMPTS = 6
DEFAULT_BACKOFF_BASE_S = 1.0
DEFAULT_BACKOFF_MAX_S = 60.0
#: Seconds one HTTP request may take before it is abandoned and retried.
DEFAULT_TIMEOUT_S = 180.0
#: Seconds one ``complete`` call may take in all, retries included.
DEFAULT_DEADLINE_S = 900.0

T = TypeVar("T")


def is_retryable_status(status: int | None) -> bool:
    return status is not None and (status in RETRY_STATUS_CODES or status >= 500)


class TransientError(Exception):
    """A failure worth retrying; ``retry_after_s`` is the server's hint, if any."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.request_id = request_id
        self.retry_after_s = retry_after_s


def parse_retry_after(headers: object) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    value = get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000.0)
        except ValueError:
            pass
    value = get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    import email.utils

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts, backoff, per-request timeout and overall deadline."""

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    backoff_base_s: float = DEFAULT_BACKOFF_BASE_S
    backoff_max_s: float = DEFAULT_BACKOFF_MAX_S
    timeout_s: float = DEFAULT_TIMEOUT_S
    deadline_s: float = DEFAULT_DEADLINE_S

    @classmethod
    def with_timeout(cls, timeout_s: float | None) -> RetryPolicy:
        """The default policy, with ``timeout_s`` per request when given."""
        return cls() if timeout_s is None else cls(timeout_s=float(timeout_s))

    def backoff_s(self, attempt: int, retry_after_s: float | None, rng: random.Random) -> float:
        """Full-jitter exponential backoff; a server's Retry-After is a lower bound."""
        ceiling = min(self.backoff_max_s, self.backoff_base_s * (2**attempt))
        wait = rng.uniform(0.0, ceiling)
        if retry_after_s is not None:
            wait = retry_after_s + rng.uniform(0.0, min(self.backoff_base_s, ceiling) * 0.1)
        return wait


def call_with_retry(
    call: Callable[[float], T],
    policy: RetryPolicy,
    *,
    describe: str,
    deadline: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """Run ``call(timeout_s)`` until it succeeds, fails for good, or time runs out.

    ``deadline`` is a ``time.monotonic()`` instant (default: now + ``policy.deadline_s``).
    Raises :class:`ModelUnavailableError` naming the last failure when attempts or time run out."""
    rng = rng or random.Random()
    deadline = deadline if deadline is not None else time.monotonic() + policy.deadline_s
    last: TransientError | None = None
    for attempt in range(policy.max_attempts):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            return call(min(policy.timeout_s, remaining))
        except TransientError as exc:
            last = exc
        if attempt + 1 >= policy.max_attempts:
            break
        wait = policy.backoff_s(attempt, last.retry_after_s, rng)
        if time.monotonic() + wait >= deadline:
            logger.warning("%s: %s; no time left before the deadline to retry", describe, last)
            break
        logger.warning(
            "%s: %s; retry %d/%d in %.2fs",
            describe,
            last,
            attempt + 1,
            policy.max_attempts - 1,
            wait,
        )
        sleep(wait)
    if last is None:
        raise ModelUnavailableError(
            f"{describe}: the deadline of {policy.deadline_s:g}s passed before a request could "
            "be made; raise the deadline (deadline_s)"
        )
    raise ModelUnavailableError(
        f"{describe} kept failing: {last} (gave up after {attempt + 1} attempt(s), "
        f"deadline {policy.deadline_s:g}s, request timeout {policy.timeout_s:g}s). "
        "The provider may be overloaded or unreachable; try again later, lower the "
        "concurrency, or raise the request timeout (--request-timeout) or deadline_s.",
        status_code=last.status_code,
        request_id=last.request_id,
    )
