"""One error root for rewardforge. Every message says what happened, what was expected, and
how to fix it. The CLI prints ``str(error)`` and exits non-zero; ``--debug`` shows the traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A " Did you mean 'x'?" suffix, or "" when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


class RewardforgeError(Exception):
    """Root of every error rewardforge raises on purpose."""


class ConfigError(RewardforgeError, ValueError):
    """A setting, argument or option has a wrong value."""


class MissingExtraError(RewardforgeError, ImportError):
    """An optional dependency group is not installed."""

    def __init__(self, module: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the Python package {module!r}, which is not installed. "
            f"Install it with: pip install 'rewardforge[{extra}]'"
        )
        self.module = module
        self.extra = extra


# --- tasks -------------------------------------------------------------------------------
class TaskError(RewardforgeError):
    """A task could not be found, loaded or run."""


class TaskNotFoundError(TaskError, KeyError):
    """No task is registered under the given id."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


class TaskFileError(TaskError, ValueError):
    """A task file is malformed: the message names the file and the field."""


class VariableError(TaskError):
    """A task variable could not be computed or has the wrong shape or dtype."""


class TaskCodeTimeoutError(TaskError):
    """A task file's code (a variable source, success or score code) ran past its time limit."""


# --- reward programs ----------------------------------------------------------------------
class RewardError(RewardforgeError):
    """A reward program failed. Subclasses say how; ``kind`` is a stable short name."""

    kind = "error"


class RewardExtractionError(RewardError, ValueError):
    """No reward function could be found in a model's answer."""

    kind = "rejected"


class RewardRejectedError(RewardError, ValueError):
    """The reward program failed to parse or lint."""

    kind = "rejected"


class RewardRaisedError(RewardError):
    """The reward program raised an exception while running."""

    kind = "raised"

    def __init__(self, message: str, *, exc_type: str | None = None, line: int | None = None):
        super().__init__(message)
        self.exc_type = exc_type
        self.line = line


class RewardOutputError(RewardError):
    """The reward program returned something of the wrong shape, type, or non-finite values."""

    kind = "bad_output"


class RewardTimeoutError(RewardError):
    """The reward program ran past its deadline."""

    kind = "timeout"

    def __init__(self, message: str, *, deadline_s: float | None = None):
        super().__init__(message)
        self.deadline_s = deadline_s


class RewardWorkerDiedError(RewardError):
    """The sandbox worker died (forbidden system call, memory or CPU limit, exit)."""

    kind = "worker_died"

    def __init__(
        self,
        message: str,
        *,
        reason: str = "exit",
        returncode: int | None = None,
        quarantined: bool = False,
    ):
        super().__init__(message)
        #: "forbidden_syscall", "memory", "cpu", "exit", "signal", "protocol" or "sandbox" (the
        #: template died under it: not the program's doing)
        self.reason = reason
        self.returncode = returncode
        self.quarantined = quarantined


class SandboxUnavailableError(RewardError):
    """A sandbox layer that was required (``--sandbox strict``) is missing on this machine."""

    kind = "sandbox_unavailable"


# --- training -----------------------------------------------------------------------------
class TrainerError(RewardforgeError):
    """A trainer was misconfigured or failed."""


# --- models -------------------------------------------------------------------------------
class ModelError(RewardforgeError):
    """Talking to a language model failed."""

    def __init__(
        self, message: str, *, status_code: int | None = None, request_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.request_id = request_id


class ModelConfigError(ModelError, ConfigError):
    """A provider is not configured (missing key, endpoint or model name)."""


class ModelAuthError(ModelError):
    """The provider rejected the credentials."""


class ModelRequestError(ModelError):
    """The provider rejected the request (bad request, unknown model) or it kept failing."""


class ModelUnavailableError(ModelRequestError):
    """The provider kept failing (rate limits, server errors, timeouts) until retries ran out."""


class ModelResponseError(ModelError):
    """The provider's answer was malformed, empty or truncated."""


class ModelTruncatedError(ModelResponseError):
    """The answer stopped at the token limit; the partial text is kept in ``text``."""

    def __init__(
        self,
        message: str,
        *,
        text: str = "",
        status_code: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, request_id=request_id)
        self.text = text


class CacheMissError(ModelError):
    """Replay mode asked for an answer that is not in the cache."""


class BudgetExceededError(ModelError):
    """The token or cost budget of the search is spent."""


# --- runs ---------------------------------------------------------------------------------
class RunError(RewardforgeError):
    """A run could not be found, stored, resumed or exported."""


class RunNotFoundError(RunError, KeyError):
    """No run with the given id exists in the workspace."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
