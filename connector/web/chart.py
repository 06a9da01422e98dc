"""A server-rendered SVG chart of the credit balance over time, thresholds and run-out date.

Readable at any history length: the time axis spans the readings themselves (a minute of
readings fills the width rather than standing as a cliff in an hour), with three to six round
time ticks, a dot per reading, the thresholds, and a forecast line that ends at the date its
label names (or, when that date is far off, a note saying so instead of a line).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 20, 28, 40
MIN_SPAN = timedelta(seconds=10)
MAX_DOTS = 120
# A forecast is drawn when its date is no further off than this many history spans; further
# out, the history would shrink to a sliver, so a note names the date instead.
FORECAST_SPANS = 3
_STEPS = [
    timedelta(seconds=s)
    for s in (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)
] + [timedelta(days=d) for d in (1, 2, 7, 14, 30, 91, 182, 365)]
_EPOCH = datetime(2000, 1, 3, tzinfo=UTC)  # a Monday: week ticks fall on Mondays


@dataclass(frozen=True)
class Threshold:
    """One rung of the low-balance ladder, drawn as a dashed line."""

    level: str
    below: float


def _number(value: float) -> str:
    if abs(value) >= 10_000:
        return f"{value / 1000:,.0f}k"
    return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:,.1f}"


class _Scale:
    def __init__(self, start: datetime, end: datetime, top: float) -> None:
        self.start, self.end, self.top = start, end, top
        self.seconds = max((end - start).total_seconds(), 1.0)

    def x(self, when: datetime) -> float:
        share = (when - self.start).total_seconds() / self.seconds
        return round(LEFT + min(max(share, 0.0), 1.0) * (WIDTH - LEFT - RIGHT), 1)

    def y(self, value: float) -> float:
        share = min(max(0.0, value) / self.top, 1.0)
        return round(HEIGHT - BOTTOM - share * (HEIGHT - TOP - BOTTOM), 1)


def _domain(times: Sequence[datetime], runout: datetime | None) -> tuple[datetime, datetime, bool]:
    start, last = times[0], times[-1]
    if last - start < MIN_SPAN:
        middle = start + (last - start) / 2
        start, last = middle - MIN_SPAN / 2, middle + MIN_SPAN / 2
    horizon = last + (last - start) * FORECAST_SPANS
    if runout is not None and times[-1] < runout <= horizon:
        return start, runout, True
    return start, last, False


def build_credit_chart(
    points: Sequence[tuple[datetime, float]],
    thresholds: Sequence[Threshold] = (),
    runout: datetime | None = None,
) -> str:
    """SVG markup: the balance as a line with a dot per reading, each threshold dashed, the
    forecast run-out marked. ``points`` are ``(time, available)`` pairs in any order."""
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
    top = max([v for _, v in ordered] + [t.below for t in thresholds] + [1.0]) * 1.15
    scale = _Scale(start, end, top)
    parts = [head, _value_axis(scale), _time_axis(scale)]
    for rung in thresholds:
        parts.append(_threshold(scale, rung))
    if len(ordered) > 1:
        coords = " ".join(f"{scale.x(t)},{scale.y(v)}" for t, v in ordered)
        parts.append(f'<polyline class="balance" fill="none" points="{coords}"/>')
    if len(ordered) <= MAX_DOTS:
        parts.append('<g class="readings">')
        for when, value in ordered:
            parts.append(
                f'<circle class="balance-point" cx="{scale.x(when)}" cy="{scale.y(value)}" '
                f'r="3"><title>{escape(when.strftime("%Y-%m-%d %H:%M:%S"))} UTC: '
                f"{_number(value)}</title></circle>"
            )
        parts.append("</g>")
    if runout is not None:
        parts.append(_runout(scale, runout, ordered[-1], shown=runout_shown))
    parts.append(_latest(scale, ordered[-1]))
    parts.append("</svg>")
    return "".join(parts)


def _threshold(scale: _Scale, rung: Threshold) -> str:
    y = scale.y(rung.below)
    level = escape(rung.level)
    return (
        f'<g class="threshold threshold-{level}" data-level="{level}" '
        f'data-below="{rung.below:g}">'
        f'<line x1="{LEFT}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}" stroke-dasharray="6 4"/>'
        f'<text class="halo" x="{LEFT + 6}" y="{y - 4}">{level} &lt; {_number(rung.below)}</text>'
        "</g>"
    )


def _latest(scale: _Scale, last: tuple[datetime, float]) -> str:
    """The newest balance, above its dot and kept inside the plot; a halo keeps it off lines."""
    x, y = scale.x(last[0]), scale.y(last[1])
    anchor = "end" if x > WIDTH / 2 else "start"
    dx = -6 if anchor == "end" else 6
    ty = y - 10 if y - 10 > TOP + 12 else y + 18
    return (
        f'<text class="balance-label halo" x="{x + dx}" y="{ty}" text-anchor="{anchor}">'
        f"{_number(last[1])}</text>"
    )


def _value_ticks(top: float) -> list[float]:
    """Round values from 0 up to ``top`` in steps of 1, 2 or 5 times a power of ten."""
    raw = top / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(int(top // step) + 1)]


def _value_axis(scale: _Scale) -> str:
    bottom = HEIGHT - BOTTOM
    ticks = []
    for value in _value_ticks(scale.top):
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
        + "</g>"
    )


def get_time_ticks(start: datetime, end: datetime) -> tuple[list[datetime], timedelta]:
    """Round times between ``start`` and ``end``: the smallest step giving at most 5 ticks."""
    span = end - start
    step = next((s for s in _STEPS if span / s <= 5), _STEPS[-1])
    first = _EPOCH + math.ceil((start - _EPOCH) / step) * step
    ticks = []
    tick = first
    while tick <= end:
        ticks.append(tick)
        tick += step
    return ticks, step


def format_tick(when: datetime, step: timedelta, previous: datetime | None) -> str:
    """A tick label as short as the step allows; the date shows when it changes."""
    if step >= timedelta(days=1):
        return when.strftime("%b %d")
    clock = when.strftime("%H:%M:%S" if step < timedelta(minutes=1) else "%H:%M")
    if previous is None or previous.date() != when.date():
        return f"{when.strftime('%b %d')} {clock}"
    return clock


def _time_axis(scale: _Scale) -> str:
    ticks, step = get_time_ticks(scale.start, scale.end)
    bottom = HEIGHT - BOTTOM
    parts = ['<g class="axes time-axis">']
    previous: datetime | None = None
    for tick in ticks:
        x = scale.x(tick)
        text = format_tick(tick, step, previous)
        previous = tick
        anchor = "start" if x < LEFT + 30 else "end" if x > WIDTH - RIGHT - 30 else "middle"
        parts.append(
            f'<line class="tick" x1="{x}" y1="{bottom}" x2="{x}" y2="{bottom + 4}"/>'
            f'<text class="time-label" x="{x}" y="{bottom + 18}" text-anchor="{anchor}">'
            f"{escape(text)}</text>"
        )
    parts.append(
        f'<text class="axis-note" x="{WIDTH - RIGHT}" y="{HEIGHT - 4}" text-anchor="end">UTC</text>'
    )
    parts.append("</g>")
    return "".join(parts)


def _runout(scale: _Scale, runout: datetime, last: tuple[datetime, float], *, shown: bool) -> str:
    date = runout.strftime("%b %d")
    if not shown:
        return (
            f'<g class="runout runout-beyond" data-date="{runout.date().isoformat()}">'
            f'<text class="halo" x="{WIDTH - RIGHT}" y="{TOP - 10}" text-anchor="end">'
            f"at this rate: runs out {date} (past the chart)</text></g>"
        )
    x, y0 = scale.x(runout), scale.y(0)
    return (
        f'<g class="runout" data-date="{runout.date().isoformat()}">'
        f'<line class="forecast" x1="{scale.x(last[0])}" y1="{scale.y(last[1])}" '
        f'x2="{x}" y2="{y0}" stroke-dasharray="4 3"/>'
        f'<circle class="runout-point" cx="{x}" cy="{y0}" r="4"/>'
        f'<text class="halo" x="{x - 6}" y="{y0 - 10}" text-anchor="end">'
        f"runs out {date}</text></g>"
    )
