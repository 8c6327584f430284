"""The LLM designer (Eureka-style): a chat model writes the reward code.

Iteration 0 asks for ``k`` samples of the task prompt (description, variables, success rule,
reward contract, optionally the environment's source). Later iterations continue the
conversation from the best candidate so far: its code as the assistant's answer, then its
reflection (what training showed) as the next request. A person's feedback joins or replaces
that reflection. A candidate that fails its checks is sent back with the error text
(``repair``), and ``success_criterion`` asks the model for an ``is_success`` function (ARCHIE).

All ``k`` samples come from one ``complete(n=k)`` call. Sample numbers start at
``rng_seed * 1000 + iteration * k``, so a resumed run gets its cached answers back, another
run seed gets fresh ones, and an iteration whose best candidate did not change still gets new
samples."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rewardforge.designers.base import CandidateResult, DesignContext, Proposal
from rewardforge.errors import RewardExtractionError, RewardRejectedError
from rewardforge.llm.base import ChatModel
from rewardforge.llm.cache import request_hash, request_record
from rewardforge.llm.prompts import (
    code_rules,
    env_source_context,
    execution_error_prompt,
    reflection_prompt,
    success_criterion_prompt,
    system_prompt,
    task_prompt,
)
from rewardforge.llm.types import Completion, CompletionList, Message, assistant, system, user
from rewardforge.llm.usage import DEFAULT_PRICES, find_price
from rewardforge.rewards.extract import extract_code
from rewardforge.rewards.lint import lint_reward
from rewardforge.tasks.spec import Task

logger = logging.getLogger(__name__)

#: Sample numbers reserved per run seed (see the module docstring).
SAMPLES_PER_SEED = 1000
#: Heading of a person's feedback in the prompt.
HUMAN_FEEDBACK_HEADING = "Feedback from a person watching the policies:"
#: Characters of a rejected answer quoted in the error.
ANSWER_PREVIEW_CHARS = 200


@dataclass(frozen=True)
class ModelCall:
    """One sample a designer obtained from a model: what it cost and why it was asked for.

    ``cost_usd`` prices the sample's tokens with the model's meter (or the default price
    table); it is 0.0 when no price is known. Cached samples carry the cost of the call that
    first produced them (``cached`` says so), as the usage meter counts them."""

    request_hash: str
    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_s: float
    cached: bool
    purpose: str
    sample_index: int = 0


class LLMDesigner:
    """Proposes reward programs written by a chat model; see the module docstring.

    ``env_source`` adds the environment's class source to the task prompt; ``on_call`` is
    called with a :class:`ModelCall` for every sample obtained."""

    name = "llm"

    def __init__(
        self,
        task: Task,
        model: ChatModel,
        *,
        temperature: float = 1.0,
        max_tokens: int = 2048,
        env_source: bool = True,
        on_call: Callable[[ModelCall], None] | None = None,
    ) -> None:
        self.task = task
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.env_source = env_source
        self.on_call = on_call

    # -- proposals ----------------------------------------------------------------------
    def propose(self, k: int, context: DesignContext) -> list[Proposal]:
        """``k`` answers from one request; a sample that failed is a proposal with empty code
        and ``meta["model_error"]``. Raises the model's error when every sample failed."""
        messages = self.messages(context)
        offset = context.rng_seed * SAMPLES_PER_SEED + context.iteration * k
        answers = self._complete(messages, k, offset, "propose")
        parent = context.best.candidate_id if context.best is not None else None
        stored = _to_dicts(messages)
        proposals: list[tuple[int, Proposal]] = []
        for c in answers:
            meta = {**_sample_meta(c), "attempt": 0, "messages": stored}
            proposal = Proposal(c.text, self.name, parent, meta=meta)
            proposals.append((c.sample_index, proposal))
        for f in answers.failures:
            meta = {
                "model_error": str(f.error),
                "error_type": type(f.error).__name__,
                "sample_index": f.sample_index,
                "attempt": 0,
            }
            proposals.append((f.sample_index, Proposal("", self.name, parent, meta=meta)))
        logger.info(
            "llm designer: %d of %d samples answered for iteration %d",
            len(answers), k, context.iteration,
        )  # fmt: skip
        return [p for _, p in sorted(proposals, key=lambda item: item[0])]

    def messages(self, context: DesignContext) -> list[Message]:
        """The conversation ``propose`` sends for ``context``."""
        source = env_source_context(self.task) if self.env_source else None
        out = [system(system_prompt()), user(task_prompt(self.task, source))]
        human = context.human_feedback.strip()
        if context.best is None:
            if human:
                out[-1] = user(f"{out[-1].content}\n{HUMAN_FEEDBACK_HEADING}\n{human}\n")
            return out
        out.append(assistant(context.best.code))
        if human and context.human_feedback_mode == "replace":
            text = (
                f"We trained a policy with the reward function above.\n\n"
                f"{HUMAN_FEEDBACK_HEADING}\n{human}\n\n"
                "Please carefully analyze this feedback and write an improved reward "
                f"function.\n\n{code_rules()}"
            )
        else:
            text = _reflection(context.best)
            if human:
                text = f"{text}\n{HUMAN_FEEDBACK_HEADING}\n{human}\n"
        out.append(user(text))
        return out

    def repair(self, proposal: Proposal, error: str, context: DesignContext) -> Proposal | None:
        """The model's corrected answer, given its failed answer and the error text; None
        for a proposal that holds no answer (a failed sample)."""
        answer = proposal.code
        if not answer.strip():
            logger.info("llm designer: nothing to repair (the sample failed: %s)", error)
            return None
        stored = proposal.meta.get("messages")
        base = _from_dicts(stored) if stored else self.messages(context)
        messages = [*base, assistant(answer), user(execution_error_prompt(error))]
        attempt = int(proposal.meta.get("attempt", 0)) + 1
        offset = context.rng_seed * SAMPLES_PER_SEED + attempt
        [c] = self._complete(messages, 1, offset, "repair")
        meta = {**_sample_meta(c), "attempt": attempt, "messages": _to_dicts(messages)}
        return Proposal(c.text, self.name, proposal.parent_id, notes="repair", meta=meta)

    # -- success criterion (ARCHIE) -----------------------------------------------------
    def success_criterion(self, context: DesignContext) -> str:
        """Source of a model-written ``is_success(<variables>)``; raises
        ``RewardExtractionError`` or ``RewardRejectedError`` quoting the answer when it
        holds no valid one."""
        messages = [user(success_criterion_prompt(self.task))]
        offset = context.rng_seed * SAMPLES_PER_SEED
        [c] = self._complete(messages, 1, offset, "success")
        return parse_success_criterion(c.text, self.task.variable_names)

    # -- the model ------------------------------------------------------------------------
    def _complete(
        self, messages: Sequence[Message], n: int, offset: int, purpose: str
    ) -> CompletionList:
        answers = self.model.complete(
            messages,
            n=n,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            sample_offset=offset,
        )
        if self.on_call is not None:
            params = {"temperature": float(self.temperature), "max_tokens": int(self.max_tokens)}
            key = request_hash(
                request_record(self.model.provider, self.model.model, messages, params)
            )
            for c in answers:
                self.on_call(self._call(key, c, purpose))
        return answers

    def _call(self, key: str, c: Completion, purpose: str) -> ModelCall:
        meter = getattr(self.model, "meter", None)
        price = find_price(c.model, meter.prices if meter is not None else DEFAULT_PRICES)
        return ModelCall(
            request_hash=key,
            provider=self.model.provider,
            model=c.model,
            prompt_tokens=c.usage.prompt_tokens,
            completion_tokens=c.usage.completion_tokens,
            cost_usd=price.cost(c.usage) if price is not None else 0.0,
            latency_s=c.latency_s,
            cached=c.cached,
            purpose=purpose,
            sample_index=c.sample_index,
        )


# -- success criteria -----------------------------------------------------------------------
_ENTRY_NAMES = re.compile(r"\b(is_success|compute_reward)\b")


def _swap_entry(text: str) -> str:
    """Exchange the names ``is_success`` and ``compute_reward``. The reward tools (extraction,
    lint) know one entry point, ``compute_reward``; swapping lets them handle ``is_success``
    code, and swapping again gives the original names back (in code and in messages)."""
    return _ENTRY_NAMES.sub(
        lambda m: "compute_reward" if m.group(1) == "is_success" else "is_success", text
    )


def _preview(answer: str) -> str:
    start = " ".join(answer.strip().split())[:ANSWER_PREVIEW_CHARS]
    return f"The answer starts: {start!r}" if start else "The answer is empty."


def parse_success_criterion(answer: str, variable_names: Sequence[str]) -> str:
    """The ``is_success`` source in a model's answer, checked like reward code: one
    ``is_success`` whose parameters are task variables, numpy/math imports only."""
    try:
        source = _swap_entry(extract_code(_swap_entry(answer)))
    except RewardExtractionError:
        raise RewardExtractionError(
            "success criterion: no function named is_success was found in the model's answer; "
            "it must define `def is_success(<variables>):` in a ```python block. "
            + _preview(answer)
        ) from None
    try:
        linted = lint_reward(_swap_entry(source), variable_names)
    except RewardRejectedError as exc:
        problems = _swap_entry(str(exc)).removeprefix("reward code rejected:").strip("\n")
        raise RewardRejectedError(
            f"success criterion rejected:\n{problems}\n{_preview(answer)}"
        ) from None
    if not linted.params:
        raise RewardRejectedError(
            "success criterion rejected: is_success takes no variables, so it cannot tell "
            f"states apart; it must read some of: {', '.join(variable_names)}. {_preview(answer)}"
        )
    return source


# -- helpers ------------------------------------------------------------------------------
def _reflection(best: CandidateResult) -> str:
    """The reflection request for ``best``: its feedback text, or one built from its data."""
    if best.feedback.strip():
        return reflection_prompt(best.feedback)
    comps: dict[str, Sequence[float] | float] = {}
    for name, series in (best.reflection or {}).get("components", {}).items():
        comps[name] = series.get("mean", []) if isinstance(series, Mapping) else series
    rates = (best.reflection or {}).get("success_rate")
    if not comps:
        return reflection_prompt(
            "No statistics about the reward components were recorded during training.",
            rates or best.success_rate,
        )
    return reflection_prompt(comps, rates or best.success_rate)


def _sample_meta(c: Completion) -> dict[str, Any]:
    return {"sample_index": c.sample_index, "finish_reason": c.finish_reason, "cached": c.cached}


def _to_dicts(messages: Sequence[Message]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def _from_dicts(items: Sequence[Mapping[str, str]]) -> list[Message]:
    return [Message(m["role"], m["content"]) for m in items]  # type: ignore[arg-type]
