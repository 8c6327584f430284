"""``bench.html``: the bench's tables and plots in one file (inline SVG, no script, no network).

Plots: per task, a bar per method (mean over seeds, whiskers one standard deviation, a circle
per seed); per task, each search's best fitness so far against the wall-clock of its iterations,
with the baselines as flat lines."""

from __future__ import annotations

from html import escape

from rewardforge import __version__
from rewardforge.bench.output import (
    SUMMARY_HEADERS,
    cell_text,
    duration,
    headline,
    normalized_text,
    other_text,
    policies,
    summary_row,
)
from rewardforge.bench.results import BenchResults
from rewardforge.report.html import CSS
from rewardforge.report.plots import Series, bar_chart, line_chart


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _bars(r: BenchResults, task: str) -> str:
    bars, points = [], []
    for m in r.methods:
        stat = r.cell(task, m).fitness
        if stat is not None:
            bars.append((m, stat.mean, stat.std))
            points.append(list(stat.per_seed))
    return bar_chart(
        f"bars-{task}", bars, points=points, title=f"{task}: final {r.fitness_kind[task]}",
        xlabel=f"{r.fitness_kind[task]} ({policies(r, task)} policy), mean ± std, a circle per seed",
    )  # fmt: skip


def _curves(r: BenchResults, task: str) -> str:
    series = []
    cells = [r.cell(task, m) for m in r.methods]
    end = max((c.curve[-1][0] for c in cells if c.curve), default=1.0) or 1.0
    for c in cells:
        if c.kind == "search" and c.curve:
            xs, ys = zip(*c.curve, strict=True)
            series.append(Series(c.method, [0.0, *xs], [float("nan"), *ys], mode="step"))
        elif c.kind == "baseline" and c.fitness is not None:
            series.append(Series(c.method, [0.0, end], [c.fitness.mean] * 2))
    return line_chart(
        f"curve-{task}", series, title=f"{task}: best fitness so far",
        xlabel="seconds of the search's iterations", ylabel=r.fitness_kind[task],
    )  # fmt: skip


def bench_html(r: BenchResults) -> str:
    searches = [s.method for s in r.summaries if s.kind == "search"]
    fitness_rows = [
        [t, r.fitness_kind[t], policies(r, t), *[cell_text(r.cell(t, m)) for m in r.methods]]
        for t in r.tasks
    ]
    other_rows = [[t, *[other_text(r.cell(t, m)) for m in r.methods]] for t in r.tasks]
    body = [
        f"<h1>Bench {escape(r.bench_id)}</h1>",
        f'<p class="muted">{escape(headline(r))}</p>',
        "<h2>Final fitness (mean ± std over seeds)</h2>",
        _table(["task", "fitness", "policy", *r.methods], fitness_rows),
        "<h2>Human-normalized score: (method - sparse) / |env - sparse|</h2>",
        _table(
            ["task", *searches],
            [[t, *[normalized_text(r.cell(t, m)) for m in searches]] for t in r.tasks],
        ),  # fmt: skip
        "<h2>Per method</h2>",
        _table(list(SUMMARY_HEADERS), [summary_row(s) for s in r.summaries]),
        "<h2>Per task: each method's final fitness, seed by seed</h2>",
        *[_bars(r, t) for t in r.tasks],
        "<h2>Fitness against wall-clock</h2>",
        *[_curves(r, t) for t in r.tasks],
        "<h2>The other policy</h2>",
        _table(["task", *r.methods], other_rows),
        "<h2>Cells</h2>",
        _table(
            ["task", "method", "status", "run", "wall-clock", "note"],
            [
                [
                    c.task,
                    c.method,
                    c.status,
                    c.run_id or "-",
                    duration(c.wall_time_s),
                    c.error or c.note,
                ]
                for c in r.cells
            ],
        ),  # fmt: skip
        f'<p class="muted">Written by rewardforge {escape(__version__)}.</p>',
    ]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>rewardforge bench: {escape(r.bench_id)}</title><style>{CSS}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )


__all__ = ["bench_html"]
