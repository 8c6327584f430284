"""Tokens and cost per call and per run, and the budgets that end a search cleanly.

Prices are US dollars per million tokens (prompt, completion). The table below holds a few
well-known models as a convenience; pass ``prices=`` for others or to correct these."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from rewardforge.errors import BudgetExceededError, ConfigError
from rewardforge.llm.types import Usage

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Price:
    """US dollars per million prompt and completion tokens."""

    prompt_per_mtok: float
    completion_per_mtok: float

    def cost(self, usage: Usage) -> float:
        return (
            usage.prompt_tokens * self.prompt_per_mtok
            + usage.completion_tokens * self.completion_per_mtok
        ) / 1e6


#: A starting point; prices change, so a run's config may override any entry.
DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o": Price(2.5, 10.0),
    "gpt-4o-mini": Price(0.15, 0.6),
    "gpt-4.1": Price(2.0, 8.0),
    "gpt-4.1-mini": Price(0.4, 1.6),
    "gpt-4-turbo": Price(10.0, 30.0),
    "gpt-4": Price(30.0, 60.0),
    "claude-sonnet-4-5": Price(3.0, 15.0),
    "claude-3-5-haiku-latest": Price(0.8, 4.0),
    "gemini-2.0-flash": Price(0.1, 0.4),
}


def find_price(model: str, prices: Mapping[str, Price]) -> Price | None:
    """The price of ``model``, also found under its bare name (``openrouter/openai/gpt-4o``)."""
    if model in prices:
        return prices[model]
    bare = model.rsplit("/", 1)[-1]
    return prices.get(bare)


@dataclass(frozen=True)
class UsageTotals:
    calls: int
    cached_samples: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class UsageMeter:
    """Counts the tokens (and cost) of a run and enforces its budgets; thread-safe.

    Cached answers count too, so a replayed run spends exactly what the original spent and
    stops at the same point. ``check()`` raises :class:`BudgetExceededError` once a budget is
    spent; the search catches it and ends with what it has."""

    def __init__(
        self,
        *,
        max_tokens: int | None = None,
        max_cost_usd: float | None = None,
        prices: Mapping[str, Price | tuple[float, float]] | None = None,
    ) -> None:
        if max_tokens is not None and max_tokens <= 0:
            raise ConfigError(f"max_tokens budget must be positive, got {max_tokens}")
        if max_cost_usd is not None and max_cost_usd <= 0:
            raise ConfigError(f"max_cost budget must be positive, got {max_cost_usd}")
        self.max_tokens = max_tokens
        self.max_cost_usd = max_cost_usd
        table: dict[str, Price] = dict(DEFAULT_PRICES)
        for name, price in (prices or {}).items():
            table[name] = price if isinstance(price, Price) else Price(*price)
        self.prices = table
        self._lock = threading.Lock()
        self._calls = 0
        self._cached = 0
        self._usage = Usage()
        self._cost = 0.0
        self._cost_known = True

    def require_price(self, model: str) -> None:
        """A cost budget needs a price for ``model``: fail early, saying how to give one."""
        if self.max_cost_usd is not None and find_price(model, self.prices) is None:
            raise ConfigError(
                f"--max-cost needs a price for model {model!r}, and none is known. Add one "
                f"with prices={{{model!r}: (usd_per_million_prompt, usd_per_million_completion)}}"
                " or use --max-tokens instead"
            )

    def cost_of(self, model: str, usage: Usage) -> float | None:
        price = find_price(model, self.prices)
        return price.cost(usage) if price is not None else None

    def record(self, model: str, usage: Usage, *, cached: bool = False, samples: int = 1) -> None:
        cost = self.cost_of(model, usage)
        with self._lock:
            if cached:
                self._cached += samples
            else:
                self._calls += 1
            self._usage = self._usage + usage
            if cost is None:
                self._cost_known = False
            else:
                self._cost += cost

    def totals(self) -> UsageTotals:
        with self._lock:
            return UsageTotals(
                calls=self._calls,
                cached_samples=self._cached,
                prompt_tokens=self._usage.prompt_tokens,
                completion_tokens=self._usage.completion_tokens,
                cost_usd=self._cost if self._cost_known else None,
            )

    def exceeded(self) -> str | None:
        """Why the budget is spent, or None while it is not."""
        totals = self.totals()
        if self.max_tokens is not None and totals.total_tokens >= self.max_tokens:
            return f"token budget spent: {totals.total_tokens} of {self.max_tokens} tokens used"
        if self.max_cost_usd is not None and self._cost >= self.max_cost_usd:
            return f"cost budget spent: ${self._cost:.4f} of ${self.max_cost_usd:.4f} used"
        return None

    def check_affordable(self, model: str, prompt_tokens: int, completion_tokens: int) -> None:
        """Before sending: raise :class:`BudgetExceededError` when a request that may use
        ``prompt_tokens`` (an estimate) and up to ``completion_tokens`` could cost more than
        what is left of the cost budget, so the budget is never overspent."""
        price = find_price(model, self.prices)
        if self.max_cost_usd is None or price is None:
            return
        worst = price.cost(Usage(prompt_tokens, completion_tokens))
        with self._lock:
            left = self.max_cost_usd - self._cost
        if worst > left:
            raise BudgetExceededError(
                f"cost budget: the next request to {model} could cost up to ${worst:.6f} (about "
                f"{prompt_tokens} prompt tokens and at most {completion_tokens} completion "
                f"tokens), more than the ${max(left, 0.0):.6f} left of ${self.max_cost_usd:g}; "
                "it was not sent, and the search ends with the candidates it has. Raise "
                "--max-cost to continue"
            )

    def check(self) -> None:
        reason = self.exceeded()
        if reason is not None:
            raise BudgetExceededError(
                f"{reason}; the search ends with the candidates it has. Raise --max-tokens or "
                "--max-cost to continue"
            )
