"""A server-rendered SVG chart of the credit balance over time, thresholds and run-out date."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 70, 16, 16, 32
MIN_SPAN = timedelta(hours=1)


@dataclass(frozen=True)
class Threshold:
    """One rung of the low-balance ladder, drawn as a dashed line."""

    level: str
    below: float


def _number(value: float) -> str:
    if abs(value) >= 10_000:
        return f"{value / 1000:,.0f}k"
    return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:,.1f}"


def _date(value: datetime, span: timedelta) -> str:
    return value.strftime("%b %d %H:%M" if span < timedelta(days=2) else "%b %d")


class _Scale:
    def __init__(self, start: datetime, end: datetime, top: float) -> None:
        self.start, self.end, self.top = start, end, top
        self.seconds = max((end - start).total_seconds(), 1.0)

    def x(self, when: datetime) -> float:
        share = (when - self.start).total_seconds() / self.seconds
        return round(LEFT + share * (WIDTH - LEFT - RIGHT), 1)

    def y(self, value: float) -> float:
        share = max(0.0, value) / self.top
        return round(HEIGHT - BOTTOM - share * (HEIGHT - TOP - BOTTOM), 1)


def _domain(times: Sequence[datetime], runout: datetime | None) -> tuple[datetime, datetime, bool]:
    start, last = times[0], times[-1]
    if last - start < MIN_SPAN:
        start, last = start - MIN_SPAN / 2, last + MIN_SPAN / 2
    # Show the run-out point only when it is close enough not to squash the history.
    horizon = last + max(last - start, timedelta(days=1))
    if runout is not None and last < runout <= horizon:
        return start, runout, True
    return start, last, False


def build_credit_chart(
    points: Sequence[tuple[datetime, float]],
    thresholds: Sequence[Threshold] = (),
    runout: datetime | None = None,
) -> str:
    """SVG markup: the balance as a line, each threshold dashed, the forecast run-out marked.

    ``points`` are ``(time, available)`` pairs in any order; with none the chart says so.
    """
    label = "Credit balance over time"
    head = (
        f'<svg class="credit-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{label}" xmlns="http://www.w3.org/2000/svg" '
        'preserveAspectRatio="xMidYMid meet">'
        f"<title>{label}</title>"
    )
    if not points:
        return (
            f'{head}<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">'
            "No balance history yet</text></svg>"
        )
    ordered = sorted(points, key=lambda p: p[0])
    start, end, runout_shown = _domain([t for t, _ in ordered], runout)
    top = max([v for _, v in ordered] + [t.below for t in thresholds] + [1.0]) * 1.1
    scale = _Scale(start, end, top)
    parts = [head, _axes(scale)]
    for rung in thresholds:
        y = scale.y(rung.below)
        level = escape(rung.level)
        parts.append(
            f'<g class="threshold threshold-{level}" data-level="{level}" '
            f'data-below="{rung.below:g}">'
            f'<line x1="{LEFT}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}" stroke-dasharray="6 4"/>'
            f'<text x="{WIDTH - RIGHT - 4}" y="{y - 4}" text-anchor="end">'
            f"{level} &lt; {_number(rung.below)}</text></g>"
        )
    coords = " ".join(f"{scale.x(t)},{scale.y(v)}" for t, v in ordered)
    if len(ordered) == 1:
        when, value = ordered[0]
        parts.append(
            f'<circle class="balance-point" cx="{scale.x(when)}" cy="{scale.y(value)}" r="4"/>'
        )
    else:
        parts.append(f'<polyline class="balance" fill="none" points="{coords}"/>')
    last_time, last_value = ordered[-1]
    parts.append(
        f'<text class="balance-label" x="{scale.x(last_time)}" y="{scale.y(last_value) - 8}" '
        f'text-anchor="end">{_number(last_value)}</text>'
    )
    if runout is not None:
        parts.append(_runout(scale, runout, ordered[-1], shown=runout_shown))
    parts.append("</svg>")
    return "".join(parts)


def _ticks(top: float) -> list[float]:
    """Round values from 0 up to ``top`` in steps of 1, 2 or 5 times a power of ten."""
    raw = top / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(int(top // step) + 1)]


def _axes(scale: _Scale) -> str:
    span = scale.end - scale.start
    bottom = HEIGHT - BOTTOM
    ticks = []
    for value in _ticks(scale.top):
        y = scale.y(value)
        ticks.append(
            f'<text x="{LEFT - 6}" y="{y + 4}" text-anchor="end">{_number(value)}</text>'
            f'<line class="grid" x1="{LEFT}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}"/>'
        )
    return (
        '<g class="axes">'
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}"/>'
        f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}"/>'
        + "".join(ticks)
        + f'<text x="{LEFT}" y="{HEIGHT - 8}">{escape(_date(scale.start, span))}</text>'
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" text-anchor="end">'
        f"{escape(_date(scale.end, span))}</text></g>"
    )


def _runout(scale: _Scale, runout: datetime, last: tuple[datetime, float], *, shown: bool) -> str:
    text = f"runs out {runout.strftime('%b %d')}"
    if not shown:
        return (
            f'<g class="runout runout-beyond" data-date="{runout.date().isoformat()}">'
            f'<text x="{WIDTH - RIGHT}" y="{TOP + 12}" text-anchor="end">{text} →</text></g>'
        )
    x = scale.x(runout)
    return (
        f'<g class="runout" data-date="{runout.date().isoformat()}">'
        f'<line class="forecast" x1="{scale.x(last[0])}" y1="{scale.y(last[1])}" '
        f'x2="{x}" y2="{scale.y(0)}" stroke-dasharray="3 3"/>'
        f'<line x1="{x}" y1="{TOP}" x2="{x}" y2="{HEIGHT - BOTTOM}" stroke-dasharray="2 4"/>'
        f'<text x="{x - 4}" y="{TOP + 12}" text-anchor="end">{text}</text></g>'
    )
