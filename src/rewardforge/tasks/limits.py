"""A time limit on task code, which runs in this process.

A task file is code, like a ``setup.py``: its variable sources, success and score code run in
rewardforge's own process, unsandboxed (only reward code and model-written success criteria go
through the sandbox). They get a limit of CPU time per call, so an endless ``is_success`` is an
error that names it, not a hang. The limit is a ``SIGVTALRM`` timer (CPU time, so a busy
machine does not trip it, and pytest-timeout's ``SIGALRM`` stays free); it applies in the main
thread, where trainers run task code, and is set and cleared around each call (two system calls).
"""

from __future__ import annotations

import signal
import threading

from rewardforge.errors import TaskCodeTimeoutError

#: CPU seconds one call of task code may take.
TASK_CODE_LIMIT_S = 10.0


class _State(threading.local):
    what: str | None = None
    installed = False


_state = _State()


def _on_timer(signum: int, frame: object) -> None:
    what, _state.what = _state.what, None
    if what is not None:
        raise TaskCodeTimeoutError(
            f"{what} ran for more than {TASK_CODE_LIMIT_S:g} s of CPU time (an endless loop?) and "
            f"was stopped; task code runs at every step and must return quickly: fix the task file"
        )


class task_code_limit:  # noqa: N801 - used like a function: ``with task_code_limit(what):``
    """Run the body under the task-code limit; ``what`` names the code in the error. Cheap
    enough for every step (about two system calls): build it once and enter it many times."""

    __slots__ = ("armed", "what")

    def __init__(self, what: str) -> None:
        self.what = what
        self.armed = False

    def __enter__(self) -> None:
        if _state.what is not None or threading.get_ident() != _MAIN_THREAD:
            return  # nested, or not where signals are delivered: the outer limit (if any) holds
        if not _state.installed:
            signal.signal(signal.SIGVTALRM, _on_timer)
            _state.installed = True
        _state.what = self.what
        self.armed = True
        signal.setitimer(signal.ITIMER_VIRTUAL, TASK_CODE_LIMIT_S)

    def __exit__(self, *exc: object) -> None:
        if self.armed:
            signal.setitimer(signal.ITIMER_VIRTUAL, 0)
            _state.what = None
            self.armed = False


_MAIN_THREAD = threading.main_thread().ident
