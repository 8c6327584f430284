"""Saying what a search is waiting for: a request to a model that has not answered yet.

A server that accepts the connection and never answers used to leave a search silent until the
request timed out (and again for each retry). ``waiting_notice`` logs, at warning level (the CLI
shows warnings), which model at which address has been asked and for how long, every
``WAIT_NOTICE_S`` seconds until the answer comes or the request times out.
"""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType

logger = logging.getLogger(__name__)

#: Seconds without an answer before the first notice, and between notices.
WAIT_NOTICE_S = 15.0


class waiting_notice:  # noqa: N801 - used like a function: ``with waiting_notice(...):``
    """Log "waiting for MODEL at URL since N s" while the body runs longer than ``every_s``."""

    def __init__(
        self, model: str, endpoint: str, timeout_s: float, *, every_s: float | None = None
    ) -> None:
        self.model = model
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.every_s = WAIT_NOTICE_S if every_s is None else every_s
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self.notices = 0

    def __enter__(self) -> waiting_notice:
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._watch, name="model-wait", daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._done.wait(self.every_s):
            self.notices += 1
            logger.warning(
                "waiting for %s at %s since %.0f s (no answer yet; this request times out "
                "after %g s, set with --request-timeout)",
                self.model,
                self.endpoint,
                time.monotonic() - self.started,
                self.timeout_s,
            )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
