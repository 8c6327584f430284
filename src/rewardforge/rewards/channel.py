"""The parent's end of one sandbox worker: process start, pipes, shared memory, deadlines.

Requests go down a pipe as small ``struct`` frames; arrays go through a memfd both sides map.
Replies come back as frames too and are parsed with ``struct`` and bounded ``json`` only: nothing
the worker sends is unpickled or trusted. A reply that is late kills the worker's process group.
"""

from __future__ import annotations

import contextlib
import json
import logging
import mmap
import os
import select
import signal
import subprocess
import sys
import time
import weakref
from importlib.util import find_spec
from pathlib import Path
from typing import NamedTuple

from rewardforge.rewards import worker as proto

logger = logging.getLogger(__name__)

WORKER_SCRIPT = Path(proto.__file__).resolve()
#: Variables that only tune libraries inside the worker; nothing else of the parent's
#: environment (API keys, tokens, paths) reaches it.
WORKER_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "LANG": "C.UTF-8",
}
MAX_REPLY_BYTES = 1 << 16
#: After a request, poll the reply pipe without sleeping for this long: a worker answers a
#: small batch in tens of microseconds, and a sleep/wake-up pair costs about as much again.
SPIN_S = 0.0002


class WorkerGone(Exception):
    """The worker closed its pipe, died, or broke the protocol."""

    def __init__(self, returncode: int | None, detail: str = "") -> None:
        super().__init__(detail or f"worker exited with {returncode}")
        self.returncode = returncode
        self.detail = detail


class WorkerLate(Exception):
    """No reply before the deadline."""


class Reply(NamedTuple):
    seq: int
    status: int
    body: bytes


def _library_paths() -> list[str]:
    """Folders holding numpy and pyseccomp, for a worker started with ``python -I``."""
    paths: list[str] = []
    for module in ("numpy", "pyseccomp"):
        spec = find_spec(module)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        folder = origin.parent.parent if origin.name == "__init__.py" else origin.parent
        if str(folder) not in paths:
            paths.append(str(folder))
    return paths


def _reap(proc: subprocess.Popen, fds: list[int]) -> None:
    """Finalizer: kill the worker's process group and close our descriptors."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            logger.warning("sandbox worker %d did not exit after SIGKILL", proc.pid)
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


class WorkerChannel:
    """One worker process. ``start`` returns at once; ``wait_ready`` reads its layer report."""

    def __init__(
        self, *, memory_mb: int, cpu_s: int, max_components: int, shm_size: int = 1 << 22
    ) -> None:
        self.shm_fd = os.memfd_create("rewardforge-sandbox", os.MFD_CLOEXEC)
        os.ftruncate(self.shm_fd, shm_size)
        self.shm_size = shm_size
        self.mm = mmap.mmap(self.shm_fd, shm_size)
        to_worker_r, self.wfd = os.pipe()
        self.rfd, from_worker_w = os.pipe()
        config = {
            "rfd": to_worker_r,
            "wfd": from_worker_w,
            "shm_fd": self.shm_fd,
            "memory_mb": memory_mb,
            "cpu_s": cpu_s,
            "max_components": max_components,
            "paths": _library_paths(),
        }
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-I", str(WORKER_SCRIPT), json.dumps(config)],
            env=dict(WORKER_ENV),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(to_worker_r, from_worker_w, self.shm_fd),
            start_new_session=True,
            cwd="/",
        )
        os.close(to_worker_r)
        os.close(from_worker_w)
        os.set_blocking(self.rfd, False)
        self.seq = 0
        self._buffer = bytearray()
        self._poll = select.poll()
        self._poll.register(self.rfd, select.POLLIN)
        self.layers: dict[str, list] | None = None
        self.startup_s: float | None = None
        self._finalizer = weakref.finalize(
            self, _reap, self.proc, [self.rfd, self.wfd, self.shm_fd]
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, timeout: float) -> dict[str, list]:
        if self.layers is None:
            reply = self.receive(time.monotonic() + timeout)
            if reply.status != proto.ST_READY:
                raise WorkerGone(self.proc.poll(), "worker did not report ready")
            layers = json.loads(reply.body.decode())
            if not isinstance(layers, dict):
                raise WorkerGone(self.proc.poll(), "malformed ready report")
            self.layers = layers
            self.startup_s = time.perf_counter() - self.started
            logger.debug("sandbox worker %d ready in %.3f s", self.pid, self.startup_s)
        return self.layers

    # --- shared memory -------------------------------------------------------------------
    def ensure_shm(self, size: int) -> None:
        if size <= self.shm_size:
            return
        new = self.shm_size
        while new < size:
            new *= 2
        self.mm.close()
        os.ftruncate(self.shm_fd, new)
        self.mm = mmap.mmap(self.shm_fd, new)
        self.shm_size = new

    # --- messages ------------------------------------------------------------------------
    def send(self, op: int, body: bytes) -> int:
        self.seq = (self.seq + 1) & 0xFFFFFFFF
        data = proto.FRAME.pack(len(body), self.seq, op) + body
        try:
            while data:
                data = data[os.write(self.wfd, data) :]
        except (BrokenPipeError, OSError) as exc:
            raise WorkerGone(self._returncode(), f"pipe to worker broke: {exc}") from None
        return self.seq

    def _fill(self, size: int, deadline: float) -> None:
        """Read until ``size`` bytes are buffered (whatever else has arrived is kept)."""
        spin_until = time.monotonic() + SPIN_S
        while len(self._buffer) < size:
            try:
                chunk = os.read(self.rfd, MAX_REPLY_BYTES)
            except BlockingIOError:
                now = time.monotonic()
                if now < spin_until:
                    continue
                if now >= deadline or not self._poll.poll((deadline - now) * 1000.0):
                    raise WorkerLate from None
                continue
            if not chunk:
                raise WorkerGone(self._returncode())
            self._buffer += chunk
            if len(self._buffer) > 4 * MAX_REPLY_BYTES:
                raise WorkerGone(self._returncode(), "reply flood")

    def receive(self, deadline: float, seq: int | None = None) -> Reply:
        self._fill(proto.FRAME.size, deadline)
        length, got_seq, status = proto.FRAME.unpack_from(self._buffer)
        if length > MAX_REPLY_BYTES:
            raise WorkerGone(self._returncode(), f"reply of {length} bytes is too long")
        if seq is not None and got_seq != seq:
            raise WorkerGone(self._returncode(), f"reply to request {got_seq}, expected {seq}")
        end = proto.FRAME.size + length
        self._fill(end, deadline)
        body = bytes(self._buffer[proto.FRAME.size : end])
        del self._buffer[:end]
        return Reply(got_seq, status, body)

    def _returncode(self) -> int | None:
        try:
            return self.proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> int | None:
        """Kill the worker's process group; returns its exit status."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        return self._returncode()

    def close(self, graceful: bool = True) -> None:
        if graceful and self.alive():
            try:
                self.send(proto.OP_EXIT, b"")
                self.proc.wait(timeout=0.5)
            except (WorkerGone, subprocess.TimeoutExpired):
                pass
        with contextlib.suppress(BufferError):  # a view is still held; it goes with the process
            self.mm.close()
        self._finalizer()
