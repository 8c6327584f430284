"""The chat model interface: one ``complete`` method, capability flags, and the machinery
every provider shares (cache, samples, retries, usage).

``complete`` is a template method: it looks answers up in the cache, asks the provider for
the rest (``n`` per request where the provider supports it, else concurrent single
requests), writes each raw response to the cache before parsing it, and keeps the samples
that succeeded. Providers implement two small hooks:

- ``_send(messages, params, n, timeout_s) -> RawResponse``: one HTTP request; raise
  :class:`~rewardforge.llm.retry.TransientError` for what is worth retrying and a
  :class:`~rewardforge.errors.ModelError` for what is not;
- ``_parse(raw) -> ParsedResponse``: raise :class:`~rewardforge.errors.ModelResponseError`
  for a malformed answer.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from rewardforge.errors import (
    CacheMissError,
    ConfigError,
    ModelError,
    ModelResponseError,
    ModelTruncatedError,
    ModelUnavailableError,
)
from rewardforge.llm.cache import ModelCache, request_hash, request_record
from rewardforge.llm.retry import RetryPolicy, call_with_retry
from rewardforge.llm.types import (
    Completion,
    CompletionList,
    Image,
    Message,
    ParsedResponse,
    RawResponse,
    SampleFailure,
    Usage,
)
from rewardforge.llm.usage import UsageMeter
from rewardforge.llm.waiting import waiting_notice

logger = logging.getLogger(__name__)

DEFAULT_TEMPERATURE = 1.0
DEFAULT_MAX_TOKENS = 2048
DEFAULT_CONCURRENCY = 4
#: Samples asked for in one request when the provider supports ``n``.
MAX_N_PER_REQUEST = 16
#: Rough prompt size, for the worst-case cost checked before a request is sent.
CHARS_PER_TOKEN = 4
TOKENS_PER_IMAGE = 1000

Outcome = Completion | SampleFailure


class NUnsupportedError(Exception):
    """Raised by a provider's ``_send`` when the server rejects ``n > 1``."""


class ChatModel:
    """A chat model of one provider. Subclasses set the capability flags and the two hooks."""

    #: Whether one request can return several samples (``n``).
    supports_n: ClassVar[bool] = False
    #: Whether messages may carry images.
    supports_images: ClassVar[bool] = False

    def __init__(
        self,
        model: str,
        *,
        provider: str,
        cache: ModelCache | None = None,
        meter: UsageMeter | None = None,
        retry: RetryPolicy | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        supports_n: bool | None = None,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
    ) -> None:
        if not model:
            raise ConfigError(f"provider {provider!r} needs a model name: --model {provider}/NAME")
        if concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, got {concurrency}")
        self.model = model
        self.provider = provider
        self.cache = cache
        self.meter = meter
        self.retry = retry or RetryPolicy()
        self.concurrency = concurrency
        self._use_n = self.supports_n if supports_n is None else supports_n
        self._sleep = sleep
        self._rng = random.Random(seed)
        self._n_lock = threading.Lock()
        if meter is not None:
            meter.require_price(model)

    @property
    def spec(self) -> str:
        return f"{self.provider}/{self.model}"

    @property
    def endpoint(self) -> str:
        """Where requests go, for messages (providers with a base URL say which)."""
        url = getattr(self, "base_url", None)
        return str(url) if url else f"{self.provider}'s default endpoint"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"

    # --- hooks ---------------------------------------------------------------------------
    def _send(
        self, messages: Sequence[Message], params: Mapping[str, Any], n: int, timeout_s: float
    ) -> RawResponse:
        raise NotImplementedError

    def _parse(self, raw: RawResponse) -> ParsedResponse:
        raise NotImplementedError

    # --- the public method -----------------------------------------------------------------
    def complete(
        self,
        messages: Sequence[Message],
        *,
        n: int = 1,
        temperature: float = DEFAULT_TEMPERATURE,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        images: Iterable[Image] = (),
        stop: Sequence[str] | None = None,
        sample_offset: int = 0,
    ) -> CompletionList:
        """Ask for ``n`` samples answering ``messages``; returns those that succeeded.

        Samples are numbered ``sample_offset .. sample_offset + n - 1``; the same request and
        index always give the same cached answer, so ask with a new offset for fresh samples.
        ``images`` are attached to the last user message. Failed samples are listed in the
        result's ``failures``; when none succeeded the first failure is raised.
        Authentication and bad-request errors raise at once; so does
        :class:`~rewardforge.errors.BudgetExceededError` when the run's budget is spent."""
        messages = self._prepare(messages, n, max_tokens, tuple(images))
        params: dict[str, Any] = {"temperature": float(temperature), "max_tokens": int(max_tokens)}
        if stop:
            params["stop"] = list(stop)
        record = request_record(self.provider, self.model, messages, params)
        key = request_hash(record)
        outcomes: dict[int, Outcome] = {}
        missing: list[int] = []
        for index in range(sample_offset, sample_offset + n):
            found = self.cache.lookup(key, index) if self.cache is not None else None
            if isinstance(found, Completion) and self.meter is not None:
                self.meter.record(found.model, found.usage, cached=True)
            if found is None:
                missing.append(index)
            else:
                outcomes[index] = found
        if missing and self.meter is not None:  # in replay too: it stops where the run did
            self.meter.check_affordable(self.model, *self._worst_case(messages, params, missing))
        if missing and self.cache is not None and self.cache.mode == "replay":
            for index in missing:
                outcomes[index] = SampleFailure(index, self._miss(key, index, messages))
        elif missing:
            deadline = time.monotonic() + self.retry.deadline_s
            outcomes.update(self._fetch(messages, params, key, record, missing, deadline))
        return self._collect(outcomes)

    # --- internals -----------------------------------------------------------------------
    def _worst_case(
        self, messages: Sequence[Message], params: Mapping[str, Any], missing: list[int]
    ) -> tuple[int, int]:
        """Prompt tokens (estimated: 4 characters a token, 1,000 an image) of the requests for
        ``missing`` samples, and the most completion tokens they may use."""
        chars = sum(len(m.content) for m in messages)
        images = sum(len(m.images) for m in messages)
        prompt = -(-chars // CHARS_PER_TOKEN) + TOKENS_PER_IMAGE * images
        requests = -(-len(missing) // MAX_N_PER_REQUEST) if self._use_n else len(missing)
        return prompt * requests, int(params["max_tokens"]) * len(missing)

    def _prepare(
        self, messages: Sequence[Message], n: int, max_tokens: int, images: tuple[Image, ...]
    ) -> list[Message]:
        messages = list(messages)
        if not messages:
            raise ConfigError("complete() needs at least one message")
        if n < 1:
            raise ConfigError(f"n must be at least 1, got {n}")
        if max_tokens < 1:
            raise ConfigError(f"max_tokens must be at least 1, got {max_tokens}")
        if images:
            last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
            if last_user is None:
                raise ConfigError("images need a user message to attach to")
            m = messages[last_user]
            messages[last_user] = Message(m.role, m.content, m.images + images)
        if not self.supports_images and any(m.images for m in messages):
            raise ConfigError(
                f"{self.spec} does not accept images; choose a vision model or provider"
            )
        return messages

    def _miss(self, key: str, index: int, messages: Sequence[Message]) -> CacheMissError:
        last = messages[-1].content.strip().replace("\n", " ")
        preview = last[:80] + ("..." if len(last) > 80 else "")
        return CacheMissError(
            f"replay: no cached answer for sample {index} of request {key[:16]} "
            f"({self.spec}, last message: {preview!r}); the cache holds only what the "
            "original run asked. Replay with the same settings, or use cache mode 'use'"
        )

    def _collect(self, outcomes: Mapping[int, Outcome]) -> CompletionList:
        ordered = [outcomes[i] for i in sorted(outcomes)]
        completions = [o for o in ordered if isinstance(o, Completion)]
        failures = [o for o in ordered if isinstance(o, SampleFailure)]
        for failure in failures:
            logger.warning(
                "%s sample %d failed: %s", self.spec, failure.sample_index, failure.error
            )
        if not completions and failures:
            raise failures[0].error
        return CompletionList(completions, failures)

    def _fetch(
        self,
        messages: Sequence[Message],
        params: Mapping[str, Any],
        key: str,
        record: Mapping[str, Any],
        indices: list[int],
        deadline: float,
    ) -> dict[int, Outcome]:
        outcomes: dict[int, Outcome] = {}

        def one(group: list[int]) -> dict[int, Outcome]:
            return self._request(messages, params, key, record, group, deadline)

        pending = list(indices)
        if self._use_n and len(pending) > 1:
            groups = [
                pending[i : i + MAX_N_PER_REQUEST]
                for i in range(0, len(pending), MAX_N_PER_REQUEST)
            ]
            pending = []
            for group, result in zip(groups, self._run_all(one, groups), strict=False):
                if isinstance(result, NUnsupportedError):
                    self._disable_n(f"the server rejected n={len(group)} ({result})")
                    pending.extend(group)
                    continue
                outcomes.update(result)
                short = [i for i in group if i not in result]
                if short:
                    self._disable_n(
                        f"asked for {len(group)} samples, got {len(group) - len(short)}"
                    )
                    pending.extend(short)
        if pending:
            for result in self._run_all(one, [[i] for i in pending]):
                if isinstance(result, NUnsupportedError):  # cannot happen with n=1
                    raise ModelResponseError(f"{self.spec} rejected a request for one sample")
                outcomes.update(result)
            for index in pending:
                if index not in outcomes:
                    outcomes[index] = SampleFailure(
                        index,
                        ModelResponseError(f"{self.spec} returned no answer for sample {index}"),
                    )
        return outcomes

    def _disable_n(self, why: str) -> None:
        with self._n_lock:
            if self._use_n:
                logger.info(
                    "%s: %s; asking for samples one request each from now on", self.spec, why
                )
            self._use_n = False

    def _run_all(
        self, fn: Callable[[list[int]], dict[int, Outcome]], groups: list[list[int]]
    ) -> list[dict[int, Outcome] | NUnsupportedError]:
        """Run ``fn`` over groups with at most ``concurrency`` at once. Samples whose retries
        ran out become failures; other errors (auth, bad request, budget) propagate."""

        def guarded(group: list[int]) -> dict[int, Outcome] | NUnsupportedError:
            try:
                return fn(group)
            except NUnsupportedError as exc:
                return exc
            except ModelUnavailableError as exc:
                return {i: SampleFailure(i, exc) for i in group}

        if len(groups) == 1 or self.concurrency == 1:
            return [guarded(g) for g in groups]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(groups))) as pool:
            futures = [pool.submit(guarded, g) for g in groups]
            try:
                return [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                raise

    def _request(
        self,
        messages: Sequence[Message],
        params: Mapping[str, Any],
        key: str,
        record: Mapping[str, Any],
        indices: list[int],
        deadline: float,
    ) -> dict[int, Outcome]:
        """One request for ``len(indices)`` samples: send, store raw, parse, store samples."""
        if self.meter is not None:
            self.meter.check()
        n = len(indices)

        def send(timeout_s: float) -> RawResponse:
            with waiting_notice(self.spec, self.endpoint, timeout_s):
                return self._send(messages, params, n, timeout_s)

        raw = call_with_retry(
            send,
            self.retry,
            describe=f"request to {self.spec}",
            deadline=deadline,
            sleep=self._sleep,
            rng=self._rng,
        )
        response_id = self.cache.store_raw(key, record, raw) if self.cache is not None else None
        try:
            parsed = self._parse(raw)
            if not parsed.choices:
                raise ModelResponseError(
                    f"{self.spec} answered with no choices (request id {raw.request_id}); "
                    "the raw answer is kept in the model cache",
                    request_id=raw.request_id,
                )
        except ModelResponseError as exc:
            failed: dict[int, Outcome] = {i: SampleFailure(i, exc) for i in indices}
            self._store(key, response_id, failed.values())
            return failed
        if self.meter is not None:
            self.meter.record(parsed.model or self.model, parsed.usage)
        logger.info(
            "%s: %d sample(s) in %.2fs, %d+%d tokens",
            self.spec, len(parsed.choices), raw.latency_s,
            parsed.usage.prompt_tokens, parsed.usage.completion_tokens,
        )  # fmt: skip
        shares = _split_usage(parsed.usage, min(len(parsed.choices), n))
        outcomes: dict[int, Outcome] = {}
        for index, choice, share in zip(indices, parsed.choices, shares, strict=False):
            outcomes[index] = self._outcome(
                index, choice.text, choice.finish_reason, parsed, raw, share, params
            )
        self._store(key, response_id, outcomes.values())
        return outcomes

    def _outcome(
        self,
        index: int,
        text: str | None,
        finish_reason: str,
        parsed: ParsedResponse,
        raw: RawResponse,
        usage: Usage,
        params: Mapping[str, Any],
    ) -> Outcome:
        rid = parsed.request_id or raw.request_id
        if finish_reason == "length":
            return SampleFailure(
                index,
                ModelTruncatedError(
                    f"{self.spec} stopped sample {index} at the token limit "
                    f"(max_tokens={params.get('max_tokens')}); the answer is cut off. Raise "
                    "max_tokens or ask for shorter code",
                    text=text or "",
                    request_id=rid,
                ),
            )
        if not text or not text.strip():
            return SampleFailure(
                index,
                ModelResponseError(
                    f"{self.spec} returned an empty answer for sample {index} "
                    f"(finish reason {finish_reason!r})",
                    request_id=rid,
                ),
            )
        return Completion(
            text=text,
            finish_reason=finish_reason,
            model=parsed.model or self.model,
            usage=usage,
            latency_s=raw.latency_s,
            sample_index=index,
            request_id=rid,
        )

    def _store(self, key: str, response_id: int | None, outcomes: Iterable[Outcome]) -> None:
        if self.cache is None:
            return
        for outcome in outcomes:
            self.cache.store_sample(key, response_id, outcome)


def _split_usage(usage: Usage, count: int) -> list[Usage]:
    """Split one request's tokens over its ``count`` samples (remainders to the first)."""
    if count <= 1:
        return [usage]
    p, pr = divmod(usage.prompt_tokens, count)
    c, cr = divmod(usage.completion_tokens, count)
    return [Usage(p + (pr if i == 0 else 0), c + (cr if i == 0 else 0)) for i in range(count)]


__all__ = ["ChatModel", "ModelError", "NUnsupportedError"]
