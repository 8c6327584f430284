"""Teachers: who says which of two states is closer to the goal.

A teacher labels a :class:`PairBatch` with one number per pair: ``0.0`` when the first state is
better, ``1.0`` when the second is, ``0.5`` when they are equally good, and ``NaN`` when there
is no label (skipped, "cannot tell", or the model failed); the reward model drops NaN labels.

- :class:`ScriptedTeacher` answers from the task itself (its score, its success criterion or
  the environment's reward), with B-Pref's knobs for imperfect teachers (Lee et al., 2021):
  rational or stochastic (``beta``), mistakes, skipping pairs where both states are bad, and
  calling close pairs equal. It is the default when no model is configured.
- :class:`VLMTeacher` asks a vision-language model in two stages, as RL-VLM-F does (Wang et
  al., ICML 2024): first "describe both images against the goal", then, with that analysis in
  the conversation, "which is better: 0, 1, or -1 for cannot tell". Its answers are kept in a
  :class:`LabelCache` (SQLite, keyed by both frames' hashes, the prompt and the model), so a
  run can be replayed from its labels with no model at all.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from rewardforge.errors import ConfigError
from rewardforge.tasks.spec import Task
from rewardforge.tasks.vecenv import ENV_REWARD_KEY, SUCCESS_KEY

logger = logging.getLogger(__name__)

Utility = Literal["auto", "env", "success", "score"]
UTILITIES: tuple[str, ...] = ("auto", "env", "success", "score")

FIRST, SECOND, EQUAL = 0.0, 1.0, 0.5


@dataclass(frozen=True)
class PairBatch:
    """``B`` pairs of states: each side's variables ``(B, ...)`` and, for vision teachers, frames
    ``(B, H, W, 3)`` uint8."""

    first: Mapping[str, np.ndarray]
    second: Mapping[str, np.ndarray]
    first_frames: np.ndarray | None = None
    second_frames: np.ndarray | None = None

    def __len__(self) -> int:
        return len(next(iter(self.first.values()))) if self.first else 0


class Teacher(Protocol):
    """Labels pairs of states; ``needs_frames`` says whether it looks at pictures."""

    name: str
    needs_frames: bool

    def label(self, pairs: PairBatch) -> np.ndarray: ...


@dataclass(frozen=True)
class TeacherKnobs:
    """B-Pref's simulated-teacher knobs, for single states rather than segments.

    The thresholds are fractions of the range of utilities the teacher has seen so far (B-Pref
    scales them by the largest segment return; a range also works for negative rewards)."""

    beta: float | None = None
    """None: rational (the better state always wins); else P(second) = sigmoid(beta * (u2 - u1))"""
    mistake: float = 0.0
    """probability that a label is flipped"""
    skip: float = 0.0
    """skip a pair when both utilities are below min + skip * range"""
    equal: float = 0.0
    """label a pair equal (0.5) when its utilities differ by less than equal * range"""

    def __post_init__(self) -> None:
        for name in ("mistake", "skip", "equal"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"teacher knob {name} must lie in [0, 1], got {value}")
        if self.beta is not None and self.beta <= 0:
            raise ConfigError(f"teacher beta must be positive (or None: rational), got {self.beta}")


@dataclass
class ScriptedTeacher:
    """Labels pairs by a utility computed from the task: a stand-in for a person or a VLM.

    ``utility``: ``score`` (the task's per-step score code), ``success`` (its success criterion:
    1 or 0), ``env`` (the environment's own reward), or ``auto``: the score when the task has
    one, else the environment's reward (B-Pref and PEBBLE's scripted teacher)."""

    task: Task
    utility: Utility = "auto"
    knobs: TeacherKnobs = field(default_factory=TeacherKnobs)
    seed: int = 0
    name: str = "scripted"
    needs_frames: bool = False

    def __post_init__(self) -> None:
        if self.utility not in UTILITIES:
            raise ConfigError(
                f"teacher utility must be one of {', '.join(UTILITIES)}, got {self.utility!r}"
            )
        if self.utility == "auto":
            self.utility = "score" if self.task.fitness.score is not None else "env"
        self._score = None
        if self.utility == "score":
            from rewardforge.tasks.success import ScoreProgram

            self._score = ScoreProgram.from_task(self.task)
            if self._score is None:
                raise ConfigError(
                    f"task {self.task.id} has no score code; use teacher utility env or success"
                )
        self._rng = np.random.default_rng(self.seed)
        self._low = np.inf
        self._high = -np.inf

    def utilities(self, variables: Mapping[str, np.ndarray]) -> np.ndarray:
        """The utility of each state, ``(B,)``."""
        if self.utility == "env":
            return np.asarray(variables[ENV_REWARD_KEY], dtype=np.float64)
        if self.utility == "success":
            return np.asarray(variables[SUCCESS_KEY], dtype=np.float64)
        assert self._score is not None
        return self._score(variables)

    def label(self, pairs: PairBatch) -> np.ndarray:
        u1, u2 = self.utilities(pairs.first), self.utilities(pairs.second)
        self._low = min(
            self._low, float(np.min(u1, initial=np.inf)), float(np.min(u2, initial=np.inf))
        )
        self._high = max(
            self._high, float(np.max(u1, initial=-np.inf)), float(np.max(u2, initial=-np.inf))
        )
        span = max(self._high - self._low, 1e-12)
        k = self.knobs
        if k.beta is None:
            labels = np.where(u2 > u1, SECOND, np.where(u2 < u1, FIRST, EQUAL))
        else:
            p_second = 1.0 / (1.0 + np.exp(-np.clip(k.beta * (u2 - u1), -50, 50)))
            labels = (self._rng.random(len(u1)) < p_second).astype(np.float64)
        if k.mistake > 0:
            flip = self._rng.random(len(u1)) < k.mistake
            labels = np.where(flip, 1.0 - labels, labels)
        if k.equal > 0:
            labels = np.where(np.abs(u2 - u1) < k.equal * span, EQUAL, labels)
        if k.skip > 0:
            labels = np.where(np.maximum(u1, u2) < self._low + k.skip * span, np.nan, labels)
        return labels.astype(np.float64)


def count_labels(labels: np.ndarray) -> dict[str, int]:
    """How many pairs went each way: first, second, equal, none (skipped or cannot tell)."""
    labels = np.asarray(labels, dtype=np.float64)
    return {
        "first": int(np.sum(labels == FIRST)),
        "second": int(np.sum(labels == SECOND)),
        "equal": int(np.sum(labels == EQUAL)),
        "none": int(np.sum(np.isnan(labels))),
    }


# --- the label cache -----------------------------------------------------------------------------
LabelCacheMode = Literal["use", "replay", "off"]
LABEL_CACHE_MODES: tuple[str, ...] = ("use", "replay", "off")

_LABEL_SCHEMA = """
CREATE TABLE IF NOT EXISTS labels (
    key TEXT PRIMARY KEY,
    label REAL,
    analysis TEXT NOT NULL,
    answer TEXT NOT NULL,
    model TEXT NOT NULL,
    first_sha256 TEXT NOT NULL,
    second_sha256 TEXT NOT NULL,
    created_at REAL NOT NULL
)
"""


@dataclass(frozen=True)
class Judgement:
    """One comparison: the label (0, 1 or NaN), both stages' answers, and whether it was cached."""

    label: float
    analysis: str
    answer: str
    cached: bool = False


def label_key(first_sha256: str, second_sha256: str, prompt: str, model: str) -> str:
    """The cache key of a comparison: both frames, the prompts and the model."""
    import hashlib
    import json

    text = json.dumps([first_sha256, second_sha256, prompt, model], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class LabelCache:
    """SQLite (WAL) store of VLM comparisons. Modes as the model cache's: ``use`` reads and
    writes, ``replay`` only reads (a miss is an error: the run asked something new), ``off``."""

    def __init__(self, path: str | os.PathLike[str], mode: str = "use") -> None:
        if mode not in LABEL_CACHE_MODES:
            raise ConfigError(
                f"label cache mode must be one of {', '.join(LABEL_CACHE_MODES)}, got {mode!r}"
            )
        self.path, self.mode = Path(path), mode
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        if mode == "replay" and not self.path.exists():
            raise ConfigError(
                f"replaying labels needs a label cache, but {self.path} does not exist; point to "
                "the workspace of the run to replay, or use cache mode 'use'"
            )
        if mode != "off":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute(_LABEL_SCHEMA)
            self._conn = conn

    def lookup(self, key: str) -> Judgement | None:
        if self._conn is None:
            return None
        with self._lock:
            row = self._conn.execute(
                "SELECT label, analysis, answer FROM labels WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        label = float("nan") if row[0] is None else float(row[0])
        return Judgement(label, row[1], row[2], cached=True)

    def store(
        self, key: str, judgement: Judgement, model: str, first_sha256: str, second_sha256: str
    ) -> None:
        if self._conn is None or self.mode != "use":
            return
        label = None if np.isnan(judgement.label) else float(judgement.label)
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO labels VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key, label, judgement.analysis, judgement.answer, model, first_sha256,
                 second_sha256, time.time()),
            )  # fmt: skip

    def count(self) -> int:
        if self._conn is None:
            return 0
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM labels").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


# --- the VLM teacher -----------------------------------------------------------------------------
ANALYSIS_PROMPT = """Consider the following two images. Image 1 is the first image attached and \
Image 2 is the second.
1. What is shown in Image 1?
2. What is shown in Image 2?
3. The goal is: {goal}
Is there any difference between Image 1 and Image 2 in terms of achieving the goal?"""

LABEL_PROMPT = """Based on your answer above, is the goal better achieved in Image 1 or Image 2?
Reply with a single line holding only a number: 0 if the goal is better achieved in Image 1, \
1 if it is better achieved in Image 2, or -1 if you cannot tell (your analysis is unsure or \
there is no difference)."""

_NUMBER = re.compile(r"^[\s*_`'\"(\[]*(-1|0|1)[\s*_`'\".)\]]*$")
_STATED = re.compile(r"\b(?:answer|reply|label)\b\W{0,3}(?:is\W{0,3})?(-1|0|1)(?!\w|\.\d)", re.I)
_UNSURE = ("cannot tell", "can't tell", "unsure", "no difference", "not sure")


def parse_answer(text: str) -> float:
    """The label in a stage-2 answer: 0.0, 1.0, or NaN for -1, "cannot tell" or no answer."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    found: str | None = None
    for line in [text.strip(), *reversed(lines)]:
        match = _NUMBER.match(line)
        if match:
            found = match.group(1)
            break
    if found is None:
        stated = _STATED.findall(text)
        found = stated[-1] if stated else None
    if found in ("0", "1"):
        return float(found)
    if found is None and not any(p in text.lower() for p in _UNSURE):
        logger.info("no label in the VLM's answer %r; counted as cannot tell", text[:120])
    return float("nan")


class VLMTeacher:
    """Labels pairs of frames by asking a vision-language model in two stages (RL-VLM-F).

    ``model`` is any :class:`~rewardforge.llm.ChatModel` that accepts images, or None to answer
    only from ``cache`` (replay; ``model_spec`` then names the model the labels came from).
    A comparison whose requests keep failing after the model's retries (server errors,
    timeouts, malformed answers) gets no label and the run goes on; authentication errors and
    a spent budget stop it."""

    needs_frames = True

    def __init__(
        self,
        model: Any,
        goal: str,
        *,
        cache: LabelCache | None = None,
        model_spec: str | None = None,
        temperature: float = 0.0,
        max_tokens: int = 1024,
        concurrency: int = 4,
        on_call: Callable[[Any], None] | None = None,
        name: str = "vlm",
    ) -> None:
        if model is None and (cache is None or model_spec is None):
            raise ConfigError(
                "a VLM teacher without a model answers from its label cache only: give both "
                "cache= and model_spec= (or a model)"
            )
        if model is not None and not getattr(model, "supports_images", False):
            raise ConfigError(f"{model.spec} does not accept images; choose a vision model")
        self.model, self.goal, self.cache = model, goal, cache
        self.model_spec = model_spec or model.spec
        self.temperature, self.max_tokens = temperature, max_tokens
        self.concurrency, self.on_call, self.name = max(1, concurrency), on_call, name
        self.prompt = ANALYSIS_PROMPT.format(goal=goal) + "\n---\n" + LABEL_PROMPT
        self.failures = 0
        self.requests = 0

    def label(self, pairs: PairBatch) -> np.ndarray:
        if pairs.first_frames is None or pairs.second_frames is None:
            raise ConfigError("the VLM teacher compares frames; the pairs carry none")
        from rewardforge.preference.render import png_bytes

        items = [
            (png_bytes(a), png_bytes(b))
            for a, b in zip(pairs.first_frames, pairs.second_frames, strict=True)
        ]
        if self.concurrency == 1 or len(items) < 2:
            judged = [self.compare(a, b) for a, b in items]
        else:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(items))) as pool:
                judged = list(pool.map(lambda ab: self.compare(*ab), items))
        return np.array([j.label for j in judged], dtype=np.float64)

    def compare(self, first_png: bytes, second_png: bytes) -> Judgement:
        """Which of two PNG frames is closer to the goal (cached by frames, prompt and model)."""
        from rewardforge.llm.types import Image

        a, b = Image(first_png), Image(second_png)
        key = label_key(a.sha256, b.sha256, self.prompt, self.model_spec)
        found = self.cache.lookup(key) if self.cache is not None else None
        if found is not None:
            return found
        if self.model is None or (self.cache is not None and self.cache.mode == "replay"):
            from rewardforge.errors import CacheMissError

            raise CacheMissError(
                f"replay: no cached label for frames {a.sha256[:12]} vs {b.sha256[:12]} "
                f"({self.model_spec}); the label cache holds only what the original run asked. "
                "Replay with the same task, seed and settings, or use cache mode 'use'"
            )
        judgement = self._ask(a, b)
        if judgement is not None and self.cache is not None:
            self.cache.store(key, judgement, self.model_spec, a.sha256, b.sha256)
        return judgement or Judgement(float("nan"), "", "", cached=False)

    def _ask(self, a: Any, b: Any) -> Judgement | None:
        from rewardforge.errors import ModelResponseError, ModelUnavailableError
        from rewardforge.llm.types import assistant, user

        first = [user(ANALYSIS_PROMPT.format(goal=self.goal), images=(a, b))]
        try:
            analysis = self._complete(first, "preference-analysis")
            answer = self._complete(
                [*first, assistant(analysis), user(LABEL_PROMPT)], "preference-label"
            )
        except (ModelUnavailableError, ModelResponseError) as exc:
            self.failures += 1
            logger.warning("VLM comparison failed, no label for this pair: %s", exc)
            return None
        return Judgement(parse_answer(answer), analysis, answer)

    def _complete(self, messages: list[Any], purpose: str) -> str:
        self.requests += 1
        answers = self.model.complete(
            messages, n=1, temperature=self.temperature, max_tokens=self.max_tokens
        )
        if self.on_call is not None:
            from rewardforge.designers.llm import ModelCall
            from rewardforge.llm.cache import request_hash, request_record
            from rewardforge.llm.usage import DEFAULT_PRICES, find_price

            params = {"temperature": float(self.temperature), "max_tokens": int(self.max_tokens)}
            key = request_hash(
                request_record(self.model.provider, self.model.model, messages, params)
            )
            meter = getattr(self.model, "meter", None)
            for c in answers:
                price = find_price(c.model, meter.prices if meter is not None else DEFAULT_PRICES)
                cost = price.cost(c.usage) if price is not None else 0.0
                self.on_call(
                    ModelCall(key, self.model.provider, c.model, c.usage.prompt_tokens,
                              c.usage.completion_tokens, cost, c.latency_s, c.cached, purpose)
                )  # fmt: skip
        return str(answers[0].text)
