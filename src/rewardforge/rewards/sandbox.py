"""``RewardSandbox``: untrusted reward programs run in one confined worker process.

One long-lived worker per sandbox holds every program added to it and evaluates batches; see
``worker.py`` and ``confinement.py`` for what the worker can and cannot do, ``channel.py`` for
the transport and ``replies.py`` for the checks on everything that comes back. A failed reward
is returned or raised as a specific ``RewardError``; it never takes the caller down. A stuck or
dead worker is killed and a fresh one started (programs are loaded into it again); a program
that made a forbidden system call or ended the worker is quarantined.
"""

from __future__ import annotations

import json
import logging
import os
import struct
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
    SandboxUnavailableError,
)
from rewardforge.rewards import worker as proto
from rewardforge.rewards.base import RewardOutput
from rewardforge.rewards.channel import WorkerChannel, WorkerGone, WorkerLate
from rewardforge.rewards.layers import REQUIRED_LAYERS, LayerStatus, describe_layers
from rewardforge.rewards.program import RewardProgram
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
_ALIGN = 64


class RewardSandbox:
    """A confined worker holding several reward programs.

    Args:
        deadline_s: hard wall-clock limit for one program on one batch (and for loading it).
        memory_mb: address-space limit of the worker.
        cpu_s: total CPU-time limit of the worker (a backstop; deadlines act first).
        bounds: allowed range of the reward and every component, per row.
        max_components: most named components a program may return.
        mode: ``"strict"`` raises ``SandboxUnavailableError`` when a layer is missing;
            ``"default"`` logs a loud warning and runs with the layers it has.
        startup_timeout_s: how long a worker may take to start and confine itself.
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
        if deadline_s <= 0 or memory_mb < 256 or cpu_s < 1:
            raise ConfigError(
                "deadline_s must be positive, memory_mb at least 256 and cpu_s at least 1"
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
        self._programs: dict[int, RewardProgram] = {}
        self._components: dict[int, tuple[str, ...]] = {}
        self._row_mode: set[int] = set()
        self._quarantined: dict[int, RewardError] = {}
        self._loaded: set[int] = set()
        self._next_key = 1
        self._lock = threading.RLock()
        self._closed = False
        self._warned = False
        self._dirty = True
        self._requests: dict[tuple, tuple[bytes, list[int], OutputWindow]] = {}
        self._channel: WorkerChannel | None = self._start()
        self.layers = self._ready()

    # --- worker lifecycle ------------------------------------------------------------------
    def _start(self) -> WorkerChannel:
        return WorkerChannel(
            memory_mb=self.memory_mb, cpu_s=self.cpu_s, max_components=self.max_components
        )

    def _ready(self) -> list[LayerStatus]:
        """Wait for the current worker, check its layers, load the programs it lacks."""
        if self._closed:
            raise ConfigError("this RewardSandbox is closed")
        if self._channel is not None and not self._channel.alive():
            # died between calls (killed from outside, or its parent thread ended): not the
            # fault of any program, so start a fresh worker without blaming one
            logger.warning("sandbox worker %d died while idle; restarting it", self._channel.pid)
            self._restart()
        if not self._dirty:
            return self.layers
        while True:
            if self._channel is None:
                self._channel = self._start()
            channel = self._channel
            layers = self._check_layers(channel)
            for key in [k for k in self._programs if k not in self._loaded]:
                if key not in self._quarantined:
                    error = self._load(key)
                    if error is not None:
                        self._quarantined[key] = error
                if self._channel is not channel:  # loading it killed the worker: start over
                    break
            else:
                self._dirty = False
                return layers

    def _check_layers(self, channel: WorkerChannel) -> list[LayerStatus]:
        try:
            report = channel.wait_ready(self.startup_timeout_s)
        except (WorkerGone, WorkerLate, ValueError) as exc:
            code = channel.kill()
            self._channel = None
            raise SandboxUnavailableError(
                f"the sandbox worker failed to start (exit status {code}: {exc}); run "
                f"'rewardforge sandbox' to see which layers this machine supports"
            ) from None
        layers = describe_layers(report)
        missing = [layer for layer in layers if layer.required and not layer.active]
        if missing and self.mode == "strict":
            channel.close(graceful=False)
            self._channel = None
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
        return layers

    def _restart(self) -> None:
        """Kill the current worker (if any) and start its successor without waiting for it."""
        if self._channel is not None:
            self._channel.close(graceful=False)
        self.num_restarts += 1
        self._dirty = True
        self._loaded = set()
        self._channel = self._start()

    def _fail(self, key: int, exc: Exception, *, alone: bool = True) -> RewardError:
        """The worker died, broke the protocol or was late while running ``key``."""
        assert self._channel is not None
        if isinstance(exc, WorkerLate):
            self._channel.kill()
            error: RewardError = RewardTimeoutError(
                f"compute_reward did not return within {self.deadline_s:g} s (an endless loop, "
                f"or too slow for the batch); the worker was killed and restarted",
                deadline_s=self.deadline_s,
            )
        else:
            detail = f"protocol: {exc}" if isinstance(exc, ProtocolError) else str(exc)
            code = self._channel.kill()
            if isinstance(exc, WorkerGone) and exc.detail.startswith("reply"):
                detail = f"protocol: {exc.detail}"
            error = died_error(code, detail, memory_mb=self.memory_mb, cpu_s=self.cpu_s)
            if error.reason == "protocol" and not alone:
                # a stale or forged reply may come from another program in the same batch
                error.quarantined = False
            if error.quarantined:
                self._quarantined[key] = error
        logger.info("sandbox program %d failed (%s); restarting the worker", key, error.kind)
        self._restart()
        return error

    # --- programs --------------------------------------------------------------------------
    def _load(self, key: int) -> RewardError | None:
        program = self._programs[key]
        body = proto.KEY.pack(key) + json.dumps(
            {"source": program.source, "params": list(program.params)}
        ).encode("utf-8")
        assert self._channel is not None
        try:
            seq = self._channel.send(proto.OP_ADD, body)
            reply = self._channel.receive(time.monotonic() + self.deadline_s, seq)
            if reply.status in (proto.ST_OK, proto.ST_OK_ROW):
                self._loaded.add(key)
                return None
            if reply.status == proto.ST_MEMORY:
                raise WorkerGone(proto.EXIT_MEMORY, "memory")
            return error_from_reply(reply.status, parse_detail(reply.body, key), program.source)
        except (WorkerGone, WorkerLate, ProtocolError) as exc:
            return self._fail(key, exc)

    def add(self, program: RewardProgram) -> int:
        """Load ``program`` into the worker; returns its key. Raises the ``RewardError`` of a
        program whose module-level code fails, loops or breaks out."""
        with self._lock:
            self._ready()
            key = self._next_key
            self._next_key += 1
            self._programs[key] = program
            error = self._load(key)
            if error is not None:
                del self._programs[key]
                self._quarantined.pop(key, None)
                raise error
            return key

    def remove(self, key: int) -> None:
        with self._lock:
            self._programs.pop(key, None)
            self._components.pop(key, None)
            self._quarantined.pop(key, None)
            if key in self._loaded and self._channel is not None:
                self._loaded.discard(key)
                try:
                    seq = self._channel.send(proto.OP_REMOVE, proto.KEY.pack(key))
                    self._channel.receive(time.monotonic() + self.deadline_s, seq)
                except (WorkerGone, WorkerLate):
                    self._restart()

    def components(self, key: int) -> tuple[str, ...] | None:
        """Component names of ``key`` after its first successful call, else None."""
        return self._components.get(key)

    def row_mode(self, key: int) -> bool:
        """Whether ``key`` turned out to be single-sample code, evaluated row by row."""
        return key in self._row_mode

    def quarantined(self, key: int) -> RewardError | None:
        return self._quarantined.get(key)

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
        """Rewards of several programs for one batch in one round trip; a failure is returned
        in its program's place, the others still run."""
        with self._lock:
            for key in keys:
                if key not in self._programs:
                    raise ConfigError(f"no program with key {key} in this sandbox; add() it first")
            results: list[RewardOutput | RewardError | None] = [None] * len(keys)
            pending = []
            for i, key in enumerate(keys):
                if key in self._quarantined:
                    results[i] = self._quarantined[key]
                else:
                    pending.append(i)
            while pending:
                self._ready()
                pending = [i for i in pending if not self._take_quarantine(keys[i], results, i)]
                if pending:
                    pending = self._round_trip(keys, pending, transition, results)
            assert all(r is not None for r in results)
            return results  # type: ignore[return-value]

    def _take_quarantine(self, key: int, results: list, i: int) -> bool:
        if key in self._quarantined:
            results[i] = self._quarantined[key]
            return True
        return False

    def _round_trip(
        self,
        keys: Sequence[int],
        pending: list[int],
        transition: Mapping[str, np.ndarray],
        results: list,
    ) -> list[int]:
        """One request for ``pending``; returns the indices still to run after a failure."""
        channel = self._channel
        assert channel is not None
        pending_keys = [keys[i] for i in pending]
        names = list(dict.fromkeys(p for k in pending_keys for p in self._programs[k].params))
        arrays, batch = _gather(names, transition)
        shape_key = (
            channel.shm_size,
            tuple(pending_keys),
            tuple((name, a.dtype.str, a.shape) for name, a in arrays),
            tuple(
                len(self._components.get(k, ())) if k in self._components else -1
                for k in pending_keys
            ),
        )
        request = self._requests.get(shape_key)
        if request is None:
            request = self._build_request(channel, pending_keys, arrays, batch)
            if len(self._requests) > 256:
                self._requests.clear()
            self._requests[(channel.shm_size, *shape_key[1:])] = request
        body, offsets, window = request
        mm = channel.mm
        for (_, array), at in zip(arrays, offsets, strict=True):
            np.frombuffer(mm, array.dtype, array.size, at).reshape(array.shape)[...] = array
        try:
            seq = channel.send(proto.OP_EVAL, body)
        except WorkerGone as exc:
            results[pending[0]] = self._fail(pending_keys[0], exc)
            return pending[1:]
        for j, (i, key) in enumerate(zip(pending, pending_keys, strict=True)):
            try:
                results[i] = self._reply(channel, seq, key, window)
            except (WorkerGone, WorkerLate, ProtocolError) as exc:
                results[i] = self._fail(key, exc, alone=len(pending) == 1)
                return pending[j + 1 :]
        return []

    def _build_request(
        self, channel: WorkerChannel, keys: list[int], arrays: list, batch: int
    ) -> tuple[bytes, list[int], OutputWindow]:
        """The EVAL body for these programs and array shapes (cached: it rarely changes)."""
        offset, offsets = 0, []
        for _, array in arrays:
            offsets.append(offset)
            offset += -(-array.nbytes // _ALIGN) * _ALIGN
        out_size = sum(
            8
            * batch
            * (1 + (len(self._components[k]) if k in self._components else self.max_components))
            for k in keys
        )
        if offset + out_size > self.memory_mb * (1 << 20) // 2:
            raise ConfigError(
                f"a batch of {batch} needs {(offset + out_size) >> 20} MiB of shared memory, more "
                f"than half the sandbox's memory limit ({self.memory_mb} MiB); split the batch "
                f"or raise memory_mb"
            )
        channel.ensure_shm(offset + out_size)
        parts = [
            proto.EVAL_HEAD.pack(len(keys), len(arrays), batch, channel.shm_size, offset, out_size),
            struct.pack(f"<{len(keys)}I", *keys),
        ]
        for (name, array), at in zip(arrays, offsets, strict=True):
            raw = name.encode()
            parts.append(proto.ARRAY_HEAD.pack(len(raw), array.dtype.str.encode(), array.ndim, at))
            parts.append(raw + struct.pack(f"<{array.ndim}I", *array.shape))
        window = OutputWindow(offset, out_size, batch, self.max_components)
        return b"".join(parts), offsets, window

    def _reply(self, channel: WorkerChannel, seq: int, key: int, window: OutputWindow):
        reply = channel.receive(time.monotonic() + self.deadline_s, seq)
        if reply.status in (proto.ST_OK, proto.ST_OK_ROW):
            block, names = parse_ok(reply.body, key, window, channel.mm)
            if reply.status == proto.ST_OK_ROW:
                self._row_mode.add(key)
            try:
                output = check_block(block, names, self.bounds, self._components.get(key))
            except RewardError as error:
                return error
            self._components.setdefault(key, tuple(names))
            return output
        if reply.status == proto.ST_MEMORY:
            raise WorkerGone(proto.EXIT_MEMORY, "memory")
        if reply.status not in (proto.ST_RAISED, proto.ST_BAD_OUTPUT, proto.ST_REJECTED):
            raise ProtocolError(f"unknown status {reply.status}")
        detail = parse_detail(reply.body, key)
        return error_from_reply(reply.status, detail, self._programs[key].source)

    # --- lifetime --------------------------------------------------------------------------
    @property
    def worker_pid(self) -> int | None:
        return self._channel.pid if self._channel is not None else None

    @property
    def startup_s(self) -> float | None:
        return self._channel.startup_s if self._channel is not None else None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._channel is not None:
                self._channel.close()
                self._channel = None

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
