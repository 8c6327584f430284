"""``RewardSandbox``: untrusted reward programs, each in its own confined worker process.

A sandbox starts one confined *template* process; every program added to it gets a *program
worker* forked from that template (about a millisecond), which holds that program alone, so
no candidate can reach another's code, state or results. See ``template.py``, ``worker.py`` and
``confinement.py`` for what the processes can and cannot do, ``channel.py`` for the transport
and ``replies.py`` for the checks on everything that comes back. A failed reward is returned or
raised as a specific ``RewardError``; it never takes the caller down. A stuck or dead worker is
killed and a fresh one forked (the program is loaded into it again); a program that made a
forbidden system call or ended its worker is quarantined.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from rewardforge.errors import (
    ConfigError,
    RewardError,
    RewardTimeoutError,
    RewardWorkerDiedError,
    SandboxUnavailableError,
)
from rewardforge.rewards import worker as proto
from rewardforge.rewards.base import RewardOutput
from rewardforge.rewards.channel import TemplateProcess, WorkerChannel, WorkerGone, WorkerLate
from rewardforge.rewards.layers import REQUIRED_LAYERS, LayerStatus, describe_layers
from rewardforge.rewards.program import RewardProgram, check_program_size
from rewardforge.rewards.replies import (
    OutputWindow,
    ProtocolError,
    check_block,
    died_error,
    error_from_reply,
    parse_detail,
    parse_ok,
)

logger = logging.getLogger(__name__)

__all__ = [
    "REQUIRED_LAYERS",
    "LayerStatus",
    "RewardSandbox",
    "SandboxMode",
    "SandboxedReward",
    "describe_layers",
    "sandbox_layers",
]

SandboxMode = Literal["strict", "default"]


class _Slot:
    """One program of a sandbox: its worker (None until started, or after it died) and what
    the parent learned about it."""

    __slots__ = ("channel", "components", "program", "quarantined", "row_mode")

    def __init__(self, program: RewardProgram) -> None:
        self.program = program
        self.channel: WorkerChannel | None = None
        self.components: tuple[str, ...] | None = None
        self.row_mode = False
        self.quarantined: RewardError | None = None


class RewardSandbox:
    """Confined workers for several reward programs, one process each.

    Args:
        deadline_s: hard wall-clock limit for one program on one batch (and for loading it).
        memory_mb: address-space limit of each worker.
        cpu_s: CPU-time limit of each worker (a backstop; deadlines act first).
        bounds: allowed range of the reward and every component, per row.
        max_components: most named components a program may return.
        mode: ``"strict"`` raises ``SandboxUnavailableError`` when a layer is missing;
            ``"default"`` logs a loud warning and runs with the layers it has.
        startup_timeout_s: how long the template may take to start and confine itself.
    """

    def __init__(
        self,
        *,
        deadline_s: float = 2.0,
        memory_mb: int = 1024,
        cpu_s: int = 3600,
        bounds: tuple[float, float] = (-1e6, 1e6),
        max_components: int = 32,
        mode: SandboxMode = "default",
        startup_timeout_s: float = 10.0,
    ) -> None:
        if not sys.platform.startswith("linux") or not hasattr(os, "memfd_create"):
            raise SandboxUnavailableError(
                f"the reward sandbox needs Linux (seccomp, namespaces, memfd); this is "
                f"{sys.platform}. Run rewardforge on Linux, or in a Linux container"
            )
        if mode not in ("strict", "default"):
            raise ConfigError(f"sandbox mode must be 'strict' or 'default', got {mode!r}")
        if not (0 < deadline_s < math.inf) or memory_mb < 256 or cpu_s < 1:
            raise ConfigError(
                f"deadline_s must be a positive number of seconds (got {deadline_s}), memory_mb "
                f"at least 256 and cpu_s at least 1"
            )
        if not bounds[0] < bounds[1]:
            raise ConfigError(f"bounds must be (low, high) with low < high, got {bounds}")
        self.deadline_s = float(deadline_s)
        self.memory_mb = int(memory_mb)
        self.cpu_s = int(cpu_s)
        self.bounds = (float(bounds[0]), float(bounds[1]))
        self.max_components = int(max_components)
        self.mode = mode
        self.startup_timeout_s = startup_timeout_s
        self.num_restarts = 0
        self._slots: dict[int, _Slot] = {}
        self._next_key = 1
        self._lock = threading.RLock()
        self._closed = False
        self._warned = False
        self._template: TemplateProcess | None = None
        self.layers = self._start_template()

    # --- processes -------------------------------------------------------------------------
    def _start_template(self) -> list[LayerStatus]:
        template = TemplateProcess(
            memory_mb=self.memory_mb, cpu_s=self.cpu_s, max_components=self.max_components
        )
        try:
            report = template.wait_ready(self.startup_timeout_s)
        except (WorkerGone, WorkerLate, ValueError) as exc:
            template.close()
            raise SandboxUnavailableError(
                f"the sandbox failed to start (exit status {template.proc.poll()}: {exc}); run "
                f"'rewardforge sandbox' to see which layers this machine supports"
            ) from None
        layers = describe_layers(report)
        missing = [layer for layer in layers if layer.required and not layer.active]
        if missing and self.mode == "strict":
            template.close()
            raise SandboxUnavailableError(
                "sandbox mode 'strict' needs every layer, but these are not active here: "
                + "; ".join(f"{m.name} ({m.detail})" for m in missing)
                + ". Run 'rewardforge sandbox' for details, or use --sandbox default"
            )
        if missing and not self._warned:
            self._warned = True
            for m in missing:
                logger.warning(
                    "SANDBOX LAYER MISSING: %s is not active on this machine (%s); reward code "
                    "runs with weaker containment. Use mode 'strict' to refuse instead.",
                    m.name,
                    m.detail,
                )
        self._template = template
        return layers

    def _fork(self) -> WorkerChannel:
        """A fresh program worker; a template that died (killed from outside) is replaced."""
        if self._closed:
            raise ConfigError("this RewardSandbox is closed")
        for attempt in (0, 1):
            if self._template is None or not self._template.alive():
                if self._template is not None:
                    logger.warning("sandbox template %d died; restarting it", self._template.pid)
                    self._template.close()
                    self.num_restarts += 1
                self.layers = self._start_template()
            assert self._template is not None
            try:
                channel = WorkerChannel(
                    self._template,
                    timeout=self.startup_timeout_s,
                    max_shm=self.memory_mb * (1 << 20) // 2,
                )
                channel.wait_ready(self.startup_timeout_s)
                return channel
            except (WorkerGone, WorkerLate, ValueError) as exc:
                if attempt:
                    raise SandboxUnavailableError(
                        f"the sandbox could not start a worker ({exc}); run 'rewardforge "
                        f"sandbox' to see which layers this machine supports"
                    ) from None
                self._template.close()
        raise AssertionError("unreachable")

    def _start(self, key: int, slot: _Slot) -> RewardError | None:
        """Fork a worker for ``slot`` and load its program; the error when that fails."""
        channel = slot.channel = self._fork()
        program = slot.program
        body = proto.KEY.pack(key) + json.dumps(
            {"source": program.source, "params": list(program.params)}
        ).encode("utf-8")
        try:
            seq = channel.send(proto.OP_ADD, body)
            reply = channel.receive(time.monotonic() + self.deadline_s, seq)
            if reply.status in (proto.ST_OK, proto.ST_OK_ROW):
                return None
            if reply.status == proto.ST_MEMORY:
                raise WorkerGone(proto.EXIT_MEMORY, "memory")
            error = error_from_reply(reply.status, parse_detail(reply.body, key), program.source)
        except (WorkerGone, WorkerLate, ProtocolError) as exc:
            return self._fail(slot, exc)
        self._stop(slot)
        return error

    def _stop(self, slot: _Slot) -> None:
        if slot.channel is not None:
            slot.channel.close()
            slot.channel = None

    def _fail(self, slot: _Slot, exc: Exception) -> RewardError:
        """The worker died, broke the protocol or was late while running ``slot``'s program."""
        channel = slot.channel
        assert channel is not None
        if isinstance(exc, WorkerLate):
            channel.kill()
            error: RewardError = RewardTimeoutError(
                f"compute_reward did not return within {self.deadline_s:g} s (an endless loop, "
                f"or too slow for the batch); the worker was killed and restarted",
                deadline_s=self.deadline_s,
            )
        else:
            detail = f"protocol: {exc}" if isinstance(exc, ProtocolError) else str(exc)
            code = channel.kill()
            if isinstance(exc, WorkerGone) and exc.detail.startswith("reply"):
                detail = f"protocol: {exc.detail}"
            if code is None and (self._template is None or not self._template.alive()):
                error = RewardWorkerDiedError(
                    "the sandbox's template process died while the reward ran (killed from "
                    "outside?), taking the worker with it; the program is not blamed",
                    reason="sandbox",
                )
            else:
                error = died_error(code, detail, memory_mb=self.memory_mb, cpu_s=self.cpu_s)
            if error.quarantined:  # its own worker: nobody else's program could have done it
                slot.quarantined = error
        logger.info("sandbox program %s failed (%s); worker killed", slot.program.name, error.kind)
        self._stop(slot)
        self.num_restarts += 1
        return error

    # --- programs --------------------------------------------------------------------------
    def add(self, program: RewardProgram) -> int:
        """Start a worker for ``program``; returns its key. Raises the ``RewardError`` of a
        program whose module-level code fails, loops or breaks out."""
        check_program_size(program.source)
        with self._lock:
            key = self._next_key
            self._next_key += 1
            slot = _Slot(program)
            error = self._start(key, slot)
            if error is not None:
                self._stop(slot)
                raise error
            self._slots[key] = slot
            return key

    def remove(self, key: int) -> None:
        """End ``key``'s worker and forget the program."""
        with self._lock:
            slot = self._slots.pop(key, None)
            if slot is not None:
                self._stop(slot)

    def components(self, key: int) -> tuple[str, ...] | None:
        """Component names of ``key`` after its first successful call, else None."""
        slot = self._slots.get(key)
        return slot.components if slot is not None else None

    def row_mode(self, key: int) -> bool:
        """Whether ``key`` turned out to be single-sample code, evaluated row by row."""
        slot = self._slots.get(key)
        return slot is not None and slot.row_mode

    def quarantined(self, key: int) -> RewardError | None:
        slot = self._slots.get(key)
        return slot.quarantined if slot is not None else None

    def pid(self, key: int) -> int | None:
        """The process id of ``key``'s worker (None while it has none)."""
        slot = self._slots.get(key)
        return slot.channel.pid if slot is not None and slot.channel is not None else None

    # --- evaluation ------------------------------------------------------------------------
    def evaluate(self, key: int, transition: Mapping[str, np.ndarray]) -> RewardOutput:
        """Rewards of one program for a batch; raises a ``RewardError`` subclass on failure."""
        result = self.evaluate_many([key], transition)[0]
        if isinstance(result, RewardError):
            raise result
        return result

    def evaluate_many(
        self, keys: Sequence[int], transition: Mapping[str, np.ndarray]
    ) -> list[RewardOutput | RewardError]:
        """Rewards of several programs for one batch, their workers running at once; a failure
        is returned in its program's place, the others still run."""
        with self._lock:
            if self._closed:
                raise ConfigError("this RewardSandbox is closed")
            slots = []
            for key in keys:
                if key not in self._slots:
                    raise ConfigError(f"no program with key {key} in this sandbox; add() it first")
                slots.append(self._slots[key])
            results: list[RewardOutput | RewardError | None] = [s.quarantined for s in slots]
            names = list(dict.fromkeys(p for s in slots for p in s.program.params))
            arrays, batch = _gather(names, transition)
            sent = []
            for i, (key, slot) in enumerate(zip(keys, slots, strict=True)):
                if results[i] is None:
                    request = self._send(key, slot, arrays, batch)
                    if isinstance(request, RewardError):
                        results[i] = request
                    else:
                        sent.append((i, key, slot, *request))
            since = 0.0
            for i, key, slot, seq, window, at in sent:
                deadline = max(at, since) + self.deadline_s
                try:
                    results[i] = self._reply(slot, seq, key, window, deadline)
                except (WorkerGone, WorkerLate, ProtocolError) as exc:
                    results[i] = self._fail(slot, exc)
                since = time.monotonic()
            return results  # type: ignore[return-value]

    def _send(
        self, key: int, slot: _Slot, arrays: list, batch: int
    ) -> tuple[int, OutputWindow, float] | RewardError:
        """Write ``slot``'s arrays into its shared memory and send EVAL: (seq, window, when)."""
        channel = slot.channel
        if channel is not None and not channel.alive():
            # died between calls (killed from outside, or its template died): not the fault of
            # its program, so fork a fresh worker without blaming it
            logger.warning("sandbox worker %d died while idle; restarting it", channel.pid)
            self._stop(slot)
            self.num_restarts += 1
        if slot.channel is None:
            error = self._start(key, slot)
            if error is not None:
                slot.quarantined = slot.quarantined or error
                return error
            channel = slot.channel
        assert channel is not None
        params = slot.program.params
        mine = [a for a in arrays if a[0] in params] if len(params) < len(arrays) else arrays
        layout = (
            channel.shm_size,
            tuple((name, a.dtype.str, a.shape) for name, a in mine),
            -1 if slot.components is None else len(slot.components),
        )
        request = channel.requests.get(layout)
        if request is None:
            ncomp = self.max_components if slot.components is None else len(slot.components)
            request = channel.eval_request(key, mine, batch, ncomp, self.max_components)
            if len(channel.requests) > 64:
                channel.requests.clear()
            channel.requests[(channel.shm_size, *layout[1:])] = request
        body, offsets, window = request
        mm = channel.mm
        for (_, array), at in zip(mine, offsets, strict=True):
            np.frombuffer(mm, array.dtype, array.size, at).reshape(array.shape)[...] = array
        try:
            seq = channel.send(proto.OP_EVAL, body)
        except WorkerGone as exc:
            return self._fail(slot, exc)
        return seq, window, time.monotonic()

    def _reply(
        self, slot: _Slot, seq: int, key: int, window: OutputWindow, deadline: float
    ) -> RewardOutput | RewardError:
        channel = slot.channel
        assert channel is not None
        reply = channel.receive(deadline, seq)
        if reply.status in (proto.ST_OK, proto.ST_OK_ROW):
            block, names = parse_ok(reply.body, key, window, channel.mm)
            if reply.status == proto.ST_OK_ROW:
                slot.row_mode = True
            try:
                output = check_block(block, names, self.bounds, slot.components)
            except RewardError as error:
                return error
            if slot.components is None:
                slot.components = tuple(names)
            return output
        if reply.status == proto.ST_MEMORY:
            raise WorkerGone(proto.EXIT_MEMORY, "memory")
        if reply.status not in (proto.ST_RAISED, proto.ST_BAD_OUTPUT, proto.ST_REJECTED):
            raise ProtocolError(f"unknown status {reply.status}")
        detail = parse_detail(reply.body, key)
        return error_from_reply(reply.status, detail, slot.program.source)

    # --- lifetime --------------------------------------------------------------------------
    @property
    def worker_pid(self) -> int | None:
        """The template's process id (it holds no program; see ``pid(key)`` for those)."""
        return self._template.pid if self._template is not None else None

    @property
    def startup_s(self) -> float | None:
        return self._template.startup_s if self._template is not None else None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for slot in self._slots.values():
                if slot.channel is not None:  # the template kills every worker as it exits
                    slot.channel.abandon()
                    slot.channel = None
            if self._template is not None:
                self._template.close()
                self._template = None

    def __enter__(self) -> RewardSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _gather(names: list[str], transition: Mapping[str, np.ndarray]) -> tuple[list, int]:
    """The named arrays of a transition, with one batch size and a dtype the worker accepts."""
    arrays, batch = [], None
    for name in names:
        if name not in transition:
            raise ConfigError(
                f"the transition has no variable {name!r}, which a reward program reads; "
                f"it has: {', '.join(sorted(transition))}"
            )
        array = np.asarray(transition[name])
        if array.dtype.kind == "f" and array.dtype.str not in ("<f8", "<f4"):
            array = array.astype(np.float64)
        elif array.dtype.kind in "iu" and array.dtype.str not in proto.DTYPES:
            array = array.astype(np.int64)
        elif array.dtype.kind not in "biuf":
            raise ConfigError(f"variable {name!r} has dtype {array.dtype}; expected numbers")
        if array.ndim == 0 or (batch is not None and array.shape[0] != batch):
            raise ConfigError(
                f"variable {name!r} has shape {array.shape}; every variable needs the same "
                f"leading batch axis ({batch})"
            )
        batch = array.shape[0]
        arrays.append((name, array))
    return arrays, batch or 0


def sandbox_layers(mode: SandboxMode = "default") -> list[LayerStatus]:
    """Start a worker and report which containment layers are active on this machine."""
    with RewardSandbox(mode=mode) as sandbox:
        return list(sandbox.layers)


class SandboxedReward:
    """A reward program run in a sandbox, as a ``RewardFunction`` trainers can call."""

    def __init__(
        self,
        sandbox: RewardSandbox,
        program: RewardProgram,
        *,
        name: str | None = None,
        owns_sandbox: bool = False,
    ) -> None:
        self.sandbox = sandbox
        self.program = program
        self.name = name or program.name
        self._owns_sandbox = owns_sandbox
        self.key = sandbox.add(program)

    def __call__(self, transition: Mapping[str, np.ndarray]) -> RewardOutput:
        return self.sandbox.evaluate(self.key, transition)

    @property
    def components(self) -> tuple[str, ...] | None:
        """Component names, known after the first successful call."""
        return self.sandbox.components(self.key)

    def close(self) -> None:
        if self._owns_sandbox:
            self.sandbox.close()
        else:
            self.sandbox.remove(self.key)

    def __repr__(self) -> str:
        return f"SandboxedReward({self.name!r}, key={self.key})"
