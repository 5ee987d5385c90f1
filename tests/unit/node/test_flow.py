"""Hall flow monitoring and the Table 1 staffing recommendation (R-HALL-2, Zhejiang §5.2.6): the table cell for
cell, its extension past 96, the peak five minutes against a brute force, half-hour slots of a made-up day, the
错时办事 hours, and the chart the lead sees."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import fields
from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.intake.hall.flow import (
    CST,
    Staffing,
    flow_chart_svg,
    half_hour_counts,
    off_peak_hours,
    outside_hours_count,
    peak_five_minutes,
    recommend_staffing,
)

SVG = "{http://www.w3.org/2000/svg}"
DAY = date(2026, 3, 2)
UTC = UTC

# 表 1 窗口服务人员数量配置, written out again by hand from the standard's text (not imported from the module):
# 取号数 low, high, 导办, 咨询线下, 咨询线上, 受理窗口, 自助, 出件窗口 — 网办 is N/2 in every row.
TABLE_1_BY_HAND = [
    (1, 12, 1, 1, 1, 4, 1, 1),
    (13, 24, 1, 1, 1, 8, 1, 1),
    (25, 36, 2, 1, 1, 12, 1, 1),
    (37, 48, 2, 2, 2, 16, 1, 2),
    (49, 60, 3, 2, 2, 20, 1, 2),
    (61, 72, 3, 2, 2, 24, 1, 2),
    (73, 84, 4, 3, 3, 28, 1, 3),
    (85, 96, 4, 3, 4, 32, 1, 3),
]
# 注：N为服务大厅的自助电脑台数，有余数进一，取整数。
HALF_N_ROUNDED_UP = {0: 0, 1: 1, 5: 3, 8: 4}

STAFF_FIELDS = (
    "guides",
    "consult_offline",
    "consult_online",
    "acceptance",
    "self_service",
    "online",
    "issuing",
)


def cst(h: int, m: int, s: int = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, h, m, s, tzinfo=CST)


def staff(s: Staffing) -> tuple[int, ...]:
    return tuple(getattr(s, name) for name in STAFF_FIELDS)


# --- Table 1 -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pcs", sorted(HALF_N_ROUNDED_UP))
@pytest.mark.parametrize(
    ("peak", "row"),
    [(end, row) for row in TABLE_1_BY_HAND for end in (row[0], row[1])],
    ids=lambda v: str(v) if isinstance(v, int) else f"{v[0]}～{v[1]}",
)
def test_table_1_every_band_end(peak: int, row: tuple[int, ...], pcs: int) -> None:
    _, _, guides, offline, online_consult, acceptance, self_service, issuing = row
    got = recommend_staffing(peak, pcs)
    assert staff(got) == (
        guides,
        offline,
        online_consult,
        acceptance,
        self_service,
        HALF_N_ROUNDED_UP[pcs],
        issuing,
    )
    assert got.extrapolated is False
    assert f"{row[0]}～{row[1]}" in got.note
    assert f"= {HALF_N_ROUNDED_UP[pcs]} 人" in got.note


def test_every_peak_up_to_96_falls_in_its_band() -> None:
    for peak in range(1, 97):
        (row,) = [r for r in TABLE_1_BY_HAND if r[0] <= peak <= r[1]]
        assert staff(recommend_staffing(peak, 4))[:5] == row[2:7]


def test_no_tickets_still_staffs_the_first_row() -> None:
    got = recommend_staffing(0, 6)
    assert staff(got) == staff(recommend_staffing(1, 6)) == (1, 1, 1, 4, 1, 3, 1)
    assert got.extrapolated is False
    assert "最低一档" in got.note


def test_total_counts_everyone() -> None:
    # 25～36 with 5 PCs: 2 + 1 + 1 + 12 + 1 + 3 + 1.
    assert recommend_staffing(30, 5).total == 21


@pytest.mark.parametrize(("peak", "pcs"), [(-1, 0), (0, -1), (-5, -5)])
def test_negative_inputs_are_refused_in_chinese(peak: int, pcs: int) -> None:
    with pytest.raises(ValueError, match="不能为负数"):
        recommend_staffing(peak, pcs)


def test_staffing_is_frozen() -> None:
    got = recommend_staffing(10, 2)
    with pytest.raises(AttributeError):
        got.acceptance = 1  # type: ignore[misc]
    assert [f.name for f in fields(got)] == [*STAFF_FIELDS, "extrapolated", "note"]


# --- past the table ----------------------------------------------------------------------------------------


def test_extension_past_96_is_monotone_flagged_and_explained() -> None:
    previous = recommend_staffing(0, 7)
    for peak in range(1, 1000):
        got = recommend_staffing(peak, 7)
        assert all(a <= b for a, b in zip(staff(previous), staff(got), strict=True)), peak
        assert got.extrapolated is (peak > 96)
        if got.extrapolated:
            assert "96" in got.note and "外推" in got.note
        previous = got


@pytest.mark.parametrize(
    ("peak", "expected"),
    [
        # 97～108: +4 受理; 导办 +1 (every 24 tickets: 25, 49, 73, 97); 咨询 and 出件 unchanged.
        (97, (5, 3, 4, 36, 1, 2, 3)),
        (108, (5, 3, 4, 36, 1, 2, 3)),
        # 109～120: 咨询 and 出件 +1 (every 36 tickets: 37, 73, 109), 线上 咨询 keeps its one extra from 85～96.
        (109, (5, 4, 5, 40, 1, 2, 4)),
        (121, (6, 4, 5, 44, 1, 2, 4)),
        (145, (7, 5, 6, 52, 1, 2, 5)),
    ],
)
def test_extension_follows_the_table_pattern(peak: int, expected: tuple[int, ...]) -> None:
    got = recommend_staffing(peak, 3)
    assert staff(got) == expected
    assert got.extrapolated


@given(st.integers(0, 5000), st.integers(0, 5000), st.integers(0, 60))
def test_more_people_never_means_fewer_staff(a: int, b: int, pcs: int) -> None:
    low, high = sorted((a, b))
    assert all(
        x <= y
        for x, y in zip(
            staff(recommend_staffing(low, pcs)), staff(recommend_staffing(high, pcs)), strict=True
        )
    )


# --- peak five minutes -------------------------------------------------------------------------------------


def test_peak_of_no_tickets() -> None:
    assert peak_five_minutes([]) == (0, None)


def test_seven_inside_4m59s_is_seven() -> None:
    start = cst(9, 0)
    burst = [start + timedelta(seconds=s) for s in (0, 30, 60, 120, 180, 240, 299)]
    assert peak_five_minutes(burst) == (7, start)


def test_a_ticket_exactly_five_minutes_later_is_the_next_window() -> None:
    # Seven tickets from 10:00:00 to 10:05:00: the window [10:00, 10:05) holds six of them.
    start = cst(10, 0)
    tickets = [start + timedelta(seconds=s) for s in (0, 60, 120, 180, 240, 270, 300)]
    assert peak_five_minutes(tickets) == (6, start)


def test_the_bigger_burst_wins_and_where_it_starts() -> None:
    morning = [cst(9, 0, s) for s in range(0, 60, 10)]  # 6 in one minute
    afternoon = [cst(14, 2) + timedelta(seconds=40 * i) for i in range(7)]  # 7 in 4 min
    assert peak_five_minutes(afternoon + morning) == (7, cst(14, 2))


def test_peak_across_timezones() -> None:
    same_moments = [cst(9, 0), datetime(2026, 3, 2, 1, 3, tzinfo=UTC), cst(9, 4, 59), cst(9, 5)]
    count, start = peak_five_minutes(same_moments)
    assert count == 3 and start == cst(9, 0)


def test_equal_times_all_count() -> None:
    assert peak_five_minutes([cst(11, 0)] * 4 + [cst(11, 6)]) == (4, cst(11, 0))


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="时区"):
        peak_five_minutes([datetime(2026, 3, 2, 9, 0)])


def brute_force_peak(seconds: list[int]) -> int:
    """Every five-minute window [s, s + 300) with s on any whole second near the tickets: no clever start."""
    if not seconds:
        return 0
    return max(
        sum(1 for t in seconds if s <= t < s + 300) for s in range(min(seconds) - 300, max(seconds) + 1)
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 1200), max_size=40),
    st.lists(st.sampled_from([0, 8, -5, 5.5]), min_size=1),
)
def test_peak_matches_brute_force(seconds: list[int], offsets: list[float]) -> None:
    base = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    # The same instants written in assorted timezones.
    times = [
        (base + timedelta(seconds=s)).astimezone(timezone(timedelta(hours=offsets[i % len(offsets)])))
        for i, s in enumerate(seconds)
    ]
    count, start = peak_five_minutes(times)
    assert count == brute_force_peak(seconds)
    if count:
        assert start is not None
        assert sum(1 for t in times if start <= t < start + timedelta(minutes=5)) == count
        assert start in times
    else:
        assert start is None


# --- half-hour counts --------------------------------------------------------------------------------------


def made_up_day() -> list[datetime]:
    return [
        cst(7, 55),  # queue before opening: outside
        cst(8, 30),  # first slot, on its edge
        cst(8, 59, 59),
        datetime(2026, 3, 2, 1, 15, tzinfo=UTC),  # 09:15 CST
        cst(9, 30),
        cst(9, 45),
        cst(9, 50),
        cst(12, 10),
        cst(16, 59, 59),  # last slot
        cst(17, 0),  # closing time: outside
        cst(10, 0, day=date(2026, 3, 3)),  # another day: not counted at all
    ]


def test_half_hour_counts_of_a_made_up_day() -> None:
    counts = half_hour_counts(made_up_day(), day=DAY)
    assert len(counts) == 17
    assert counts[0] == (time(8, 30), 2)
    assert counts[-1] == (time(16, 30), 1)
    as_dict = dict(counts)
    assert as_dict[time(9, 0)] == 1
    assert as_dict[time(9, 30)] == 3
    assert as_dict[time(12, 0)] == 1
    assert sum(n for _, n in counts) == 8
    assert [t for t, _ in counts] == [time(8 + (30 + 30 * i) // 60, (30 + 30 * i) % 60) for i in range(17)]
    assert outside_hours_count(made_up_day(), day=DAY) == 2


def test_half_hour_counts_custom_hours_and_short_last_slot() -> None:
    counts = half_hour_counts(
        [cst(9, 10), cst(11, 5), cst(11, 16)], day=DAY, opens=time(9, 0), closes=time(11, 15)
    )
    assert [t for t, _ in counts] == [time(9, 0), time(9, 30), time(10, 0), time(10, 30), time(11, 0)]
    assert [n for _, n in counts] == [1, 0, 0, 0, 1]


def test_half_hour_counts_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="时区"):
        half_hour_counts([datetime(2026, 3, 2, 9, 0)], day=DAY)
    with pytest.raises(ValueError, match="晚于"):
        half_hour_counts([], day=DAY, opens=time(17, 0), closes=time(8, 30))


# --- off-peak hours ----------------------------------------------------------------------------------------


def day_counts(*values: int) -> list[tuple[time, int]]:
    start = datetime(2026, 3, 2, 8, 30)
    return [((start + timedelta(minutes=30 * i)).time(), n) for i, n in enumerate(values)]


def test_off_peak_merges_neighbouring_slots() -> None:
    #               08:30 09:00 09:30 10:00 10:30 11:00 11:30 12:00 12:30
    counts = day_counts(9, 12, 14, 10, 3, 2, 8, 1, 11)
    assert off_peak_hours(counts) == [(time(10, 30), time(11, 30)), (time(12, 0), time(12, 30))]
    # A fourth slot takes 11:30 (8 is the next quietest) and joins everything from 10:30 to 12:30.
    assert off_peak_hours(counts, slots=4) == [(time(10, 30), time(12, 30))]
    assert off_peak_hours(counts, slots=99) == [(time(8, 30), time(13, 0))]
    assert off_peak_hours(counts, slots=1) == [(time(12, 0), time(12, 30))]


def test_off_peak_ties_go_to_the_earlier_slot_and_results_come_in_time_order() -> None:
    counts = day_counts(0, 5, 5, 0, 5, 0, 5)
    assert off_peak_hours(counts, slots=2) == [(time(8, 30), time(9, 0)), (time(10, 0), time(10, 30))]
    assert off_peak_hours(counts, slots=3) == [
        (time(8, 30), time(9, 0)),
        (time(10, 0), time(10, 30)),
        (time(11, 0), time(11, 30)),
    ]


def test_off_peak_last_slot_clipped_at_closing() -> None:
    counts = half_hour_counts([cst(9, 10), cst(9, 40)], day=DAY, opens=time(9, 0), closes=time(10, 15))
    assert off_peak_hours(counts, slots=1, closes=time(10, 15)) == [(time(10, 0), time(10, 15))]


def test_off_peak_has_nothing_to_say_about_a_flat_day() -> None:
    assert off_peak_hours(day_counts(0, 0, 0)) == []
    assert off_peak_hours(day_counts(4, 4)) == []
    assert off_peak_hours([]) == []
    assert off_peak_hours(day_counts(1, 2), slots=0) == []
    with pytest.raises(ValueError, match="负数"):
        off_peak_hours(day_counts(1, 2), slots=-1)


# --- the chart ---------------------------------------------------------------------------------------------


def chart_texts(root: ET.Element) -> list[str]:
    return ["".join(el.itertext()) for el in root.iter(f"{SVG}text")]


def test_chart_is_svg_with_title_every_label_and_the_busiest_slot_highlighted() -> None:
    counts = half_hour_counts(made_up_day(), day=DAY)
    title = "红梅便民服务中心 <3月2日> 取号流量 & 错时办事"
    svg = flow_chart_svg(counts, title=title, peak=3)
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("font-family", "").startswith("'Noto Sans CJK SC'")
    assert root.findtext(f"{SVG}title") == title
    texts = chart_texts(root)
    assert title in texts
    for start, _ in counts:
        assert f"{start:%H:%M}" in texts
    assert "取号数（张）" in texts
    assert any("时段" in t for t in texts)
    assert any("高峰期5分钟内取号 3 张" in t for t in texts)
    assert any("09:30–10:00" in t for t in texts)  # the busiest slot, named in the key

    bars = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert len(bars) == len(counts)
    highlighted = {r.get("fill") for r in bars if r.findtext(f"{SVG}title", "").startswith("09:30")}
    others = {r.get("fill") for r in bars if not r.findtext(f"{SVG}title", "").startswith("09:30")}
    assert len(highlighted) == 1 and len(others) == 1 and highlighted != others
    # The tallest bar belongs to the busiest slot.
    heights = {r.findtext(f"{SVG}title", "")[:5]: float(r.get("height", "0")) for r in bars}
    assert max(heights, key=lambda k: heights[k]) == "09:30"

    assert "<script" not in svg and "javascript" not in svg.lower()
    assert "href" not in svg


def test_chart_y_axis_ticks_reach_the_busiest_slot() -> None:
    svg = flow_chart_svg(day_counts(3, 17, 42, 8), title="刻度", peak=9)
    numbers = {t for t in chart_texts(ET.fromstring(svg)) if t.isdigit()}
    assert {"0", "10", "20", "30", "40", "50"} <= numbers


def test_chart_with_ties_highlights_each_busiest_slot() -> None:
    root = ET.fromstring(flow_chart_svg(day_counts(2, 5, 1, 5), title="并列", peak=2))
    bars = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    fills = [r.get("fill") for r in bars]
    assert fills[1] == fills[3] != fills[0] == fills[2]


def test_chart_of_an_empty_day_and_of_no_slots() -> None:
    for counts in (half_hour_counts([], day=DAY), []):
        root = ET.fromstring(flow_chart_svg(counts, title="空", peak=0))
        texts = chart_texts(root)
        assert "空" in texts
        assert any("暂无取号" in t for t in texts)


def test_chart_with_many_slots_keeps_every_label() -> None:
    counts = half_hour_counts([], day=DAY, opens=time(7, 0), closes=time(20, 0))
    texts = chart_texts(ET.fromstring(flow_chart_svg(counts, title="长", peak=0, width=700)))
    assert all(f"{t:%H:%M}" in texts for t, _ in counts)


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=30), st.lists(st.integers(0, 500), max_size=30), st.integers(0, 200))
def test_chart_always_parses(title: str, values: list[int], peak: int) -> None:
    ET.fromstring(flow_chart_svg(day_counts(*values), title=title, peak=peak))
