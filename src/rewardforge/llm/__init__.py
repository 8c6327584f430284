"""The model layer: any chat model provider, parallel samples, faults survived, every
answer cached and replayable.

Start at :func:`get_model` (``"provider/name"`` -> :class:`ChatModel`) and
:meth:`ChatModel.complete`; :class:`ModelCache` keeps every answer, :class:`UsageMeter`
counts tokens and cost and enforces budgets, :mod:`rewardforge.llm.prompts` builds the
designer's prompts, and :mod:`rewardforge.llm.testing` holds a scripted model server."""

from rewardforge.llm.base import ChatModel
from rewardforge.llm.cache import CACHE_MODES, ModelCache, request_hash, request_record
from rewardforge.llm.providers import (
    ProviderSpec,
    ProviderStatus,
    default_model_spec,
    get_model,
    get_provider,
    list_providers,
    parse_model_spec,
    provider_status,
    register_provider,
)
from rewardforge.llm.redact import RedactingFilter, redact, register_secret
from rewardforge.llm.retry import RetryPolicy
from rewardforge.llm.types import (
    Completion,
    CompletionList,
    Image,
    Message,
    SampleFailure,
    Usage,
    assistant,
    system,
    user,
)
from rewardforge.llm.usage import DEFAULT_PRICES, Price, UsageMeter, UsageTotals

__all__ = [
    "CACHE_MODES",
    "DEFAULT_PRICES",
    "ChatModel",
    "Completion",
    "CompletionList",
    "Image",
    "Message",
    "ModelCache",
    "Price",
    "ProviderSpec",
    "ProviderStatus",
    "RedactingFilter",
    "RetryPolicy",
    "SampleFailure",
    "Usage",
    "UsageMeter",
    "UsageTotals",
    "assistant",
    "default_model_spec",
    "get_model",
    "get_provider",
    "list_providers",
    "parse_model_spec",
    "provider_status",
    "redact",
    "register_provider",
    "register_secret",
    "request_hash",
    "request_record",
    "system",
    "user",
]
