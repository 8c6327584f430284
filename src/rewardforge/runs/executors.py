"""Executors: where trainings run. ``LocalExecutor`` uses worker processes on this machine,
``RayExecutor`` sends each job to a Ray cluster as a task with a resource request.

An executor maps a picklable function over picklable jobs and yields a ``JobReport`` as each
job finishes (not in submission order), so the caller records results while slower jobs still
run. A job whose worker dies is tried again (``max_retries``); every attempt is reported in
``JobReport.attempts``. A job that fails for good is a report with its ``error``, never an
exception that ends the caller's loop.

Nothing here knows what a job is: the search builds training jobs (``search/jobs.py``) and
records what comes back. Pick one with ``make_executor``::

    with make_executor("ray", address="auto") as ex:
        for report in ex.map_unordered(fn, jobs):
            ...  # report.index, report.result or report.error, report.attempts
"""

from __future__ import annotations

import ast
import logging
import multiprocessing
import os
import socket
import sys
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

from rewardforge.errors import ConfigError, MissingExtraError

logger = logging.getLogger(__name__)

__all__ = [
    "EXECUTORS",
    "Executor",
    "JobReport",
    "LocalExecutor",
    "RayExecutor",
    "main_reruns_on_spawn",
    "make_executor",
    "usable_cores",
]

J = TypeVar("J")
R = TypeVar("R")

EXECUTORS = ("local", "ray")
#: Tries after the first when a worker process (or its node) dies during a job.
DEFAULT_MAX_RETRIES = 3
#: Ray task names (``ray::rewardforge-job-3`` in ``ps`` while the task runs).
RAY_TASK_NAME = "rewardforge-job"


@dataclass(frozen=True)
class JobReport(Generic[R]):
    """One finished job: its position in the submitted list, its result or error, and where
    each attempt ran (``host:pid``; more than one entry means the job was retried)."""

    index: int
    result: R | None
    error: str | None
    attempts: tuple[str, ...]

    @property
    def retries(self) -> int:
        return max(0, len(self.attempts) - 1)


def here() -> str:
    """``host:pid`` of the calling process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask; ``os.cpu_count()`` elsewhere)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def main_reruns_on_spawn() -> bool:
    """Whether a ``spawn``ed worker would run this program's top-level code again: the main
    module has source whose top level lacks an ``if __name__ == "__main__":`` guard. (A
    program run that way would start its search again in every worker.)"""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    name = getattr(spec, "name", None) or ""
    if name == "__main__" or name.endswith(".__main__"):
        return False  # ``python -m package``: multiprocessing does not run it again
    path = getattr(spec, "origin", None) or getattr(main, "__file__", None)
    if not path or not str(path).endswith(".py"):
        return False  # an interactive session or a notebook: nothing to run again
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return False
    return not any(isinstance(node, ast.If) and _is_main_guard(node.test) for node in tree.body)


def _is_main_guard(test: ast.expr) -> bool:
    if not isinstance(test, ast.Compare) or len(test.comparators) != 1:
        return False
    sides = [test.left, test.comparators[0]]
    names = {s.id for s in sides if isinstance(s, ast.Name)}
    texts = {s.value for s in sides if isinstance(s, ast.Constant)}
    return names == {"__name__"} and texts == {"__main__"}


class Executor(ABC):
    """Runs jobs somewhere and reports each as it finishes."""

    name = "?"

    @property
    @abstractmethod
    def parallelism(self) -> int:
        """How many jobs run at once (callers split their work into this many jobs)."""

    @abstractmethod
    def map_unordered(self, fn: Callable[[J], R], jobs: Sequence[J]) -> Iterator[JobReport[R]]:
        """Run ``fn(job)`` for every job; yield a report as each one finishes."""

    @abstractmethod
    def close(self) -> None:
        """Release worker processes or the cluster connection."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- local worker processes -------------------------------------------------------------------
def _local_attempt(fn: Callable[[J], R], job: J) -> tuple[R, str]:
    return fn(job), here()


class LocalExecutor(Executor):
    """Jobs in ``workers`` processes on this machine (default: one per usable core; with 2 or
    more workers and at least as many cores, each worker runs on a core of its own).

    Workers are started with ``spawn`` (a fresh interpreter: the trainers' threads and the
    reward sandbox's own worker processes never meet a forked copy of this one) and kept for
    the executor's life. When a worker dies the pool breaks and every job not yet finished is
    lost (those still queued count that as an attempt too); they run again in a fresh pool, up
    to ``max_retries`` more times.
    """

    name = "local"

    def __init__(self, workers: int | None = None, *, max_retries: int = DEFAULT_MAX_RETRIES):
        workers = workers if workers is not None else usable_cores()
        if workers < 1:
            raise ConfigError(f"LocalExecutor needs at least 1 worker, got {workers}")
        if max_retries < 0:
            raise ConfigError(f"max_retries must be 0 or more, got {max_retries}")
        self.workers = workers
        self.max_retries = max_retries
        self._pool: ProcessPoolExecutor | None = None

    @property
    def parallelism(self) -> int:
        return self.workers

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = multiprocessing.get_context("spawn")
            cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
            if 1 < self.workers <= len(cores):
                # one core per worker: a training sees one usable core and keeps its
                # environments in-process instead of competing with its neighbour for cores
                queue = ctx.SimpleQueue()
                for core in cores[: self.workers]:
                    queue.put(core)
                self._pool = ProcessPoolExecutor(
                    self.workers, mp_context=ctx, initializer=_pin_to_core, initargs=(queue,)
                )
            else:
                self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx)
        return self._pool

    def map_unordered(self, fn: Callable[[J], R], jobs: Sequence[J]) -> Iterator[JobReport[R]]:
        attempts: dict[int, list[str]] = {i: [] for i in range(len(jobs))}
        futures: dict[Future, int] = {}

        def submit(i: int) -> None:
            futures[self._get_pool().submit(_local_attempt, fn, jobs[i])] = i

        for i in range(len(jobs)):
            submit(i)
        try:
            while futures:
                done, _ = wait(list(futures), return_when=FIRST_COMPLETED)
                if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
                    # a dead worker breaks the whole pool: every job in it ends at once
                    wait(list(futures))
                    done = set(futures)
                lost = []
                for future in done:
                    i = futures.pop(future)
                    exc = future.exception()
                    if isinstance(exc, BrokenProcessPool):
                        attempts[i].append("lost: a worker process died")
                        lost.append(i)
                    elif exc is not None:
                        attempts[i].append("failed")
                        yield JobReport(i, None, f"{type(exc).__name__}: {exc}", tuple(attempts[i]))
                    else:
                        result, where = future.result()
                        attempts[i].append(where)
                        yield JobReport(i, result, None, tuple(attempts[i]))
                if lost:
                    logger.warning("a local worker process died; %d job(s) were lost", len(lost))
                    self.close()
                for i in sorted(lost):
                    if len(attempts[i]) <= self.max_retries:
                        submit(i)
                    else:
                        yield JobReport(i, None, _died(attempts[i]), tuple(attempts[i]))
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        # the workers exit on their own; waiting for big interpreters to finalize costs seconds
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _pin_to_core(cores: Any) -> None:
    """Worker initializer: take a core from the pool's queue and run on it alone."""
    core = cores.get()
    os.sched_setaffinity(0, {core})


def _died(attempts: Sequence[str]) -> str:
    return f"a worker process died (the pool broke) in each of its {len(attempts)} attempts"


# --- Ray --------------------------------------------------------------------------------------
class _AttemptLog:
    """A small Ray actor: each task attempt signs in here before it runs the job, so the driver
    knows how often, and where, a job ran (Ray retries a task without telling its caller)."""

    def __init__(self) -> None:
        self.starts: dict[str, list[str]] = {}

    def start(self, key: str, where: str) -> None:
        self.starts.setdefault(key, []).append(where)

    def attempts(self, key: str) -> list[str]:
        return self.starts.pop(key, [])


def _ray_attempt(fn: Callable[[J], R], job: J, key: str, log: Any) -> R:
    """The body of a Ray task: sign in with the attempt log, then run the job."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    try:
        ray.get(log.start.remote(key, f"{here()} (node {node[:8]})"))
    except ray.exceptions.RayError as exc:  # the log is bookkeeping; the job still runs
        logger.warning("could not record the start of %s: %s", key, exc)
    return fn(job)


class RayExecutor(Executor):
    """Jobs as Ray tasks, each asking for ``num_cpus_per_task`` CPUs and ``num_gpus_per_task``
    GPUs (a fraction shares a GPU). A task whose worker process or node dies is retried by Ray
    on another worker, up to ``max_retries`` times; an error raised by the job itself is not
    retried (training is deterministic, it would fail again).

    ``address``: ``None`` starts a Ray instance on this machine (or uses the one this process
    already joined), ``"auto"`` joins the cluster started on this node with ``ray start``,
    ``"HOST:PORT"`` joins the cluster whose head is there. The executor disconnects on
    ``close`` only from a cluster it connected to itself.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        num_cpus_per_task: float = 1.0,
        num_gpus_per_task: float = 0.0,
        max_retries: int = DEFAULT_MAX_RETRIES,
        workers: int | None = None,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise MissingExtraError("ray", "ray", "--executor ray") from None
        if num_cpus_per_task <= 0 or num_gpus_per_task < 0 or max_retries < 0:
            raise ConfigError(
                "RayExecutor needs num_cpus_per_task > 0, num_gpus_per_task >= 0 and "
                f"max_retries >= 0; got {num_cpus_per_task}, {num_gpus_per_task}, {max_retries}"
            )
        if workers is not None and workers < 1:
            raise ConfigError(f"workers must be at least 1, got {workers}")
        self._ray = ray
        self._owns_connection = not ray.is_initialized()
        if self._owns_connection:
            ray.init(address=address, log_to_driver=False, include_dashboard=False)
        self.num_cpus_per_task = num_cpus_per_task
        self.num_gpus_per_task = num_gpus_per_task
        self.max_retries = max_retries
        self._workers = workers
        self._task: Any = ray.remote(_ray_attempt)
        self._log: Any = cast(Any, ray.remote(num_cpus=0)(_AttemptLog)).remote()
        ray.get(self._log.__ray_ready__.remote())  # so that no attempt goes unrecorded
        self._batch = uuid.uuid4().hex[:8]

    @property
    def parallelism(self) -> int:
        """``workers`` when given, else the cluster's CPUs divided by ``num_cpus_per_task``."""
        if self._workers is not None:
            return self._workers
        cpus = float(self._ray.cluster_resources().get("CPU", 1.0))
        return max(1, int(cpus // self.num_cpus_per_task))

    def map_unordered(self, fn: Callable[[J], R], jobs: Sequence[J]) -> Iterator[JobReport[R]]:
        ray = self._ray
        pending: dict[Any, tuple[int, str]] = {}
        for i, job in enumerate(jobs):
            key = f"{self._batch}/{uuid.uuid4().hex[:8]}/{i}"
            ref = self._task.options(
                num_cpus=self.num_cpus_per_task,
                num_gpus=self.num_gpus_per_task,
                max_retries=self.max_retries,
                retry_exceptions=False,
                name=f"{RAY_TASK_NAME}-{i}",
            ).remote(fn, job, key, self._log)
            pending[ref] = (i, key)
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                i, key = pending.pop(done[0])
                result, error = None, None
                try:
                    result = ray.get(done[0])
                except ray.exceptions.RayTaskError as exc:
                    cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                    error = f"{type(cause).__name__}: {cause}"
                except ray.exceptions.RayError as exc:
                    error = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
                attempts = tuple(ray.get(self._log.attempts.remote(key)))
                if len(attempts) > 1:
                    logger.warning("job %d ran %d times: %s", i, len(attempts), ", ".join(attempts))
                yield JobReport(i, result, error, attempts)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        if self._log is not None:
            self._ray.kill(self._log)
            self._log = None
        if self._owns_connection and self._ray.is_initialized():
            self._ray.shutdown()


def make_executor(
    name: str,
    *,
    workers: int | None = None,
    address: str | None = None,
    num_gpus_per_task: float = 0.0,
) -> Executor:
    """``local`` (``workers`` processes, default one per core) or ``ray`` (``address``)."""
    if name == "local":
        if address is not None:
            raise ConfigError("--ray-address is for --executor ray; drop it or add --executor ray")
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(address, workers=workers, num_gpus_per_task=num_gpus_per_task)
    raise ConfigError(f"unknown executor {name!r}; use one of: {', '.join(EXECUTORS)}")
