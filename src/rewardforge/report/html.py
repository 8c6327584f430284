"""``write_report``: one self-contained HTML file about a run (inline SVG, inline GIF, no script).

Training metrics the report reads (``TrainingRecord.metrics``)::

    {"curve": {"steps": [...], "fitness": [...]}      # or "success_rate", "score", "return"
     "components": {name: {"mean": .., "std": .., "min": .., "max": .., "history": [...]}}}

Component statistics may also sit in ``CandidateRecord.details.training.components`` (the reflection).
"""

from __future__ import annotations

import base64
import logging
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from rewardforge import __version__
from rewardforge.report.plots import Node, Series, bar_chart, line_chart, lineage_graph, sparkline
from rewardforge.runs.records import CandidateRecord, ModelCallRecord, TrainingRecord
from rewardforge.runs.store import RunStore
from rewardforge.runs.summary import run_summary

logger = logging.getLogger(__name__)

#: How many of the best candidates get learning curves and component tables.
NUM_BEST = 3
CURVE_KEYS = ("fitness", "success_rate", "score", "return", "env_return", "episode_return")

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1000px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:120px}
.card b{display:block;font-size:18px}.muted{color:#666}
table{border-collapse:collapse;background:#fff;margin:6px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}
svg{background:#fff;border:1px solid #ddd;border-radius:4px;max-width:100%;height:auto}
svg text{font:11px system-ui,sans-serif;fill:#333}svg text.t{font-size:13px;font-weight:600}svg text.s{font-size:10px}
svg .grid{stroke:#eee}svg .frame{fill:none;stroke:#bbb}svg .edge{fill:none;stroke:#888;stroke-width:1.3}
td svg{border:0;background:none}
.code{background:#fff;border:1px solid #ddd;border-radius:4px;padding:8px;overflow:auto}
.code pre{margin:0}pre.err{white-space:pre-wrap;margin:0;color:#a00;font-size:12px}
"""


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.{digits}g}"
    return escape(str(value))


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()
) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def highlight_python(code: str) -> str:
    """Python code as HTML with inline styles (pygments), or escaped plain text without it."""
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer
    except ImportError:  # pragma: no cover - rich depends on pygments
        return f"<pre>{escape(code)}</pre>"
    return highlight(code, PythonLexer(), HtmlFormatter(noclasses=True, style="friendly"))


def _top_candidates(candidates: Sequence[CandidateRecord], k: int) -> list[CandidateRecord]:
    scored = [c for c in candidates if c.fitness is not None]
    return sorted(scored, key=lambda c: c.rank_key(), reverse=True)[:k]


def fitness_section(candidates: Sequence[CandidateRecord]) -> str:
    by_iter: dict[int, list[CandidateRecord]] = defaultdict(list)
    for c in candidates:
        by_iter[c.iteration].append(c)
    xs, ys, labels = [], [], []
    for it, group in sorted(by_iter.items()):
        for j, c in enumerate(group):
            if c.fitness is None:
                continue
            xs.append(it + (j - (len(group) - 1) / 2) * min(0.6 / max(len(group), 1), 0.1))
            ys.append(c.fitness)
            labels.append(f"candidate {c.id} (iteration {it}, slot {c.slot}): {c.fitness:.4g}")
    best_x, best_y, best = [], [], -math.inf
    for it, group in sorted(by_iter.items()):
        scores = [c.fitness for c in group if c.fitness is not None]
        if scores:
            best = max(best, *scores)
        if math.isfinite(best):
            best_x.append(it)
            best_y.append(best)
    return line_chart(
        "fitness",
        [
            Series("candidates", xs, ys, mode="markers", labels=labels),
            Series("best so far", best_x, best_y, mode="step", color="#D55E00"),
        ],
        title="Fitness of every candidate per iteration",
        xlabel="iteration",
        ylabel="fitness",
        integer_x=True,
    )


def _curve(metrics: Mapping[str, Any]) -> tuple[list[float], list[float], str] | None:
    curve = metrics.get("curve")
    if not isinstance(curve, Mapping):
        return None
    keys = [k for k in CURVE_KEYS if k in curve] or [k for k in curve if k != "steps"]
    if not keys:
        return None
    ys = [float(v) for v in curve[keys[0]]]
    xs = [float(v) for v in curve.get("steps", range(len(ys)))]
    return xs[: len(ys)], ys[: len(xs)], keys[0]


def learning_curves_section(
    top: Sequence[CandidateRecord], trainings: Sequence[TrainingRecord]
) -> str:
    series, ylabel = [], "fitness"
    for c in top:
        for t in trainings:
            if t.candidate_id != c.id:
                continue
            curve = _curve(t.metrics)
            if curve is None:
                continue
            xs, ys, ylabel = curve
            series.append(Series(f"#{c.id} seed {t.seed}", xs, ys))
    return line_chart(
        "learning-curves",
        series,
        title=f"Learning curves of the {len(top)} best candidates",
        xlabel="environment steps",
        ylabel=ylabel.replace("_", " "),
    )


def _components(c: CandidateRecord, trainings: Sequence[TrainingRecord]) -> dict[str, Any]:
    comps = c.details.training.components if c.details.training else None
    if comps:
        return dict(comps)
    for t in trainings:
        if t.candidate_id == c.id and isinstance(t.metrics.get("components"), Mapping):
            return dict(t.metrics["components"])
    return {}


def _component_row(name: str, stats: Any) -> list[str]:
    history: list[float] = []
    if isinstance(stats, Mapping):
        history = [float(v) for v in stats.get("history", []) if v is not None]
        values = {k: stats.get(k) for k in ("mean", "std", "min", "max")}
    else:
        history = [float(v) for v in stats if v is not None]
        n = len(history)
        mean = sum(history) / n if n else None
        std = (
            math.sqrt(sum((v - mean) ** 2 for v in history) / n) if n and mean is not None else None
        )
        values = {
            "mean": mean,
            "std": std,
            "min": min(history) if n else None,
            "max": max(history) if n else None,
        }
    cells = [_fmt(None if v is None else float(v)) for v in values.values()]
    return [escape(name), *cells, sparkline(history)]


def components_section(top: Sequence[CandidateRecord], trainings: Sequence[TrainingRecord]) -> str:
    parts = []
    for c in top:
        comps = _components(c, trainings)
        if not comps:
            continue
        rows = [_component_row(name, stats) for name, stats in comps.items()]
        parts.append(
            f"<h3>candidate #{c.id} (fitness {_fmt(c.fitness)})</h3>"
            + _table(
                ["component", "mean", "std", "min", "max", "during training"], rows, (1, 2, 3, 4)
            )
        )
    return "".join(parts) or '<p class="muted">No component statistics were recorded.</p>'


def lineage_section(candidates: Sequence[CandidateRecord], best_id: int | None) -> str:
    by_iter: dict[int, int] = defaultdict(int)
    nodes = []
    for c in candidates:
        nodes.append(
            Node(
                c.id,
                c.parent_id,
                c.iteration,
                by_iter[c.iteration],
                c.status,
                c.fitness,
                c.id == best_id,
            )
        )
        by_iter[c.iteration] += 1
    return lineage_graph("lineage", nodes, title="Lineage: each candidate linked to its parent")


def baselines_section(summary: Mapping[str, Any]) -> str:
    bars = []
    for e in summary["evaluations"]:
        if e["kind"] in ("baseline", "final"):
            label = e["baseline"] or f"candidate #{e['candidate_id']}"
            bars.append((label, float(e["mean"]), float(e["std"])))
    if not bars and summary["best"] and summary["best"]["fitness"] is not None:
        bars.append(
            (f"candidate #{summary['best']['candidate_id']}", summary["best"]["fitness"], 0.0)
        )
    hns = summary["human_normalized_score"]
    note = (
        f"<p>Human-normalized score: <b>{_fmt(hns)}</b> = (method − sparse) / |env − sparse|, "
        f"with method = {_fmt(summary['method_score'])} ({escape(summary['method_score_kind'])}), "
        f"env = {_fmt(summary['baselines'].get('env'))}, sparse = "
        f"{_fmt(summary['baselines'].get('sparse'))}. 0 is the sparse reward, 1 the "
        "environment's own reward.</p>"
        if hns is not None
        else '<p class="muted">No human-normalized score: the env and sparse baselines were not '
        "both evaluated, or they score the same.</p>"
    )
    chart = bar_chart(
        "baselines", bars, title="Final fitness: best candidate and baselines", xlabel="fitness"
    )
    return chart + note


def cost_section(usage: Mapping[str, Any], calls: Sequence[ModelCallRecord]) -> str:
    groups: dict[tuple[str, str], list[ModelCallRecord]] = defaultdict(list)
    for call in calls:
        groups[(call.provider, call.model)].append(call)
    rows = [
        [
            escape(provider),
            escape(model),
            str(len(group)),
            str(sum(c.cached for c in group)),
            str(sum(c.prompt_tokens for c in group if not c.cached)),
            str(sum(c.completion_tokens for c in group if not c.cached)),
            f"${sum(c.cost_usd for c in group if not c.cached):.4f}",
            f"{sum(c.latency_s for c in group):.1f}",
        ]
        for (provider, model), group in sorted(groups.items())
    ]
    rows.append(
        [
            "<b>total</b>",
            "",
            str(usage["num_calls"]),
            str(usage["num_cached"]),
            str(usage["prompt_tokens"]),
            str(usage["completion_tokens"]),
            f"<b>${usage['cost_usd']:.4f}</b>",
            f"{usage['latency_s']:.1f}",
        ]
    )
    headers = ["provider", "model", "calls", "from cache", "prompt tokens", "completion tokens"]
    return _table([*headers, "cost", "latency (s)"], rows, (2, 3, 4, 5, 6, 7)) + (
        '<p class="muted">Tokens and cost count only answers not served from the cache.</p>'
    )


def candidates_table(candidates: Sequence[CandidateRecord]) -> str:
    rows = [
        [
            str(c.iteration),
            str(c.slot),
            f"#{c.id}",
            "-" if c.parent_id is None else f"#{c.parent_id}",
            escape(c.designer),
            escape(c.status),
            _fmt(c.fitness),
            f'<pre class="err">{escape(c.error_kind or "")}{": " if c.error else ""}'
            f"{escape((c.error or '')[:400])}</pre>",
        ]
        for c in candidates
    ]
    headers = ["iteration", "slot", "id", "parent", "designer", "status", "fitness", "error"]
    return _table(headers, rows, (0, 1, 6))


def animation_section(gif_path: Path | None, note: str | None) -> str:
    if gif_path is not None and gif_path.is_file():
        data = base64.b64encode(gif_path.read_bytes()).decode("ascii")
        return (
            f'<img data-plot="animation" alt="the best policy" src="data:image/gif;base64,{data}"/>'
        )
    reason = note or "No animation was recorded for this run."
    return f'<p class="muted">{escape(reason)}</p>'


def write_report(
    store: RunStore,
    run_id: str,
    out_path: str | Path,
    *,
    gif_path: str | Path | None = None,
) -> Path:
    """Write the run's report to ``out_path``; the GIF defaults to ``<run_dir>/best.gif``."""
    run = store.get_run(run_id)
    summary = run_summary(store, run.id)
    candidates = store.list_candidates(run.id)
    trainings = store.list_trainings(run.id)
    top = _top_candidates(candidates, NUM_BEST)
    best = summary["best"]
    gif = Path(gif_path) if gif_path is not None else store.path.parent / run.id / "best.gif"
    usage = summary["model_usage"]
    cards = [
        ("status", summary["run"]["status"]),
        ("best fitness", _fmt(best["fitness"]) if best else "-"),
        ("human-normalized", _fmt(summary["human_normalized_score"])),
        ("iterations", str(len(summary["iterations"]) or len({c.iteration for c in candidates}))),
        ("candidates", str(len(candidates))),
        ("tokens", str(usage["total_tokens"])),
        ("model cost", f"${usage['cost_usd']:.4f}"),
    ]
    versions = ", ".join(f"{k} {v}" for k, v in sorted(run.versions.items()))
    best_code = (
        f"<p>candidate #{best['candidate_id']}, fitness {_fmt(best['fitness'])}</p>"
        f'<div class="code">{highlight_python(best["code"])}</div>'
        if best
        else '<p class="muted">No candidate has a fitness yet.</p>'
    )
    body = [
        f"<h1>{escape(run.id)}</h1>",
        f'<p class="muted">task <b>{escape(run.task_id)}</b>, strategy <b>{escape(run.strategy)}</b>,'
        f" started {escape(run.created_at)}, updated {escape(run.updated_at)}<br>{escape(versions)}</p>",
        '<div class="cards">'
        + "".join(
            f'<div class="card"><span class="muted">{k}</span><b>{v}</b></div>' for k, v in cards
        )
        + "</div>",
        "<h2>Fitness per iteration</h2>",
        fitness_section(candidates),
        "<h2>Learning curves</h2>",
        learning_curves_section(top, trainings),
        "<h2>Best reward</h2>",
        best_code,
        "<h2>The best policy</h2>",
        animation_section(gif, run.summary.get("animation_error")),
        "<h2>Component statistics</h2>",
        components_section(top, trainings),
        "<h2>Baselines</h2>",
        baselines_section(summary),
        "<h2>Lineage</h2>",
        lineage_section(candidates, best["candidate_id"] if best else None),
        "<h2>Candidates</h2>",
        candidates_table(candidates),
        "<h2>Model cost</h2>",
        cost_section(usage, store.list_model_calls(run.id)),
        f'<p class="muted">Written by rewardforge {escape(__version__)}.</p>',
    ]
    html = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>rewardforge report: {escape(run.id)}</title><style>{CSS}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
    logger.info("wrote report %s (%d bytes)", out, len(html))
    return out
