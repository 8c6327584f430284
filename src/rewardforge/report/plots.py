"""Inline SVG charts, written by hand so a report needs no script, no CDN and no network.

Every chart is an ``<svg data-plot="NAME">`` element; points carry ``<title>`` tooltips.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Literal

#: Colour cycle (colour-blind safe, Okabe-Ito).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
STATUS_COLORS = {
    "trained": "#009E73",
    "stopped_early": "#56B4E9",
    "training": "#E69F00",
    "proposed": "#999999",
    "screened_out": "#CC79A7",
    "rejected": "#D55E00",
    "failed": "#D55E00",
}


@dataclass(frozen=True)
class Series:
    name: str
    xs: Sequence[float]
    ys: Sequence[float]
    mode: Literal["line", "markers", "step"] = "line"
    color: str | None = None
    labels: Sequence[str] = field(default_factory=tuple)  # tooltip per point (markers)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0, 1.0]
    if high - low < 1e-12:  # one value: room on both sides, in proportion to its size
        pad = max(abs(low) * 0.1, 0.5)
        low, high = low - pad, high + pad
    raw = (high - low) / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(low / step) * step
    ticks: list[float] = []
    value = start
    while not ticks or ticks[-1] < high - step * 1e-9:  # the last tick covers ``high``
        ticks.append(round(value, 10))
        value += step
    return ticks


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e6:
        return f"{value / 1e6:.4g}M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:.4g}k"  # environment steps: 25k, not 2.5e+04
    if abs(value) < 1e-3:
        return f"{value:.2g}"
    return f"{value:.4g}"


def _finite(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def line_chart(
    plot: str,
    series: Sequence[Series],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    width: int = 720,
    height: int = 340,
    integer_x: bool = False,
) -> str:
    """A line/marker chart with axes, ticks and a legend."""
    xs = [x for s in series for x in _finite(s.xs)]
    ys = [y for s in series for y in _finite(s.ys)]
    left, right, top, bottom = 64, 160, 34, 48
    pw, ph = width - left - right, height - top - bottom
    parts = [
        f'<svg data-plot="{escape(plot)}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} '
        f'{height}" width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
        f'<text x="{width / 2}" y="20" text-anchor="middle" class="t">{escape(title)}</text>',
    ]
    if not xs or not ys:
        parts.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no data recorded</text></svg>'
        )
        return "".join(parts)
    xt = nice_ticks(min(xs), max(xs))
    yt = nice_ticks(min(ys), max(ys))
    if integer_x:
        lo, hi = math.floor(min(xs) + 0.5), math.ceil(max(xs) - 0.5)
        step = max(1, math.ceil((hi - lo + 1) / 10))
        xt = list(range(lo, hi + 1, step))
    x0, x1, y0, y1 = xt[0], xt[-1], yt[0], yt[-1]
    if integer_x:  # categories: half a step of room on each side for the spread markers
        x0, x1 = x0 - 0.5, x1 + 0.5

    def px(x: float) -> float:
        return left + (x - x0) / ((x1 - x0) or 1) * pw

    def py(y: float) -> float:
        return top + ph - (y - y0) / ((y1 - y0) or 1) * ph

    parts.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="frame"/>')
    for x in xt:
        parts.append(
            f'<line x1="{px(x):.1f}" x2="{px(x):.1f}" y1="{top}" y2="{top + ph}" class="grid"/>'
            f'<text x="{px(x):.1f}" y="{top + ph + 16}" text-anchor="middle">{_fmt(x)}</text>'
        )
    for y in yt:
        parts.append(
            f'<line x1="{left}" x2="{left + pw}" y1="{py(y):.1f}" y2="{py(y):.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{_fmt(y)}</text>'
        )
    parts.append(
        f'<text x="{left + pw / 2}" y="{height - 8}" text-anchor="middle">{escape(xlabel)}</text>'
        f'<text transform="translate(14 {top + ph / 2}) rotate(-90)" text-anchor="middle">'
        f"{escape(ylabel)}</text>"
    )
    for i, s in enumerate(series):
        color = s.color or PALETTE[i % len(PALETTE)]
        pts = [
            (float(x), float(y))
            for x, y in zip(s.xs, s.ys, strict=False)
            if y is not None and math.isfinite(float(y)) and math.isfinite(float(x))
        ]
        if not pts:
            continue
        if s.mode == "markers":
            for j, (x, y) in enumerate(pts):
                tip = s.labels[j] if j < len(s.labels) else f"{s.name}: {_fmt(y)}"
                parts.append(
                    f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="4" fill="{color}" '
                    f'fill-opacity="0.75"><title>{escape(tip)}</title></circle>'
                )
        else:
            coords: list[tuple[float, float]] = []
            for j, (x, y) in enumerate(pts):
                if s.mode == "step" and j > 0:
                    coords.append((px(x), py(pts[j - 1][1])))
                coords.append((px(x), py(y)))
            path = " ".join(f"{a:.1f},{b:.1f}" for a, b in coords)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2">'
                f"<title>{escape(s.name)}</title></polyline>"
            )
            if len(pts) == 1:  # a line through one point is invisible: mark it
                parts.append(
                    f'<circle cx="{coords[0][0]:.1f}" cy="{coords[0][1]:.1f}" r="3" '
                    f'fill="{color}"><title>{escape(s.name)}</title></circle>'
                )
        ly = top + 14 + 18 * i
        parts.append(
            f'<rect x="{left + pw + 12}" y="{ly - 9}" width="12" height="12" fill="{color}"/>'
            f'<text x="{left + pw + 30}" y="{ly + 1}">{escape(s.name[:20])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    plot: str,
    bars: Sequence[tuple[str, float, float]],
    *,
    title: str,
    xlabel: str,
    points: Sequence[Sequence[float]] | None = None,
) -> str:
    """Horizontal bars ``(label, value, std)`` with error whiskers; ``points``: values to mark
    on each bar (e.g. one per seed), as small open circles with tooltips."""
    width, row = 720, 30
    left, right, top = 170, 40, 34
    height = top + row * max(len(bars), 1) + 40
    pw = width - left - right
    parts = [
        f'<svg data-plot="{escape(plot)}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} '
        f'{height}" width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
        f'<text x="{width / 2}" y="20" text-anchor="middle" class="t">{escape(title)}</text>',
    ]
    values = [v for _, v, s in bars for v in (v - s, v + s, 0.0) if math.isfinite(v)]
    values += [v for row in points or () for v in _finite(row)]
    if not values:
        parts.append(f'<text x="{width / 2}" y="60" text-anchor="middle">no data recorded</text>')
        return "".join(parts) + "</svg>"
    ticks = nice_ticks(min(values), max(values))
    lo, hi = ticks[0], ticks[-1]

    def px(v: float) -> float:
        return left + (v - lo) / ((hi - lo) or 1) * pw

    base = top + row * len(bars)
    for t in ticks:
        parts.append(
            f'<line x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{top}" y2="{base}" class="grid"/>'
            f'<text x="{px(t):.1f}" y="{base + 16}" text-anchor="middle">{_fmt(t)}</text>'
        )
    for i, (label, value, std) in enumerate(bars):
        y = top + row * i + 5
        a, b = sorted((px(0.0), px(value)))
        color = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{a:.1f}" y="{y}" width="{max(b - a, 1):.1f}" height="{row - 10}" '
            f'fill="{color}"><title>{escape(label)}: {_fmt(value)} ± {_fmt(std)}</title></rect>'
        )
        cy = y + (row - 10) / 2
        if std > 0:
            parts.append(
                f'<line x1="{px(value - std):.1f}" x2="{px(value + std):.1f}" y1="{cy}" '
                f'y2="{cy}" stroke="#333" stroke-width="1.5"/>'
            )
        for j, v in enumerate(_finite(points[i]) if points and i < len(points) else []):
            parts.append(
                f'<circle cx="{px(v):.1f}" cy="{cy:.1f}" r="3.5" fill="#fff" stroke="#333" '
                f'stroke-width="1.2"><title>{escape(label)}, seed {j + 1}: {_fmt(v)}</title>'
                "</circle>"
            )
    parts.append(
        f'<text x="{left + pw / 2}" y="{height - 6}" text-anchor="middle">{escape(xlabel)}</text>'
    )
    return "".join(parts) + "</svg>"


@dataclass(frozen=True)
class Node:
    id: int
    parent_id: int | None
    column: int  # iteration
    row: int  # slot within the iteration
    status: str
    fitness: float | None
    best: bool = False


def lineage_graph(plot: str, nodes: Sequence[Node], *, title: str) -> str:
    """Candidates as circles (a column per iteration), an arrow from each parent to its child."""
    columns = sorted({n.column for n in nodes}) or [0]
    rows = max((n.row for n in nodes), default=0) + 1
    col_w, row_h, left, top = 120, 44, 50, 50
    width = max(left * 2 + col_w * (len(columns) - 1) + 40, 440)
    height = top + row_h * rows + 20
    col_x = {c: left + 20 + col_w * i for i, c in enumerate(columns)}
    pos = {n.id: (col_x[n.column], top + row_h * n.row + 10) for n in nodes}
    parts = [
        f'<svg data-plot="{escape(plot)}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} '
        f'{height}" width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
        f'<text x="{width / 2}" y="18" text-anchor="middle" class="t">{escape(title)}</text>',
    ]
    for c in columns:
        parts.append(
            f'<text x="{col_x[c]}" y="{top - 14}" text-anchor="middle">iteration {c}</text>'
        )
    for n in nodes:
        if n.parent_id is not None and n.parent_id in pos:
            (x0, y0), (x1, y1) = pos[n.parent_id], pos[n.id]
            mx = (x0 + x1) / 2
            parts.append(
                f'<path d="M{x0 + 9},{y0} C{mx},{y0} {mx},{y1} {x1 - 9},{y1}" class="edge"/>'
            )
    for n in nodes:
        x, y = pos[n.id]
        color = STATUS_COLORS.get(n.status, "#999999")
        fit = "-" if n.fitness is None else _fmt(n.fitness)
        ring = ' stroke="#000" stroke-width="3"' if n.best else ""
        parts.append(
            f'<circle cx="{x}" cy="{y}" r="9" fill="{color}"{ring}><title>candidate {n.id} '
            f"({escape(n.status)}), fitness {fit}"
            + (f", parent {n.parent_id}" if n.parent_id is not None else "")
            + f'</title></circle><text x="{x}" y="{y + 21}" text-anchor="middle" class="s">'
            f"#{n.id} {fit}</text>"
        )
    return "".join(parts) + "</svg>"


def sparkline(values: Sequence[float], *, width: int = 120, height: int = 24) -> str:
    vals = _finite(values)
    if len(vals) < 2:
        return ""
    lo, hi = min(vals), max(vals)
    span = (hi - lo) or 1.0
    pts = " ".join(
        f"{i / (len(vals) - 1) * (width - 2) + 1:.1f},{height - 2 - (v - lo) / span * (height - 4):.1f}"
        for i, v in enumerate(vals)
    )
    return (
        f'<svg data-plot="sparkline" width="{width}" height="{height}" viewBox="0 0 {width} '
        f'{height}"><polyline points="{pts}" fill="none" stroke="#0072B2" stroke-width="1.5"/></svg>'
    )
