"""The sandbox's template process: confined, it forks one program worker per reward program.

Loaded by ``worker.py`` from its own folder (standard library only). The template never runs
reward code: it is started with an empty environment, imports numpy, confines itself (see
``confinement``) and then only serves its parent's requests on a control socket (a
``SOCK_SEQPACKET`` pair the parent made; the parent's side is ``channel.TemplateProcess``):

    FORK + the worker's three descriptors (request pipe, reply pipe, shared memory)
        -> ``P`` + pid: a program worker forked from this clean state, which confines itself
           further (``confinement.confine_program``) and then serves one program
    KILL pid   -> SIGKILL it and reap it: ``S`` + pid + exit status
    REAP pid, timeout -> wait up to timeout for it to exit: ``S`` + status, or ``A`` + pid (alive)
    EXIT       -> kill and reap every worker, then exit

Because each program has a process of its own, forked before any program was loaded, one
candidate cannot reach another's functions, tables or memory, whatever it finds by walking
frames or the heap. Only the template reaps its workers, and only when the parent asks, so a
pid the parent knows is never reused behind its back. A fork takes about a millisecond, a
fresh interpreter a hundred.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import socket
import struct
import time

#: Requests and replies on the control socket (one datagram each).
OP_FORK, OP_KILL, OP_REAP, OP_EXIT = b"F", b"K", b"R", b"X"
READY, FORKED, STATUS, ALIVE, FAILED = b"Y", b"P", b"S", b"A", b"E"
PID = struct.Struct("<i")
PID_STATUS = struct.Struct("<ii")
PID_TIMEOUT = struct.Struct("<id")
#: Exit status of a program worker that could not confine itself (it runs no code then).
EXIT_CONFINE = 4
MAX_REQUEST = 64


def _close_others(keep: tuple[int, ...]) -> None:
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    for fd in range(3, max(limit, max(keep) + 1)):
        if fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)


class Template:
    """The template's request loop. ``run_program(rfd, wfd, shm_fd, isolation)`` is called in
    each forked worker once it is confined; it must never return."""

    def __init__(self, control: socket.socket, confinement, layers: dict, run_program) -> None:  # noqa: ANN001
        self.control = control
        self.confinement = confinement
        self.run_program = run_program
        self.seccomp = confinement.load_seccomp()
        self.landlock = bool(layers.get("landlock", [False])[0])
        self.children: set[int] = set()
        self.isolation = self.probe()
        layers["program isolation"] = self.isolation
        self.send(READY + json.dumps(layers).encode())

    def send(self, data: bytes) -> None:
        self.control.send(data)

    def probe(self) -> list:
        """Fork workers that confine themselves and exit: does per-program confinement work
        here? Without a Landlock domain of their own if that is what fails."""
        detail = "one process per program, forked from a template that runs no reward code"
        if self._probe_ok():
            parts = [detail, "own Landlock domain" if self.landlock else ""]
        elif self.landlock and self._probe_ok(landlock=False):
            self.landlock = False
            parts = [detail, "no Landlock domain of its own (it failed to apply)"]
        else:
            self.seccomp, self.landlock = "per-program confinement failed", False
            return [False, detail + "; its own Landlock domain and filter failed to apply"]
        if not isinstance(self.seccomp, str):
            parts.append("no fork, reaping or signals to others")
        return [True, ", ".join(p for p in parts if p)]

    def _probe_ok(self, landlock: bool | None = None) -> bool:
        landlock = self.landlock if landlock is None else landlock
        pid = os.fork()
        if pid == 0:
            try:
                self.confinement.confine_program(self.seccomp, landlock)
            except BaseException:  # noqa: BLE001
                os._exit(EXIT_CONFINE)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status) == 0

    def serve(self) -> None:
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(self.control, MAX_REQUEST, 3)
            except OSError:
                os._exit(0)
            if not data:
                os._exit(0)  # the parent is gone
            op, body = data[:1], data[1:]
            if op == OP_FORK and len(fds) == 3:
                self.fork(fds)
                continue
            for fd in fds:
                os.close(fd)
            if op == OP_KILL:
                (pid,) = PID.unpack_from(body)
                self.kill(pid)
            elif op == OP_REAP:
                pid, timeout = PID_TIMEOUT.unpack_from(body)
                self.reap(pid, timeout)
            elif op == OP_EXIT:
                for pid in list(self.children):
                    self.kill(pid, reply=False)
                os._exit(0)
            else:
                self.send(FAILED + b"bad request")

    def fork(self, fds: list[int]) -> None:
        rfd, wfd, shm_fd = fds
        try:
            pid = os.fork()
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            self.send(FAILED + str(exc).encode()[:200])
            return
        if pid == 0:  # the program worker: nothing of the template's but its clean state
            try:
                _close_others((rfd, wfd, shm_fd))
                self.confinement.confine_program(self.seccomp, self.landlock)
            except BaseException:  # noqa: BLE001
                os._exit(EXIT_CONFINE)
            try:
                self.run_program(rfd, wfd, shm_fd, self.isolation)
            finally:
                os._exit(0)
        for fd in fds:
            os.close(fd)
        self.children.add(pid)
        self.send(FORKED + PID.pack(pid))

    def kill(self, pid: int, *, reply: bool = True) -> None:
        if pid not in self.children:
            if reply:
                self.send(FAILED + b"not a worker of this template")
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
        _, status = os.waitpid(pid, 0)
        self.children.discard(pid)
        if reply:
            self.send(STATUS + PID_STATUS.pack(pid, os.waitstatus_to_exitcode(status)))

    def reap(self, pid: int, timeout: float) -> None:
        if pid not in self.children:
            self.send(FAILED + b"not a worker of this template")
            return
        end = time.monotonic() + max(0.0, min(timeout, 10.0))
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                self.children.discard(pid)
                self.send(STATUS + PID_STATUS.pack(pid, os.waitstatus_to_exitcode(status)))
                return
            if time.monotonic() >= end:
                self.send(ALIVE + PID.pack(pid))
                return
            time.sleep(0.0005)
