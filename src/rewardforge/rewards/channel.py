"""The parent's end of the sandbox's processes: the template, and one channel per program worker.

``TemplateProcess`` starts the template (``python -I worker.py``, see ``template.py``) and asks
it, over a control socket, to fork, kill and reap program workers. ``WorkerChannel`` is one
program worker: requests go down a pipe as small ``struct`` frames; arrays go through a memfd
both sides map. Replies come back as frames too and are parsed with ``struct`` and bounded
``json`` only: nothing a worker sends is unpickled or trusted. A reply that is late gets its
worker killed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import mmap
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
import weakref
from importlib.util import find_spec
from pathlib import Path
from typing import NamedTuple

from rewardforge.errors import ConfigError
from rewardforge.rewards import template as tproto
from rewardforge.rewards import worker as proto
from rewardforge.rewards.replies import OutputWindow

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
#: Arrays in shared memory start at multiples of this many bytes.
ALIGN = 64
#: After a request, poll the reply pipe without sleeping for this long: a worker answers a
#: small batch in tens of microseconds, and a sleep/wake-up pair costs about as much again.
SPIN_S = 0.0002


class WorkerGone(Exception):
    """The worker (or the template) closed its end, died, or broke the protocol."""

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
    """Finalizer: kill the template's process group (its workers too) and close descriptors."""
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


class TemplateProcess:
    """The template process; ``fork_worker`` starts a program worker from it in a millisecond."""

    def __init__(self, *, memory_mb: int, cpu_s: int, max_components: int) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        config = {
            "control_fd": theirs.fileno(),
            "memory_mb": memory_mb,
            "cpu_s": cpu_s,
            "max_components": max_components,
            "paths": _library_paths(),
        }
        self.started = time.perf_counter()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", str(WORKER_SCRIPT), json.dumps(config)],
                env=dict(WORKER_ENV),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
                cwd="/",
            )
        finally:
            theirs.close()
        ours.setblocking(False)
        self.sock = ours
        self._poll = select.poll()
        self._poll.register(ours.fileno(), select.POLLIN)
        self.layers: dict[str, list] | None = None
        self.startup_s: float | None = None
        self._finalizer = weakref.finalize(self, _reap, self.proc, [])

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _receive(self, deadline: float) -> bytes:
        while True:
            try:
                data = self.sock.recv(MAX_REPLY_BYTES)
            except BlockingIOError:
                now = time.monotonic()
                if now >= deadline or not self._poll.poll((deadline - now) * 1000.0):
                    raise WorkerLate from None
                continue
            except OSError as exc:
                raise WorkerGone(self.proc.poll(), f"template: {exc}") from None
            if not data:
                raise WorkerGone(self._returncode(), "the template process exited")
            return data

    def _returncode(self) -> int | None:
        try:
            return self.proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return None

    def _ask(self, data: bytes, timeout: float, fds: tuple[int, ...] = ()) -> bytes:
        try:
            if fds:
                socket.send_fds(self.sock, [data], list(fds))
            else:
                self.sock.send(data)
        except OSError as exc:
            raise WorkerGone(self.proc.poll(), f"template: {exc}") from None
        return self._receive(time.monotonic() + timeout)

    def wait_ready(self, timeout: float) -> dict[str, list]:
        if self.layers is None:
            reply = self._receive(time.monotonic() + timeout)
            if reply[:1] != tproto.READY:
                raise WorkerGone(self.proc.poll(), "template did not report ready")
            layers = json.loads(reply[1:].decode())
            if not isinstance(layers, dict):
                raise WorkerGone(self.proc.poll(), "malformed ready report")
            self.layers = layers
            self.startup_s = time.perf_counter() - self.started
            logger.debug("sandbox template %d ready in %.3f s", self.pid, self.startup_s)
        return self.layers

    def fork_worker(self, fds: tuple[int, int, int], timeout: float) -> int:
        """A new program worker holding ``fds`` (request pipe, reply pipe, shared memory)."""
        reply = self._ask(tproto.OP_FORK, timeout, fds)
        if reply[:1] != tproto.FORKED or len(reply) != 1 + tproto.PID.size:
            raise WorkerGone(self.proc.poll(), f"template could not fork: {reply[1:200]!r}")
        return int(tproto.PID.unpack_from(reply, 1)[0])

    def _status(self, data: bytes, timeout: float, pid: int) -> tuple[bool, int | None]:
        """(exited, exit status); (True, None) when the template cannot tell (it is gone, or
        the pid is not its worker)."""
        try:
            reply = self._ask(data, timeout)
        except (WorkerGone, WorkerLate):
            self.close()  # the template is broken: end it, and every worker with it
            return True, None
        if reply[:1] == tproto.STATUS and len(reply) == 1 + tproto.PID_STATUS.size:
            got, status = tproto.PID_STATUS.unpack_from(reply, 1)
            if got == pid:
                return True, int(status)
        if reply[:1] == tproto.ALIVE:
            return False, None
        logger.warning("sandbox template refused a request for worker %d: %r", pid, reply[:80])
        return True, None

    def kill_worker(self, pid: int) -> int | None:
        """SIGKILL a program worker and reap it; its exit status (None: unknown)."""
        return self._status(tproto.OP_KILL + tproto.PID.pack(pid), 5.0, pid)[1]

    def reap_worker(self, pid: int, timeout: float) -> tuple[bool, int | None]:
        """Wait up to ``timeout`` for a worker to exit: (exited, exit status)."""
        body = tproto.OP_REAP + tproto.PID_TIMEOUT.pack(pid, timeout)
        return self._status(body, timeout + 5.0, pid)

    def close(self) -> None:
        """Tell the template to kill its workers and exit; kill its process group after that."""
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.sock.send(tproto.OP_EXIT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=1.0)
        self._finalizer()
        self.sock.close()


class WorkerChannel:
    """One program worker, forked from ``template``; ``wait_ready`` reads its report."""

    def __init__(
        self, template: TemplateProcess, *, timeout: float, max_shm: int, shm_size: int = 1 << 20
    ) -> None:
        self.template = template
        self.max_shm = max_shm
        self.shm_fd = os.memfd_create("rewardforge-sandbox", os.MFD_CLOEXEC)
        to_worker_r, self.wfd = os.pipe()
        self.rfd, from_worker_w = os.pipe()
        fds = [self.rfd, self.wfd, self.shm_fd]
        try:
            os.ftruncate(self.shm_fd, shm_size)
            self.mm = mmap.mmap(self.shm_fd, shm_size)
            os.set_blocking(to_worker_r, False)  # the worker polls its reads (see worker.py)
            self.started = time.perf_counter()
            self.pid = template.fork_worker((to_worker_r, from_worker_w, self.shm_fd), timeout)
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        finally:
            os.close(to_worker_r)
            os.close(from_worker_w)
        self.shm_size = shm_size
        os.set_blocking(self.rfd, False)
        self.seq = 0
        self._buffer = bytearray()
        self._poll = select.poll()
        self._poll.register(self.rfd, select.POLLIN)
        self.report: dict[str, list] | None = None
        self.startup_s: float | None = None
        self.exit_status: int | None = None
        self._reaped = False
        #: EVAL request bodies by array layout (the sandbox builds them; they rarely change).
        self.requests: dict[tuple, tuple] = {}
        self._finalizer = weakref.finalize(self, _close_fds, fds)

    def alive(self) -> bool:
        """False once the worker has closed its reply pipe (it died, or was killed)."""
        if self._reaped:
            return False
        return not any(ev & (select.POLLHUP | select.POLLERR) for _, ev in self._poll.poll(0))

    def wait_ready(self, timeout: float) -> dict[str, list]:
        if self.report is None:
            reply = self.receive(time.monotonic() + timeout)
            if reply.status != proto.ST_READY:
                raise WorkerGone(self._returncode(), "worker did not report ready")
            report = json.loads(reply.body.decode())
            if not isinstance(report, dict):
                raise WorkerGone(self._returncode(), "malformed ready report")
            self.report = report
            self.startup_s = time.perf_counter() - self.started
        return self.report

    # --- shared memory -------------------------------------------------------------------
    def eval_request(
        self, key: int, arrays: list, batch: int, ncomp: int, max_components: int
    ) -> tuple[bytes, list[int], OutputWindow]:
        """The EVAL body for these arrays, their offsets in shared memory and where the worker
        may write its results (``ncomp`` components at most)."""
        offset, offsets = 0, []
        for _, array in arrays:
            offsets.append(offset)
            offset += -(-array.nbytes // ALIGN) * ALIGN
        out_size = 8 * batch * (1 + ncomp)
        if offset + out_size > self.max_shm:
            raise ConfigError(
                f"a batch of {batch} needs {(offset + out_size) >> 20} MiB of shared memory, more "
                f"than half the sandbox's memory limit ({self.max_shm >> 19} MiB); split the "
                f"batch or raise memory_mb"
            )
        self.ensure_shm(offset + out_size)
        parts = [
            proto.EVAL_HEAD.pack(1, len(arrays), batch, self.shm_size, offset, out_size),
            struct.pack("<I", key),
        ]
        for (name, array), at in zip(arrays, offsets, strict=True):
            raw = name.encode()
            parts.append(proto.ARRAY_HEAD.pack(len(raw), array.dtype.str.encode(), array.ndim, at))
            parts.append(raw + struct.pack(f"<{array.ndim}I", *array.shape))
        return b"".join(parts), offsets, OutputWindow(offset, out_size, batch, max_components)

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
        """Exit status of a worker whose pipe closed (killed after 1 s if it still runs)."""
        if not self._reaped:
            exited, status = self.template.reap_worker(self.pid, 1.0)
            if not exited:
                status = self.template.kill_worker(self.pid)
            self._reaped, self.exit_status = True, status
        return self.exit_status

    def kill(self) -> int | None:
        """Kill the worker (through the template, which reaps it); returns its exit status."""
        if not self._reaped:
            self._reaped, self.exit_status = True, self.template.kill_worker(self.pid)
        return self.exit_status

    def abandon(self) -> None:
        """Close our ends without a word to the template, which is about to kill every worker."""
        self._reaped = True
        self.close()

    def close(self) -> None:
        self.kill()
        with contextlib.suppress(BufferError):  # a view is still held; it goes with the process
            self.mm.close()
        self._finalizer()


def _close_fds(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
