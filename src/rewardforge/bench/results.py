"""The bench's table, read back from the store: per task and method, per method, and curves.

``read_results(store, bench_id)`` works for any bench run, finished or not (a cell that has not
run yet is ``pending``). Per task and method: the final fitness over the suite's seeds (mean,
std, each seed, and the same policies evaluated the other way), the human-normalized score
``(method - sparse) / |env - sparse|`` (None where it is undefined, with the reason), the
environment steps, wall-clock, tokens and cost, and the designer's executable rate. Per method:
the share of tasks at or above ``env``, the mean and median normalized score, and totals."""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from rewardforge.bench import BENCH_STRATEGY
from rewardforge.bench.plan import BenchSettings, cell_key
from rewardforge.errors import RunError, RunNotFoundError
from rewardforge.runs.records import CandidateRecord, EvaluationRecord, RunRecord
from rewardforge.runs.store import RunStore
from rewardforge.search.result import ArmResult

#: Below this, env and sparse are the same and the normalized score is undefined.
EQUAL = 1e-9


@dataclass(frozen=True)
class Stat(ArmResult):
    """A reward's final fitness over the seeds, as ``policy`` acts (``other``: the other way)."""

    policy: str = "deterministic"
    other: dict[str, tuple[float, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, record: EvaluationRecord) -> Stat:
        details = record.details
        policy = str(details.get("policy", "deterministic"))
        other = {
            name: tuple(float(v) for v in values.get("per_seed", ()))
            for name, values in (details.get("by_policy") or {}).items()
            if name != policy
        }
        rates = tuple(float(r) for r in details.get("success_rates") or ())
        return cls(tuple(record.per_seed), rates, policy=policy, other=other)


@dataclass(frozen=True)
class CellResult:
    task: str
    method: str
    kind: str  # search or baseline
    status: str  # done, failed, pending
    fitness: Stat | None = None
    normalized: float | None = None
    normalized_note: str = ""  # why the normalized score is missing
    run_id: str | None = None
    error: str | None = None
    note: str = ""
    env_steps: int = 0
    wall_time_s: float | None = None
    tokens: int = 0
    cost_usd: float = 0.0
    answers: int = 0  # designer answers (slots)
    first_try_ok: int = 0
    repaired_ok: int = 0
    curve: tuple[tuple[float, float], ...] = ()  # (seconds of search, best fitness so far)


@dataclass(frozen=True)
class MethodSummary:
    method: str
    kind: str
    at_or_above_env: int | None
    compared: int
    mean_normalized: float | None
    median_normalized: float | None
    normalized_tasks: int
    executable_first_try: float | None
    executable_after_repair: float | None
    env_steps: int
    wall_time_s: float
    tokens: int
    cost_usd: float


@dataclass(frozen=True)
class BenchResults:
    bench_id: str
    status: str
    suite: str
    seed: int
    seeds: int
    budget: str
    tasks: tuple[str, ...]
    methods: tuple[str, ...]
    fitness_kind: dict[str, str]  # task -> success rate | score
    cells: tuple[CellResult, ...]
    summaries: tuple[MethodSummary, ...]
    versions: dict[str, str]

    def cell(self, task: str, method: str) -> CellResult:
        return next(c for c in self.cells if c.task == task and c.method == method)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for cell, data in zip(self.cells, out["cells"], strict=True):
            if cell.fitness is not None:
                data["fitness"].update(mean=cell.fitness.mean, std=cell.fitness.std)
        return out


def read_results(store: RunStore, bench_id: str) -> BenchResults:
    run = store.get_run(bench_id)
    if run.strategy != BENCH_STRATEGY:
        raise RunError(f"run {run.id} is a search, not a bench; `rewardforge show {run.id}`")
    settings = BenchSettings.model_validate(run.config)
    suite = settings.suite
    states = run.summary.get("cells", {})
    baselines = {
        (e.details.get("task"), e.details.get("method")): e
        for e in store.list_evaluations(run.id, kind="baseline")
    }
    methods = suite.methods_parsed()
    cells, kinds = [], {}
    for task_name in suite.tasks:
        task_id, kind = _task_info(task_name)
        kinds[task_id] = kind
        for method in methods:
            state = states.get(cell_key(task_id, method.name), {})
            if method.baseline is not None:
                cells.append(_baseline_cell(task_id, method.name, state, baselines))
            else:
                cells.append(_search_cell(store, task_id, method.name, state))
    cells = _normalized(cells, methods)
    summaries = tuple(_summary(m.name, m.is_baseline, cells, methods) for m in methods)
    return BenchResults(
        bench_id=run.id, status=run.status, suite=suite.name, seed=settings.seed,
        seeds=suite.seeds, budget=str(suite.budget), tasks=tuple(kinds),
        methods=tuple(m.name for m in methods), fitness_kind=kinds, cells=tuple(cells),
        summaries=summaries, versions=dict(run.versions),
    )  # fmt: skip


def _task_info(name: str) -> tuple[str, str]:
    from rewardforge.tasks.registry import get_task

    try:
        task = get_task(name)
    except Exception:  # noqa: BLE001 - a task file gone since: show the name, still
        return name, "success rate"
    return task.id, "score" if task.fitness.kind == "score" else "success rate"


def _baseline_cell(
    task: str, method: str, state: dict[str, Any], found: dict[Any, EvaluationRecord]
) -> CellResult:
    record = found.get((task, method))
    if record is None:
        status = "failed" if state.get("status") == "failed" else "pending"
        return CellResult(task, method, "baseline", status, error=state.get("error"))
    return CellResult(
        task, method, "baseline", "done", fitness=Stat.of(record),
        env_steps=int(record.details.get("env_steps", 0)),
        wall_time_s=state.get("wall_time_s"),
    )  # fmt: skip


def _search_cell(store: RunStore, task: str, method: str, state: dict[str, Any]) -> CellResult:
    run_id = state.get("run_id")
    status = state.get("status", "pending")
    if run_id is None:
        return CellResult(task, method, "search", status, error=state.get("error"))
    try:
        run = store.get_run(run_id)
    except RunNotFoundError:
        return CellResult(task, method, "search", status, run_id=run_id, error=state.get("error"))
    final = store.list_evaluations(run.id, kind="final")
    stat = Stat.of(final[-1]) if final else None
    candidates = store.list_candidates(run.id)
    answers, first, repaired = _executable(candidates)
    usage = store.model_usage(run.id)
    iterations = store.list_iterations(run.id)
    env_steps = sum(int(i.details.get("env_steps", 0)) for i in iterations)
    if final:
        env_steps += final_steps(final[-1])
    note = ""
    if run.status == "finished" and stat is None:
        note = "no candidate trained" if run.best_candidate_id is None else "no final evaluation"
    if status != "done" and run.status == "finished":
        status = "done"
    return CellResult(
        task, method, "search", status, fitness=stat, run_id=run.id,
        error=state.get("error") or (run.error if run.status == "failed" else None), note=note,
        env_steps=env_steps, wall_time_s=state.get("wall_time_s"), tokens=usage.total_tokens,
        cost_usd=usage.cost_usd, answers=answers, first_try_ok=first, repaired_ok=repaired,
        curve=_curve(store, run, candidates),
    )  # fmt: skip


def final_steps(record: EvaluationRecord) -> int:
    """Environment steps a final evaluation trained (a seed that reached the target stopped)."""
    steps = record.details.get("steps")
    if steps:
        return sum(int(s) for s in steps)
    return int(record.details.get("num_steps", 0)) * len(record.seeds)


def _executable(candidates: list[CandidateRecord]) -> tuple[int, int, int]:
    """Designer answers (slots), those that passed their checks at once, and after repairs."""
    slots: dict[tuple[int, int], list[CandidateRecord]] = {}
    for c in candidates:
        if c.details.check is not None:
            slots.setdefault((c.iteration, c.slot), []).append(c)
    first = sum(1 for tries in slots.values() if _passed(min(tries, key=lambda c: c.attempt)))
    final = sum(1 for tries in slots.values() if _passed(max(tries, key=lambda c: c.attempt)))
    return len(slots), first, final


def _passed(c: CandidateRecord) -> bool:
    return c.details.check is not None and c.details.check.passed and c.status != "rejected"


def _curve(
    store: RunStore, run: RunRecord, candidates: list[CandidateRecord]
) -> tuple[tuple[float, float], ...]:
    """Best fitness so far after each iteration, against the seconds the iterations took."""
    fitness = {c.id: c.fitness for c in candidates}
    points, elapsed, best = [], 0.0, -math.inf
    for it in store.list_iterations(run.id):
        if it.status != "finished" or not it.finished_at:
            continue
        elapsed += max(0.0, _seconds(it.finished_at) - _seconds(it.started_at))
        value = fitness.get(it.best_candidate_id) if it.best_candidate_id else None
        if value is not None:
            best = max(best, value)
        if math.isfinite(best):
            points.append((round(elapsed, 3), best))
    return tuple(points)


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def _normalized(cells: list[CellResult], methods: list[Any]) -> list[CellResult]:
    """Each cell's ``(method - sparse) / |env - sparse|``, or why it has none."""
    env = next((m.name for m in methods if m.baseline == "env"), None)
    sparse = next((m.name for m in methods if m.baseline == "sparse"), None)
    by = {(c.task, c.method): c for c in cells}
    out = []
    for c in cells:
        value, note = None, ""
        e = by.get((c.task, env)) if env else None
        s = by.get((c.task, sparse)) if sparse else None
        if env is None or sparse is None:
            note = "the suite has no env and sparse baselines"
        elif c.fitness is None:
            note = "no result"
        elif e is None or e.fitness is None or s is None or s.fitness is None:
            note = "no env or sparse result for this task"
        elif abs(e.fitness.mean - s.fitness.mean) < EQUAL:
            note = f"undefined: env = sparse = {e.fitness.mean:.3g}"
        else:
            span = abs(e.fitness.mean - s.fitness.mean)
            value = (c.fitness.mean - s.fitness.mean) / span
        out.append(replace(c, normalized=value, normalized_note=note))
    return out


def _summary(
    name: str, baseline: bool, cells: list[CellResult], methods: list[Any]
) -> MethodSummary:
    mine = [c for c in cells if c.method == name]
    env = next((m.name for m in methods if m.baseline == "env"), None)
    compared = at = 0
    for c in mine:
        e = next((x for x in cells if x.task == c.task and x.method == env), None)
        if c.fitness is not None and e is not None and e.fitness is not None:
            compared += 1
            at += c.fitness.mean >= e.fitness.mean - EQUAL
    values = [c.normalized for c in mine if c.normalized is not None]
    answers = sum(c.answers for c in mine)
    return MethodSummary(
        method=name, kind="baseline" if baseline else "search",
        at_or_above_env=None if env is None else at, compared=compared,
        mean_normalized=statistics.fmean(values) if values else None,
        median_normalized=statistics.median(values) if values else None,
        normalized_tasks=len(values),
        executable_first_try=sum(c.first_try_ok for c in mine) / answers if answers else None,
        executable_after_repair=sum(c.repaired_ok for c in mine) / answers if answers else None,
        env_steps=sum(c.env_steps for c in mine),
        wall_time_s=sum(c.wall_time_s or 0.0 for c in mine),
        tokens=sum(c.tokens for c in mine), cost_usd=sum(c.cost_usd for c in mine),
    )  # fmt: skip


__all__ = ["BenchResults", "CellResult", "MethodSummary", "Stat", "final_steps", "read_results"]
