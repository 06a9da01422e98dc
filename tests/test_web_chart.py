"""The credit chart: a well-formed SVG with the balance line, thresholds and run-out marker."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.web.chart import (
    BOTTOM,
    HEIGHT,
    LEFT,
    RIGHT,
    WIDTH,
    Threshold,
    build_credit_chart,
    format_tick,
    get_time_ticks,
)

NS = {"svg": "http://www.w3.org/2000/svg"}
T0 = datetime(2026, 11, 1, tzinfo=UTC)
LADDER = [Threshold("warn", 500), Threshold("critical", 100)]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def points(*values: float, step: timedelta = timedelta(days=1)) -> list[tuple[datetime, float]]:
    return [(T0 + i * step, v) for i, v in enumerate(values)]


def polyline(root: ET.Element) -> list[tuple[float, float]]:
    line = root.find(".//svg:polyline", NS)
    assert line is not None
    pairs = (p.split(",") for p in line.attrib["points"].split())
    return [(float(x), float(y)) for x, y in pairs]


def test_no_points_says_there_is_no_history() -> None:
    root = parse(build_credit_chart([], LADDER))
    assert root.find("svg:polyline", NS) is None
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "No balance history yet" in texts


def test_one_point_is_a_dot_with_the_thresholds() -> None:
    root = parse(build_credit_chart(points(800), LADDER))
    assert root.find(".//svg:circle[@class='balance-point']", NS) is not None
    assert root.find(".//svg:polyline", NS) is None
    assert len(root.findall(".//svg:g[@data-level]", NS)) == 2


def test_balance_line_falls_left_to_right() -> None:
    coords = polyline(parse(build_credit_chart(points(900, 700, 450), LADDER)))
    xs, ys = [x for x, _ in coords], [y for _, y in coords]
    assert xs == sorted(xs) and ys == sorted(ys), "time grows rightwards, lower balance is lower"


def test_points_are_sorted_by_time() -> None:
    shuffled = [points(900, 700, 450)[i] for i in (2, 0, 1)]
    assert build_credit_chart(shuffled) == build_credit_chart(points(900, 700, 450))


def test_thresholds_are_dashed_lines_at_their_height_with_labels() -> None:
    root = parse(build_credit_chart(points(1000, 600), LADDER))
    groups = {g.attrib["data-level"]: g for g in root.findall(".//svg:g[@data-level]", NS)}
    assert set(groups) == {"warn", "critical"}
    warn_y = float(groups["warn"].find("svg:line", NS).attrib["y1"])  # type: ignore[union-attr]
    crit_y = float(groups["critical"].find("svg:line", NS).attrib["y1"])  # type: ignore[union-attr]
    assert warn_y < crit_y, "the warn line (500) sits above the critical line (100)"
    assert groups["warn"].find("svg:line", NS).attrib["stroke-dasharray"]  # type: ignore[union-attr]
    assert groups["warn"].find("svg:text", NS).text == "warn < 500"  # type: ignore[union-attr]


def test_a_threshold_above_every_balance_still_fits() -> None:
    root = parse(build_credit_chart(points(50, 40), [Threshold("warn", 5000)]))
    line = root.find(".//svg:g[@data-level='warn']/svg:line", NS)
    assert line is not None and float(line.attrib["y1"]) >= 0


def test_near_runout_is_drawn_inside_the_chart() -> None:
    runout = T0 + timedelta(days=3)
    root = parse(build_credit_chart(points(900, 600, 300), LADDER, runout))
    marker = root.find(".//svg:g[@class='runout']", NS)
    assert marker is not None and marker.attrib["data-date"] == "2026-11-04"
    assert marker.find("svg:line[@class='forecast']", NS) is not None
    assert "runs out Nov 04" in "".join(marker.itertext())


def test_distant_runout_is_a_label_at_the_edge() -> None:
    runout = T0 + timedelta(days=400)
    root = parse(build_credit_chart(points(900, 890, 880), LADDER, runout))
    marker = root.find(".//svg:g[@class='runout runout-beyond']", NS)
    assert marker is not None and "runs out" in "".join(marker.itertext())
    assert max(x for x, _ in polyline(root)) == WIDTH - RIGHT


def test_labels_are_escaped() -> None:
    root = parse(build_credit_chart(points(10, 5), [Threshold("<b>", 1)]))
    assert root.find(".//svg:g[@data-level='<b>']", NS) is not None


@given(
    st.lists(
        st.tuples(
            st.datetimes(
                min_value=datetime(2020, 1, 1),
                max_value=datetime(2030, 1, 1),
                timezones=st.just(UTC),
            ),
            st.floats(min_value=-100, max_value=1e7, allow_nan=False),
        ),
        max_size=30,
    ),
    st.lists(st.floats(min_value=0, max_value=1e6), max_size=3),
    st.one_of(
        st.none(),
        st.datetimes(
            min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
        ),
    ),
)
def test_any_history_renders_a_well_formed_chart_inside_the_viewbox(
    history: list[tuple[datetime, float]], belows: list[float], runout: datetime | None
) -> None:
    ladder = [Threshold(f"level{i}", b) for i, b in enumerate(belows)]
    root = parse(build_credit_chart(history, ladder, runout))
    assert root.attrib["viewBox"] == f"0 0 {WIDTH} {HEIGHT}"
    if len(history) > 1:
        for x, y in polyline(root):
            assert 0 <= x <= WIDTH and 0 <= y <= HEIGHT


def time_labels(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.findall(".//svg:text[@class='time-label']", NS)]


@pytest.mark.parametrize(
    ("span", "first_label"),
    [
        (timedelta(minutes=1), "Nov 01 00:00:00"),
        (timedelta(hours=3), "Nov 01 00:00"),
        (timedelta(days=20), "Nov 02"),  # weekly ticks fall on Mondays
    ],
)
def test_any_history_length_gets_three_to_six_round_time_labels(
    span: timedelta, first_label: str
) -> None:
    history = points(900, 800, 700, 650, step=span / 3)
    root = parse(build_credit_chart(history, LADDER))
    labels = time_labels(root)
    assert 3 <= len(labels) <= 6 and labels[0] == first_label
    xs = [x for x, _ in polyline(root)]
    assert xs[-1] - xs[0] == WIDTH - LEFT - RIGHT, "the readings fill the width, no cliff"


def test_every_reading_is_a_dot_with_its_time_and_value() -> None:
    root = parse(build_credit_chart(points(900, 700, 450, step=timedelta(minutes=10)), LADDER))
    dots = root.findall(".//svg:circle[@class='balance-point']", NS)
    assert len(dots) == 3
    assert dots[1].find("svg:title", NS).text == "2026-11-01 00:10:00 UTC: 700"  # type: ignore[union-attr]


def test_the_forecast_ends_at_the_date_its_label_names() -> None:
    runout = T0 + timedelta(days=3)
    root = parse(build_credit_chart(points(900, 600, 300), LADDER, runout))
    marker = root.find(".//svg:g[@class='runout']", NS)
    assert marker is not None
    line = marker.find("svg:line[@class='forecast']", NS)
    point = marker.find("svg:circle", NS)
    assert line is not None and point is not None
    assert float(line.attrib["x2"]) == float(point.attrib["cx"]) == WIDTH - RIGHT
    assert float(line.attrib["y2"]) == HEIGHT - BOTTOM, "the line reaches zero at that date"


def test_a_far_forecast_is_named_without_pointing_past_the_chart() -> None:
    runout = T0 + timedelta(days=40)
    root = parse(build_credit_chart(points(900, 890, 880), LADDER, runout))
    note = "".join(root.find(".//svg:g[@class='runout runout-beyond']", NS).itertext())  # type: ignore[union-attr]
    assert note == "at this rate: runs out Dec 11 (past the chart)"
    assert "→" not in note


def test_the_latest_balance_label_sits_off_the_line() -> None:
    root = parse(build_credit_chart(points(900, 700, 450), LADDER))
    label = root.find(".//svg:text[@class='balance-label halo']", NS)
    dots = root.findall(".//svg:circle[@class='balance-point']", NS)
    assert label is not None and label.text == "450"
    assert abs(float(label.attrib["y"]) - float(dots[-1].attrib["cy"])) >= 10


@pytest.mark.parametrize(
    ("when", "step", "previous", "text"),
    [
        (T0, timedelta(seconds=15), None, "Nov 01 00:00:00"),
        (T0 + timedelta(hours=6), timedelta(hours=6), T0, "06:00"),
        (T0 + timedelta(days=1), timedelta(hours=6), T0, "Nov 02 00:00"),
        (T0, timedelta(days=7), None, "Nov 01"),
    ],
)
def test_tick_labels_show_the_date_when_it_changes(
    when: datetime, step: timedelta, previous: datetime | None, text: str
) -> None:
    assert format_tick(when, step, previous) == text


def test_time_ticks_are_round() -> None:
    ticks, step = get_time_ticks(T0 + timedelta(minutes=7), T0 + timedelta(hours=2, minutes=7))
    assert step == timedelta(minutes=30)
    assert ticks[0] == T0 + timedelta(minutes=30) and len(ticks) == 4
