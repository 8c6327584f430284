"""Turning the worker's replies into checked ``RewardOutput``s or specific ``RewardError``s.

The worker is untrusted: every offset, count and name is bounds-checked here, error details are
length-limited, and the arrays are copied out of shared memory and checked with the parent's own
numpy (finite, within bounds, the same component names on every call).
"""

from __future__ import annotations

import json
import math
import signal
import struct
from typing import NamedTuple

import numpy as np

from rewardforge.errors import (
    RewardError,
    RewardOutputError,
    RewardRaisedError,
    RewardRejectedError,
    RewardWorkerDiedError,
)
from rewardforge.rewards import worker as proto
from rewardforge.rewards.base import RewardOutput


class ProtocolError(Exception):
    """A reply that does not follow the protocol (the worker is compromised or broken)."""


class OutputWindow(NamedTuple):
    """Where in shared memory a batch's results may lie."""

    offset: int
    size: int
    batch: int
    max_components: int


def parse_ok(
    body: bytes, key: int, window: OutputWindow, mm: object
) -> tuple[np.ndarray, list[str]]:
    """The (1 + ncomp, batch) float64 block and component names of an OK reply, copied out."""
    try:
        got_key, offset, ncomp = proto.OK_HEAD.unpack_from(body)
    except struct.error:
        raise ProtocolError("short OK reply") from None
    if got_key != key:
        raise ProtocolError(f"reply for program {got_key}, expected {key}")
    if ncomp > window.max_components:
        raise ProtocolError(f"{ncomp} components, more than {window.max_components}")
    nbytes = 8 * window.batch * (1 + ncomp)
    if offset < window.offset or offset + nbytes > window.offset + window.size or offset % 8:
        raise ProtocolError(f"result block at {offset} lies outside the output window")
    names: list[str] = []
    pos = proto.OK_HEAD.size
    for _ in range(ncomp):
        if pos >= len(body):
            raise ProtocolError("truncated component names")
        length = body[pos]
        raw = body[pos + 1 : pos + 1 + length]
        pos += 1 + length
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("component name is not UTF-8") from None
        if len(raw) != length or not name.isidentifier() or name in names:
            raise ProtocolError(f"bad component name {name!r:.80}")
        names.append(name)
    if pos != len(body):
        raise ProtocolError("trailing bytes in OK reply")
    block = np.frombuffer(mm, "<f8", window.batch * (1 + ncomp), offset)  # type: ignore[call-overload]
    return block.reshape(1 + ncomp, window.batch).copy(), names


def check_block(
    block: np.ndarray,
    names: list[str],
    bounds: tuple[float, float],
    expected: tuple[str, ...] | None,
) -> RewardOutput:
    """Finite, within bounds, the same components as before; raises ``RewardOutputError``."""
    labels = ["reward", *(f"component {n!r}" for n in names)]
    low, high = bounds
    lowest, highest = float(block.min()), float(block.max())
    if not (math.isfinite(lowest) and math.isfinite(highest) and low <= lowest <= highest <= high):
        for label, row in zip(labels, block, strict=True):
            bad = ~np.isfinite(row)
            if bad.any():
                what = "NaN" if np.isnan(row).any() else "infinite values"
                raise RewardOutputError(
                    f"{label} contains {what} in {int(bad.sum())} of {row.size} rows (first at "
                    f"row {int(np.flatnonzero(bad)[0])}); guard divisions, logs and exps, e.g. "
                    f"np.log(x + 1e-8), x / (d + 1e-8), np.clip(...)"
                )
            if row.min() < low or row.max() > high:
                raise RewardOutputError(
                    f"{label} has values outside the allowed range [{low:g}, {high:g}] (min "
                    f"{row.min():.4g}, max {row.max():.4g}); scale it down or clip it"
                )
    if expected is not None and tuple(names) != expected:
        raise RewardOutputError(
            f"compute_reward returned components {sorted(names)} but {sorted(expected)} before; "
            f"return the same component names on every call"
        )
    return RewardOutput(block[0], {name: block[i] for i, name in enumerate(names, start=1)})


def parse_detail(body: bytes, key: int) -> dict:
    if len(body) < 4 or proto.KEY.unpack_from(body)[0] != key:
        raise ProtocolError(f"error reply is not for program {key}")
    try:
        detail = json.loads(body[4:].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ProtocolError("malformed error detail") from None
    if not isinstance(detail, dict):
        raise ProtocolError("malformed error detail")
    line = detail.get("line")
    return {
        "type": str(detail.get("type", "Exception"))[:100],
        "message": str(detail.get("message", ""))[:2000],
        "line": line if isinstance(line, int) and not isinstance(line, bool) else None,
    }


def _quote(source: str, line: int | None) -> str:
    if line is None:
        return ""
    lines = source.splitlines()
    if 1 <= line <= len(lines):
        return f" on line {line}: `{lines[line - 1].strip()[:160]}`"
    return f" on line {line}"


def error_from_reply(status: int, detail: dict, source: str) -> RewardError:
    kind, message, line = detail["type"], detail["message"], detail["line"]
    if status == proto.ST_REJECTED:
        return RewardRejectedError(f"reward code does not compile: {message}{_quote(source, line)}")
    if status == proto.ST_BAD_OUTPUT:
        return RewardOutputError(f"bad output: {message}")
    where = _quote(source, line)
    text = (
        f"compute_reward raised {kind}: {message}{where}"
        if message
        else f"compute_reward raised {kind}{where}"
    )
    return RewardRaisedError(text, exc_type=kind, line=line)


def died_error(
    returncode: int | None, detail: str, *, memory_mb: int, cpu_s: int
) -> RewardWorkerDiedError:
    """Why the worker died, and whether the program that was running gets quarantined."""
    if detail.startswith("protocol"):
        return RewardWorkerDiedError(
            f"the reward code tampered with the sandbox worker ({detail}); it was killed and the "
            f"program is quarantined",
            reason="protocol",
            returncode=returncode,
            quarantined=True,
        )
    if returncode == proto.EXIT_MEMORY or detail == "memory":
        return RewardWorkerDiedError(
            f"the reward code ran out of memory (limit {memory_mb} MiB); the worker was restarted. "
            f"Avoid building large intermediate arrays",
            reason="memory",
            returncode=returncode,
        )
    if returncode == -signal.SIGXCPU:
        return RewardWorkerDiedError(
            f"the sandbox worker used up its CPU time limit ({cpu_s} s) and was restarted",
            reason="cpu",
            returncode=returncode,
        )
    if returncode == -signal.SIGSYS:
        return RewardWorkerDiedError(
            "the reward code made a forbidden system call (such as exec, fork, socket, ptrace or "
            "signalling another process) and the sandbox killed it; the program is quarantined. "
            "Reward code may only compute with numpy and math on its arguments",
            reason="forbidden_syscall",
            returncode=returncode,
            quarantined=True,
        )
    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else "?"
        return RewardWorkerDiedError(
            f"the sandbox worker was killed by signal {name} while running the reward code; "
            f"the program is quarantined",
            reason="signal",
            returncode=returncode,
            quarantined=True,
        )
    return RewardWorkerDiedError(
        f"the reward code ended the sandbox worker (exit status {returncode}), e.g. with "
        f"os._exit or sys.exit; the program is quarantined",
        reason="exit",
        returncode=returncode,
        quarantined=True,
    )
