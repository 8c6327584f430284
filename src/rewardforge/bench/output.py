"""A bench's table as files in its folder: ``bench.md``, ``bench.json`` and ``bench.html``.

The markdown holds the tables (the papers' table: final fitness per task and method with the
baselines beside it; the human-normalized score; per method: tasks at or above ``env``, mean
and median normalized score, the designer's executable rate, steps, wall-clock, tokens, cost),
the other policy's figures and each search's run id. The JSON holds everything
``BenchResults`` has. The HTML (``bench/html.py``) adds the plots; ``bench/files.py`` writes
the three."""

from __future__ import annotations

from collections.abc import Sequence

from rewardforge.bench.results import BenchResults, CellResult, MethodSummary, Stat


# --- text -----------------------------------------------------------------------------------------
def stat_text(stat: Stat | None, digits: int = 2) -> str:
    if stat is None:
        return "-"
    return f"{stat.mean:.{digits}f} ± {stat.std:.{digits}f}"


def cell_text(cell: CellResult) -> str:
    """A table cell: the fitness, or what happened instead."""
    if cell.fitness is not None:
        return stat_text(cell.fitness)
    if cell.status == "failed":
        return "failed"
    return cell.note or cell.status


def normalized_text(cell: CellResult) -> str:
    if cell.normalized is not None:
        return f"{cell.normalized:.2f}"
    return cell.normalized_note or "-"


def policies(results: BenchResults, task: str) -> str:
    """Which policy the task's fitness figures are (``deterministic``, ``sampled``)."""
    seen = [c.fitness.policy for c in results.cells if c.task == task and c.fitness is not None]
    return " / ".join(dict.fromkeys(seen)) or "-"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


def share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def summary_row(s: MethodSummary) -> list[str]:
    at = (
        "-"
        if s.at_or_above_env is None or s.kind == "baseline"
        else f"{s.at_or_above_env}/{s.compared}"
    )
    executable = "-"
    if s.executable_first_try is not None:
        executable = f"{share(s.executable_first_try)} / {share(s.executable_after_repair)}"
    normalized = "-" if not s.normalized_tasks else f"{number(s.mean_normalized)}"
    median = "-" if not s.normalized_tasks else f"{number(s.median_normalized)}"
    return [
        s.method, at, normalized, median, str(s.normalized_tasks), executable,
        f"{s.env_steps:,}", duration(s.wall_time_s), f"{s.tokens:,}", f"${s.cost_usd:.2f}",
    ]  # fmt: skip


SUMMARY_HEADERS = ("method", "tasks >= env", "mean normalized", "median normalized",
                   "tasks normalized", "executable (first try / after repair)", "env steps",
                   "wall-clock", "tokens", "cost")  # fmt: skip


def headline(results: BenchResults) -> str:
    budget = (
        "each task's own budget"
        if results.budget == "task"
        else f"{int(results.budget):,} steps per training"
    )
    seeds = f"seeds {1000 + results.seed}-{1000 + results.seed + results.seeds - 1}"
    return (
        f"Suite `{results.suite}`: {len(results.tasks)} tasks x {len(results.methods)} methods, "
        f"{budget}, run seed {results.seed}. Each method's reward (a search's best, retrained) "
        f"trained on {results.seeds} fresh seeds ({seeds}); fitness is the task's success rate "
        "(or score) over its evaluation episodes, of the policy acting as the `policy` column "
        "says (both ways are recorded; the other one is below). Status: "
        f"{results.status}."
    )


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def esc(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(esc(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return lines


def markdown(results: BenchResults) -> str:
    r = results
    searches = [s.method for s in r.summaries if s.kind == "search"]
    out = [
        f"# Bench {r.bench_id}",
        "",
        headline(r),
        "",
        "## Final fitness (mean ± std over seeds)",
        "",
    ]
    rows = [
        [t, r.fitness_kind[t], policies(r, t), *[cell_text(r.cell(t, m)) for m in r.methods]]
        for t in r.tasks
    ]
    out += _md_table(["task", "fitness", "policy", *r.methods], rows)
    out += ["", "## Human-normalized score: (method - sparse) / |env - sparse|", ""]
    out += _md_table(["task", *searches],
                     [[t, *[normalized_text(r.cell(t, m)) for m in searches]] for t in r.tasks])  # fmt: skip
    out += ["", "## Per method", ""]
    out += _md_table(SUMMARY_HEADERS, [summary_row(s) for s in r.summaries])
    out += ["", "## The other policy (the same policies evaluated the other way)", ""]
    out += _md_table(
        ["task", *r.methods], [[t, *[other_text(r.cell(t, m)) for m in r.methods]] for t in r.tasks]
    )
    out += ["", "## Cells", ""]
    out += _md_table(["task", "method", "status", "run", "wall-clock", "note"],
                     [[c.task, c.method, c.status, c.run_id or "-", duration(c.wall_time_s),
                       c.error or c.note] for c in r.cells])  # fmt: skip
    out += ["", f"rewardforge {r.versions.get('rewardforge', '?')}, torch "
                f"{r.versions.get('torch', '?')}, python {r.versions.get('python', '?')}", ""]  # fmt: skip
    return "\n".join(out)


def other_text(cell: CellResult) -> str:
    """The same policies evaluated the other way (``stat_text`` and the policy's name)."""
    if cell.fitness is None or not cell.fitness.other:
        return "-"
    name, values = next(iter(cell.fitness.other.items()))
    return f"{stat_text(Stat(values))} ({name})"


__all__ = ["SUMMARY_HEADERS", "cell_text", "duration", "headline", "markdown",
           "normalized_text", "other_text", "policies", "stat_text", "summary_row"]  # fmt: skip
