"""``EnvWorker``: a task's vector environment stepping in a child process.

A trainer on a machine with a spare core overlaps its gradient updates with environment steps:
it sends the next actions (``step_async``), updates its networks while the child steps, then
collects the ``StepResult`` (``step_wait``). The order of work is fixed, so a run is the same
whatever the timing. The child is a fresh interpreter running this module (never a forked copy
of a process with the trainer's threads, and never a re-import of the caller's ``__main__``)
that builds the ``TaskVecEnv``; task code is trusted code there, as in-process.

The interface is ``TaskVecEnv``'s (``reset``, ``step``, ``sample_actions``, the spaces,
``close``) plus ``step_async``/``step_wait`` and ``rebuild`` (a new environment of another size
in the same process, for a population that dropped members). A child that dies is reported as a
``TrainerError`` naming its exit code; an exception raised by the environment is re-raised here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from rewardforge.errors import TaskError, TrainerError
from rewardforge.tasks.spec import Task
from rewardforge.tasks.vecenv import StepResult, TaskVecEnv

logger = logging.getLogger(__name__)

#: Seconds to wait for the child to build its environment or to exit.
START_TIMEOUT_S = 120.0


def _serve(conn: Connection) -> None:
    """The child's loop: receive the task, build the environment, answer until ``close``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    env: TaskVecEnv | None = None
    try:
        task, num_envs, seed = conn.recv()
        env = TaskVecEnv(task, num_envs=num_envs, seed=seed)
        spaces = (env.single_observation_space, env.single_action_space, env.observation_slices)
        conn.send(("ok", spaces))
        while True:
            cmd, arg = conn.recv()
            if cmd == "step":
                conn.send(("ok", env.step(arg)))
            elif cmd == "reset":
                conn.send(("ok", env.reset(seed=arg)))
            elif cmd == "rebuild":
                env.close()
                env = TaskVecEnv(task, num_envs=arg[0], seed=arg[1])
                conn.send(("ok", None))
            elif cmd == "close":
                break
    except (EOFError, KeyboardInterrupt, BrokenPipeError, ConnectionResetError):
        pass
    except Exception as exc:  # the environment failed: tell the parent what happened
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
            conn.send(("error", _portable(exc)))
    finally:
        if env is not None:
            env.close()
        conn.close()


def _portable(exc: Exception) -> Exception:
    """``exc`` if it survives pickling, else a ``TaskError`` with its text."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return TaskError(f"{type(exc).__name__}: {exc}")


class EnvWorker:
    """A ``TaskVecEnv`` of ``num_envs`` environments served by one child process."""

    def __init__(self, task: Task, num_envs: int = 1, seed: int | None = None) -> None:
        if num_envs < 1:
            raise TaskError(f"num_envs must be at least 1, got {num_envs}")
        self.task = task
        self.num_envs = num_envs
        # A fresh interpreter running this module (not multiprocessing's spawn, which would
        # re-import the caller's __main__); it sees the same import path as this process.
        parent, child = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", __name__, str(child.fileno())],
            pass_fds=(child.fileno(),),
            env=env,
            stdin=subprocess.DEVNULL,
        )
        child.close()
        self._conn = Connection(parent.detach())
        self._conn.send((task, num_envs, seed))
        self._pending = False
        self._closed = False
        spaces = self._reply("starting", START_TIMEOUT_S)
        self.single_observation_space, self.single_action_space = spaces[0], spaces[1]
        self.observation_slices: dict[str, slice] = spaces[2]
        import gymnasium as gym

        self.discrete = isinstance(self.single_action_space, gym.spaces.Discrete)

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    def _reply(self, doing: str, timeout: float | None = None) -> Any:
        try:
            if timeout is not None and not self._conn.poll(timeout):
                raise TrainerError(
                    f"environment worker for task {self.task.id} did not answer within "
                    f"{timeout:.0f} s while {doing}"
                )
            status, value = self._conn.recv()
        except (EOFError, ConnectionResetError, BrokenPipeError):
            code = self._exit_code()
            raise TrainerError(
                f"environment worker (pid {self._proc.pid}) for task {self.task.id} died while "
                f"{doing} (exit code {code}); the training stops. A negative code "
                "is the signal that killed it (-9: killed, e.g. out of memory)"
            ) from None
        if status == "error":
            raise value
        return value

    def _send(self, cmd: str, arg: Any, doing: str) -> None:
        if self._closed:
            raise TrainerError(f"environment worker for task {self.task.id} is closed")
        try:
            self._conn.send((cmd, arg))
        except (BrokenPipeError, ConnectionResetError, OSError):
            self._reply(doing)  # raises with the exit code
            raise

    def reset(self, seed: int | None = None) -> np.ndarray:
        self._send("reset", seed, "resetting")
        return self._reply("resetting")  # type: ignore[no-any-return]

    def step_async(self, action: np.ndarray) -> None:
        """Start stepping with ``action``; collect the result with ``step_wait``."""
        if self._pending:
            raise TrainerError("step_async called twice without step_wait")
        self._send("step", np.asarray(action), "stepping")
        self._pending = True

    def step_wait(self) -> StepResult:
        if not self._pending:
            raise TrainerError("step_wait called without step_async")
        self._pending = False
        return self._reply("stepping")  # type: ignore[no-any-return]

    def step(self, action: np.ndarray) -> StepResult:
        self.step_async(action)
        return self.step_wait()

    def rebuild(self, num_envs: int, seed: int | None) -> None:
        """Replace the environment with one of ``num_envs`` environments (not yet reset)."""
        self._send("rebuild", (num_envs, seed), "rebuilding")
        self._reply("rebuilding")
        self.num_envs = num_envs

    def sample_actions(self, rng: np.random.Generator) -> np.ndarray:
        """Uniform random actions, drawn here (see ``TaskVecEnv.sample_actions``)."""
        return TaskVecEnv.sample_actions(self, rng)  # type: ignore[arg-type]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._pending:
                self._conn.recv()
            self._conn.send(("close", None))
        except (EOFError, BrokenPipeError, ConnectionResetError, OSError):
            pass
        try:
            self._proc.wait(START_TIMEOUT_S / 10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._conn.close()

    def _exit_code(self) -> int | None:
        try:
            return self._proc.wait(5)
        except subprocess.TimeoutExpired:
            return None

    def __enter__(self) -> EnvWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort at interpreter exit
        if not getattr(self, "_closed", True) and getattr(self, "_proc", None) is not None:
            with contextlib.suppress(Exception):
                self._proc.kill()


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])))
