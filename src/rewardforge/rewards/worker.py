"""The sandbox's processes: a template that forks one program worker per reward program.

``python -I worker.py CONFIG`` is started by ``rewardforge.rewards.channel`` with an empty
environment, in its own session. It imports numpy, confines itself (see ``confinement``):
resource limits, a new network namespace, an unprivileged user, no_new_privs, Landlock without
any allowed path, a seccomp filter; and becomes the *template* (``template.py``), which runs no
reward code and forks a *program worker* for each program. A program worker confines itself
further and serves one program: requests come down a pipe, arrays travel through a shared
memory file (a memfd the parent created), replies go up another pipe.

This file imports only the standard library and numpy, so a worker starts in about 0.1 s. The
parent imports it for the protocol constants. Nothing here is trusted by the parent: every reply
is parsed with ``struct`` and checked there.
"""

from __future__ import annotations

import builtins
import json
import math
import mmap
import os
import select
import struct
import sys
import time

import numpy as np

# --- protocol (shared with the parent) -----------------------------------------------------
#: Every message: body length, sequence number, op (parent -> worker) or status (worker -> parent).
FRAME = struct.Struct("<IIB")
OP_ADD, OP_REMOVE, OP_EVAL, OP_EXIT = 1, 2, 3, 4
ST_OK, ST_OK_ROW, ST_RAISED, ST_BAD_OUTPUT, ST_MEMORY, ST_REJECTED, ST_READY = range(7)
#: EVAL body: nkeys, narrays, batch, shm size, output offset, output size; then keys, arrays.
EVAL_HEAD = struct.Struct("<HHIQQQ")
#: One array in EVAL: name length, dtype (3 chars, e.g. '<f8'), ndim, offset; then name, shape.
ARRAY_HEAD = struct.Struct("<B3sBQ")
#: OK reply body: key, offset of the (1 + ncomp, batch) float64 block, ncomp; then names.
OK_HEAD = struct.Struct("<IQH")
KEY = struct.Struct("<I")
#: Exit code of a worker that hit its memory limit.
EXIT_MEMORY = 3
REWARD_FILENAME = "<reward>"
DTYPES = frozenset({"<f8", "<f4", "<i8", "<i4", "|b1", "|u1", "|i1", "<i2", "<u4", "<u8"})
#: Error texts that mark code written for one sample rather than a batch.
SCALAR_SIGNS = (
    "truth value of an array",
    "only length-1 arrays",
    "only 0-dimensional arrays",
    "only size-1 arrays",
    "only integer scalar arrays",
)


class BadOutput(Exception):
    """The program returned something that is not ``(reward (B,), {name: (B,)})``."""


#: Poll for the next request without sleeping for this long, but only while requests come
#: back to back (relabelling a buffer, screening, a benchmark): waking a sleeping process costs
#: tens of microseconds on a virtual machine. A worker whose last request came later than this
#: sleeps at once, so a training loop's spaced calls cost no CPU.
SPIN_S = 0.0001


class Worker:
    def __init__(self, config: dict) -> None:
        self.rfd = config["rfd"]
        self.wfd = config["wfd"]
        self.shm_fd = config["shm_fd"]
        self.max_components = int(config["max_components"])
        self.shm_size = 0
        self.mm: mmap.mmap | None = None
        self.programs: dict[int, list] = {}  # key -> [function, params, mode]
        self.snapshots: list[tuple[dict, dict]] = []
        self.last_key: int | None = None
        self.inbox = bytearray()
        self.plans: dict[bytes, tuple] = {}  # EVAL body -> parsed layout with array views
        if os.get_blocking(self.rfd):  # reads poll (see SPIN_S); the parent set it already,
            os.set_blocking(self.rfd, False)  # since ioctl(FIONBIO) is denied once confined
        self._poll = select.poll()
        self._poll.register(self.rfd, select.POLLIN)
        self._spin = True  # did the last request come within SPIN_S?

    # --- messages -----------------------------------------------------------------------
    def send(self, seq: int, status: int, body: bytes = b"") -> None:
        data = FRAME.pack(len(body), seq, status) + body
        while data:
            data = data[os.write(self.wfd, data) :]

    def send_error(self, seq: int, status: int, key: int, detail: dict) -> None:
        self.send(seq, status, KEY.pack(key) + json.dumps(detail).encode()[:8000])

    def _read_some(self) -> bytes:
        start = time.perf_counter()
        if not self._spin:
            self._poll.poll()  # sleep until the parent writes (or closes its end)
        while True:
            try:
                chunk = os.read(self.rfd, 1 << 16)
                break
            except BlockingIOError:
                if time.perf_counter() - start >= SPIN_S:
                    self._poll.poll()
        self._spin = time.perf_counter() - start < SPIN_S
        if not chunk:
            os._exit(0)  # the parent is gone
        return chunk

    def receive(self) -> tuple[int, int, bytes]:
        """The next request: one read() for a small one (a read per frame part costs more)."""
        inbox = self.inbox
        while len(inbox) < FRAME.size:
            inbox += self._read_some()
        length, seq, op = FRAME.unpack_from(inbox)
        while len(inbox) < FRAME.size + length:
            inbox += self._read_some()
        body = bytes(inbox[FRAME.size : FRAME.size + length])
        del inbox[: FRAME.size + length]
        return seq, op, body

    def serve(self) -> None:
        while True:
            seq, op, body = self.receive()
            if op == OP_EVAL:
                self.evaluate(seq, body)
            elif op == OP_ADD:
                self.add(seq, body)
            elif op == OP_REMOVE:
                self.programs.pop(KEY.unpack_from(body)[0], None)
                self.send(seq, ST_OK, body[:4])
            else:
                os._exit(0)

    # --- programs -----------------------------------------------------------------------
    def add(self, seq: int, body: bytes) -> None:
        (key,) = KEY.unpack_from(body)
        spec = json.loads(body[4:].decode())
        namespace: dict[str, object] = {
            "__builtins__": dict(builtins.__dict__),
            "__name__": "reward",
            "np": np,
            "numpy": np,
            "math": math,
        }
        try:
            code = compile(spec["source"], REWARD_FILENAME, "exec")
        except SyntaxError as exc:
            detail = {"type": "SyntaxError", "message": str(exc.msg), "line": exc.lineno}
            self.send_error(seq, ST_REJECTED, key, detail)
            return
        try:
            exec(code, namespace)  # noqa: S102 - confined by the OS layers, see module docstring
            function = namespace["compute_reward"]
            if not callable(function):
                raise TypeError("compute_reward is not a function")
        except MemoryError:
            self.memory_exhausted(seq, key)
        except BaseException as exc:  # noqa: BLE001 - everything the program raises is data
            self.send_error(seq, ST_RAISED, key, describe(exc))
            return
        finally:
            self.restore()
            self.last_key = None
        self.programs[key] = [function, list(spec["params"]), "batch"]
        self.send(seq, ST_OK, KEY.pack(key))

    def memory_exhausted(self, seq: int, key: int) -> None:
        self.send_error(seq, ST_MEMORY, key, {"type": "MemoryError", "message": "", "line": None})
        os._exit(EXIT_MEMORY)

    def snapshot(self) -> None:
        """Remember the shared namespaces, so one program cannot rewire numpy for the next."""
        for module in (np, math, builtins):
            self.snapshots.append((module.__dict__, dict(module.__dict__)))
        self.snapshots.append((sys.modules, dict(sys.modules)))

    def restore(self) -> None:
        for live, saved in self.snapshots:
            if live != saved:
                live.clear()
                live.update(saved)

    # --- evaluation ---------------------------------------------------------------------
    def map_shm(self, size: int) -> mmap.mmap:
        if size != self.shm_size or self.mm is None:
            # the old mapping goes when nothing (a program, say) holds a view of it any more
            self.mm = mmap.mmap(self.shm_fd, size)
            self.shm_size = size
            self.plans.clear()
        return self.mm

    def plan(self, body: bytes) -> tuple:
        """Keys, input arrays (views of shared memory), batch and output window of a request."""
        nkeys, narr, batch, shm_size, out_offset, out_size = EVAL_HEAD.unpack_from(body)
        pos = EVAL_HEAD.size
        keys = struct.unpack_from(f"<{nkeys}I", body, pos)
        pos += 4 * nkeys
        mm = self.map_shm(shm_size)
        arrays = {}
        for _ in range(narr):
            name_len, dtype, ndim, offset = ARRAY_HEAD.unpack_from(body, pos)
            pos += ARRAY_HEAD.size
            name = body[pos : pos + name_len].decode()
            pos += name_len
            shape = struct.unpack_from(f"<{ndim}I", body, pos)
            pos += 4 * ndim
            count = math.prod(shape)
            arrays[name] = np.frombuffer(mm, dtype.decode(), count, offset).reshape(shape)
        return keys, arrays, batch, mm, out_offset, out_offset + out_size

    def evaluate(self, seq: int, body: bytes) -> None:
        plan = self.plans.get(body)
        if plan is None or plan[3] is not self.mm:
            plan = self.plan(body)
            if len(self.plans) > 256:
                self.plans.clear()
            self.plans[body] = plan
        keys, arrays, batch, mm, cursor, end = plan
        for key in keys:
            cursor = self.evaluate_one(seq, key, arrays, batch, len(keys) > 1, mm, cursor, end)

    def evaluate_one(self, seq, key, arrays, batch, copy, mm, cursor, end) -> int:
        entry = self.programs.get(key)
        if entry is None:
            detail = {"type": "KeyError", "message": f"no program with key {key}", "line": None}
            self.send_error(seq, ST_RAISED, key, detail)
            return cursor
        function, params, mode = entry
        args = {p: (arrays[p].copy() if copy else arrays[p]) for p in params}
        if key != self.last_key:
            self.restore()  # whatever the previous program did to numpy, math, builtins
            self.last_key = key
        try:
            try:
                if mode == "row":
                    raise _RowMode
                reward, components = check_output(function(**args), batch)
            except (_RowMode, BadOutput, TypeError, ValueError) as exc:
                if not _scalar_style(exc) or (batch == 1 and not isinstance(exc, _RowMode)):
                    raise
                reward, components = run_rows(function, args, batch)
                entry[2] = "row"
        except MemoryError:
            self.memory_exhausted(seq, key)
        except BadOutput as exc:
            self.send_error(seq, ST_BAD_OUTPUT, key, {"type": "BadOutput", "message": str(exc)})
            return cursor
        except BaseException as exc:  # noqa: BLE001
            self.send_error(seq, ST_RAISED, key, describe(exc))
            return cursor
        if len(components) > self.max_components:
            message = f"returned {len(components)} components; at most {self.max_components}"
            self.send_error(seq, ST_BAD_OUTPUT, key, {"type": "BadOutput", "message": message})
            return cursor
        size = 8 * batch * (1 + len(components))
        if cursor + size > end:
            message = "output does not fit the shared memory block"
            self.send_error(seq, ST_BAD_OUTPUT, key, {"type": "BadOutput", "message": message})
            return cursor
        block = np.frombuffer(mm, "<f8", batch * (1 + len(components)), cursor)
        block = block.reshape(1 + len(components), batch)
        block[0] = reward
        names = b""
        for i, (name, value) in enumerate(components.items(), start=1):
            block[i] = value
            raw = name.encode()[:255]
            names += bytes([len(raw)]) + raw
        status = ST_OK_ROW if entry[2] == "row" else ST_OK
        self.send(seq, status, OK_HEAD.pack(key, cursor, len(components)) + names)
        return cursor + size


class _RowMode(Exception):
    pass


def _scalar_style(exc: BaseException) -> bool:
    if isinstance(exc, _RowMode):
        return True
    text = str(exc)
    return isinstance(exc, BadOutput) and "scalar" in text or any(s in text for s in SCALAR_SIGNS)


def _as_float(value, what: str, batch: int, scalar_ok: bool = False) -> np.ndarray:
    if isinstance(value, (str, bytes, dict, set)) or value is None:
        raise BadOutput(
            f"{what} must be a numeric array of shape ({batch},), got {type(value).__name__}"
        )
    try:
        array = np.asarray(value)
    except Exception as exc:  # noqa: BLE001
        raise BadOutput(f"{what} could not be turned into an array: {exc}") from None
    if array.dtype.kind not in "biuf":
        raise BadOutput(
            f"{what} must be numeric (float, int or bool), got an array of dtype {array.dtype}"
        )
    if array.shape == () and batch > 1 and not scalar_ok:
        raise BadOutput(f"{what} is a scalar for a batch of {batch}")
    if array.shape == (batch,) or array.shape == ():
        return array  # written into the float64 result block, which casts and broadcasts
    raise BadOutput(
        f"{what} has shape {array.shape}; it must have shape ({batch},), one value per row "
        f"(reduce extra axes, e.g. with np.sum(..., axis=-1))"
    )


def check_output(result, batch: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    if not (isinstance(result, tuple) and len(result) == 2):
        got = (
            f"a tuple of {len(result)} items"
            if isinstance(result, tuple)
            else type(result).__name__
        )
        raise BadOutput(f"compute_reward must return (reward, components_dict), got {got}")
    reward, components = result
    if not isinstance(components, dict):
        raise BadOutput(
            f"the second value returned must be a dict of named components, got {type(components).__name__}"
        )
    out = {}
    for name, value in components.items():
        if not isinstance(name, str) or not name.isidentifier() or len(name) > 64:
            raise BadOutput(f"component names must be short identifiers, got {name!r:.80}")
        out[name] = _as_float(value, f"component {name!r}", batch, scalar_ok=True)
    return _as_float(reward, "reward", batch), out


def run_rows(function, args: dict, batch: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Evaluate code written for a single sample one row at a time."""
    rewards = np.empty(batch)
    columns: dict[str, np.ndarray] = {}
    names: list[str] | None = None
    for i in range(batch):
        reward, components = check_output(function(**{k: v[i] for k, v in args.items()}), 1)
        if names is None:
            names = list(components)
            columns = {n: np.empty(batch) for n in names}
        elif list(components) != names:
            raise BadOutput(f"row {i} returned components {list(components)}, row 0 {names}")
        rewards[i] = reward.reshape(-1)[0]
        for name, value in components.items():
            columns[name][i] = value.reshape(-1)[0]
    return rewards, columns


def describe(exc: BaseException) -> dict:
    """Type, message and the line of the reward code where ``exc`` was raised."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == REWARD_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    try:
        message = str(exc)[:2000]
    except BaseException:  # noqa: BLE001
        message = "<message could not be printed>"
    return {"type": type(exc).__name__[:100], "message": message, "line": line}


def _sibling(name: str):  # noqa: ANN202 - a module loaded from this folder by path
    import importlib.util

    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"rewardforge_{name}", here)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def main() -> None:
    config = json.loads(sys.argv[1])
    for path in reversed(config.get("paths", [])):
        if path not in sys.path:
            sys.path.insert(0, path)
    import socket

    import numpy.fft  # noqa: F401  - preload what reward code may use: no file opens later
    import numpy.linalg  # noqa: F401
    import numpy.random  # noqa: F401

    confinement, template = _sibling("confinement"), _sibling("template")
    control = socket.socket(fileno=config["control_fd"])
    layers = confinement.confine(config, template=True)
    max_components = int(config["max_components"])

    def run_program(rfd: int, wfd: int, shm_fd: int, isolation: list) -> None:
        worker = Worker(
            {"rfd": rfd, "wfd": wfd, "shm_fd": shm_fd, "max_components": max_components}
        )
        worker.snapshot()
        worker.send(0, ST_READY, json.dumps({"program isolation": isolation}).encode())
        worker.serve()

    template.Template(control, confinement, layers, run_program).serve()


if __name__ == "__main__":
    main()
