"""Hall flow monitoring (服务对象流量监测) and the window staffing recommendation (窗口服务人员数量配置), R-HALL-2.

The Zhejiang standard 《政务服务一窗通办工作规范》 §5.2.6 asks a hall to count its visitors every half hour of the
working day, tell the public which hours are quiet (错时办事), and staff its windows at least as Table 1 says for
the number of tickets taken in the busiest five minutes. This module owns that arithmetic and the chart the lead
sees; it is pure (standard library only, no database, no web), so the page and the tests feed it ticket times.

- :func:`half_hour_counts` — tickets per half-hour slot of one working day.
- :func:`peak_five_minutes` — the most tickets in any five-minute window, and where that window starts.
- :func:`recommend_staffing` — Table 1, with the self-service PC count ``N``; extended past its last row.
- :func:`off_peak_hours` — the quietest slots, merged into time ranges, for the public notice.
- :func:`flow_chart_svg` — a self-contained SVG bar chart of the half-hour counts.

Every ticket time must be timezone-aware: a naive time could be either UTC or local and would land in the wrong
slot without anyone noticing.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from xml.sax.saxutils import escape, quoteattr

#: China Standard Time (the same offset as ``node.runtime.CST``; kept here so this module needs only the stdlib).
CST = timezone(timedelta(hours=8), "CST")

#: The standard counts "每隔半小时记录一次" (§5.2.6).
SLOT = timedelta(minutes=30)
#: Table 1 is keyed on "高峰期5分钟内取号数".
PEAK_WINDOW = timedelta(minutes=5)
#: Each row of Table 1 covers 12 tickets (1～12, 13～24, …).
BAND_WIDTH = 12

#: The N/2 cell of Table 1: ⌈N/2⌉ for N self-service PCs (注：有余数进一，取整数).
HALF_N = "N/2"

Table1Row = tuple[int, int, int, int, int, int, int, str, int]

# 《政务服务一窗通办工作规范》(Zhejiang, ref. DB33/T 2036) §5.2.6 表 1 窗口服务人员数量配置, unit: persons,
# copied cell for cell. Columns in the standard's header order:
#   办事人员（高峰期5分钟内取号数） low, high | 导办人员 | 咨询窗口人员 线下, 线上 | 受理窗口人员 | 自助人员 |
#   网办人员 | 出件窗口人员
# The text layout puts the constant 1 under 自助人员 and N/2 under 网办人员: the seven values of each row follow the
# seven staff headers left to right, and it is online-service helpers (网办) who sit with citizens at the
# self-service PCs, one per two PCs; the self-service (ticket/ID) machines need one attendant whatever the flow.
# SPEC R-HALL-2 reads it the same way ("online (⌈N/2⌉ for N self-service PCs)").
# Note the 85～96 row: 线上 consulting is 4 while 线下 stays 3 — the only cell off its column's pattern; kept as
# printed.
TABLE_1: tuple[Table1Row, ...] = (
    (1, 12, 1, 1, 1, 4, 1, HALF_N, 1),
    (13, 24, 1, 1, 1, 8, 1, HALF_N, 1),
    (25, 36, 2, 1, 1, 12, 1, HALF_N, 1),
    (37, 48, 2, 2, 2, 16, 1, HALF_N, 2),
    (49, 60, 3, 2, 2, 20, 1, HALF_N, 2),
    (61, 72, 3, 2, 2, 24, 1, HALF_N, 2),
    (73, 84, 4, 3, 3, 28, 1, HALF_N, 3),
    (85, 96, 4, 3, 4, 32, 1, HALF_N, 3),
)
TABLE_1_MAX = TABLE_1[-1][1]

#: Chart fonts: the node's kiosks ship Noto Sans CJK SC; the rest are for a lead's own browser.
CHART_FONTS = (
    "'Noto Sans CJK SC', 'Noto Sans SC', 'Source Han Sans SC', 'PingFang SC', 'Microsoft YaHei', sans-serif"
)


@dataclass(frozen=True)
class Staffing:
    """The minimum window staff Table 1 asks for (窗口服务人员数量配置), in persons.

    ``extrapolated`` is true when the peak is past the table's last row (96) and the numbers extend its pattern;
    ``note`` says in Chinese which row (or extension) was used, for the lead's page.
    """

    guides: int  # 导办人员
    consult_offline: int  # 咨询窗口人员（线下）
    consult_online: int  # 咨询窗口人员（线上）
    acceptance: int  # 受理窗口人员
    self_service: int  # 自助人员
    online: int  # 网办人员, ⌈N/2⌉
    issuing: int  # 出件窗口人员
    extrapolated: bool
    note: str

    @property
    def total(self) -> int:
        """Everyone on the floor."""
        return (
            self.guides
            + self.consult_offline
            + self.consult_online
            + self.acceptance
            + self.self_service
            + self.online
            + self.issuing
        )


def _band(peak_5min: int) -> int:
    """Table 1 row number, 1-based: 1～12 → 1, 13～24 → 2, … (rows past 8 are the extension)."""
    return max(1, _ceil_div(peak_5min, BAND_WIDTH))


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


# How each column grows with the row number k of Table 1, read off its eight rows: acceptance 4k; guides ⌈k/2⌉
# (+1 every 24 tickets); consulting and issuing ⌈k/3⌉ (+1 every 36); self-service 1. These reproduce every printed
# cell except 线上 consulting in 85～96 (printed 4, pattern 3), which is why the extension adds increments to the
# last printed row instead of evaluating the pattern afresh.
def _guides(k: int) -> int:
    return _ceil_div(k, 2)


def _every_third(k: int) -> int:
    return _ceil_div(k, 3)


def recommend_staffing(peak_5min: int, self_service_pcs: int) -> Staffing:
    """Table 1's minimum staffing for ``peak_5min`` tickets in the busiest five minutes and ``self_service_pcs``.

    - **0 tickets** gets the first row (1～12): the table starts at 1 and an open hall still needs its guide,
      consulting, acceptance, self-service and issuing staff, so the first row is the floor, never zero.
    - **1–96** is Table 1 exactly; 网办人员 is ⌈N/2⌉ (有余数进一).
    - **Past 96** the table ends; the numbers extend its pattern from the last printed row, one band per
      12 tickets: +4 受理窗口 per band, +1 导办 every 2 bands (24 tickets), +1 咨询（线下、线上）and 出件 every 3 bands
      (36 tickets); 自助 stays 1 and 网办 stays ⌈N/2⌉. ``extrapolated`` is set and the note says so. Each column
      starts from its 85～96 value, so no column ever drops below the table (线上 consulting is 4 there).

    Raises ValueError (Chinese message) for a negative count.
    """
    if peak_5min < 0:
        raise ValueError(f"高峰期5分钟内取号数不能为负数（收到 {peak_5min}）")
    if self_service_pcs < 0:
        raise ValueError(f"自助电脑台数不能为负数（收到 {self_service_pcs}）")
    online = _ceil_div(self_service_pcs, 2)
    online_note = f"网办人员按自助电脑 {self_service_pcs} 台取 ⌈{self_service_pcs}/2⌉ = {online} 人"
    k = _band(peak_5min)

    if k <= len(TABLE_1):
        low, high, guides, offline, online_consult, acceptance, self_service, _, issuing = TABLE_1[k - 1]
        if peak_5min == 0:
            lead = f"当前无取号（0），大厅开放仍须按表 1 最低一档「{low}～{high}」配置"
        else:
            lead = f"高峰期5分钟内取号 {peak_5min} 张，按表 1「{low}～{high}」档配置"
        return Staffing(
            guides=guides,
            consult_offline=offline,
            consult_online=online_consult,
            acceptance=acceptance,
            self_service=self_service,
            online=online,
            issuing=issuing,
            extrapolated=False,
            note=f"{lead}；{online_note}。",
        )

    last_k = len(TABLE_1)
    _, _, guides, offline, online_consult, acceptance, self_service, _, issuing = TABLE_1[-1]
    low, high = BAND_WIDTH * (k - 1) + 1, BAND_WIDTH * k
    return Staffing(
        guides=guides + _guides(k) - _guides(last_k),
        consult_offline=offline + _every_third(k) - _every_third(last_k),
        consult_online=online_consult + _every_third(k) - _every_third(last_k),
        acceptance=acceptance + 4 * (k - last_k),
        self_service=self_service,
        online=online,
        issuing=issuing + _every_third(k) - _every_third(last_k),
        extrapolated=True,
        note=(
            f"高峰期5分钟内取号 {peak_5min} 张，超出标准表 1 的范围（表 1 只列到 85～96）；"
            f"本建议按表 1 的规律外推到「{low}～{high}」档：每多 12 人增 4 个受理窗口，每多 24 人增 1 名导办人员，"
            f"每多 36 人增咨询（线下、线上）和出件窗口人员各 1 名，自助人员仍为 1 人；{online_note}。"
        ),
    )


def _require_aware(t: datetime) -> None:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"取号时间必须带时区（收到无时区时间 {t.isoformat()}）")


def _day_bounds(day: date, opens: time, closes: time, tz: tzinfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, opens.replace(tzinfo=None), tzinfo=tz)
    end = datetime.combine(day, closes.replace(tzinfo=None), tzinfo=tz)
    if end <= start:
        raise ValueError(f"下班时间 {closes:%H:%M} 必须晚于上班时间 {opens:%H:%M}")
    return start, end


def half_hour_counts(
    times: Iterable[datetime],
    *,
    day: date,
    opens: time = time(8, 30),
    closes: time = time(17, 0),
    tz: tzinfo = CST,
) -> list[tuple[time, int]]:
    """Tickets per half-hour slot of ``day`` between ``opens`` and ``closes`` (local wall time in ``tz``).

    Slots start at ``opens`` and every 30 minutes after (08:30, 09:00, …, 16:30 by default); each is returned as
    (slot start, tickets taken in [start, start + 30 min)), every slot present even when empty. If ``closes`` is
    not on a half hour the last slot is shorter. Tickets before opening, from closing on, or on another day are
    left out — :func:`outside_hours_count` counts the ones on ``day`` outside the hours, for the page to mention.
    Times may be in any timezone but must be aware (ValueError otherwise).
    """
    start, end = _day_bounds(day, opens, closes, tz)
    starts: list[datetime] = []
    slot = start
    while slot < end:
        starts.append(slot)
        slot += SLOT
    counts = [0] * len(starts)
    for t in times:
        _require_aware(t)
        if start <= t < end:
            counts[(t - start) // SLOT] += 1
    return [(s.time(), n) for s, n in zip(starts, counts, strict=True)]


def outside_hours_count(
    times: Iterable[datetime],
    *,
    day: date,
    opens: time = time(8, 30),
    closes: time = time(17, 0),
    tz: tzinfo = CST,
) -> int:
    """Tickets taken on ``day`` (in ``tz``) before ``opens`` or from ``closes`` on: those :func:`half_hour_counts`
    leaves out (e.g. the self-service ticket machine used before the doors open)."""
    start, end = _day_bounds(day, opens, closes, tz)
    outside = 0
    for t in times:
        _require_aware(t)
        if t.astimezone(tz).date() == day and not start <= t < end:
            outside += 1
    return outside


def peak_five_minutes(times: Iterable[datetime]) -> tuple[int, datetime | None]:
    """The most tickets in any five-minute window [t, t + 5 min) that starts at a ticket time, and that t.

    A window always may start at a ticket (sliding a window left until its first ticket sits on its edge never
    loses a ticket), so this is the peak over all windows. Sorting makes it O(n log n); on a tie the earliest
    window wins. No tickets: (0, None). Times must be aware (ValueError otherwise).
    """
    ordered = list(times)
    for t in ordered:
        _require_aware(t)
    ordered.sort()
    best, best_start = 0, None
    for i, t in enumerate(ordered):
        # Tickets at or after t and before t + 5 min; bisect keeps each step O(log n).
        n = bisect_left(ordered, t + PEAK_WINDOW, lo=i) - i
        if n > best:
            best, best_start = n, t
    return best, best_start


def _slot_end(start: time, closes: time | None) -> time:
    end_dt = datetime.combine(date.min, start) + SLOT
    end = time.max if end_dt.date() != date.min else end_dt.time()
    if closes is not None and closes < end:
        return closes
    return end


def off_peak_hours(
    counts: Sequence[tuple[time, int]], *, slots: int = 3, closes: time | None = None
) -> list[tuple[time, time]]:
    """The ``slots`` quietest half-hour slots of ``counts`` as (start, end) ranges for the 错时办事 notice.

    Ties go to the earlier slot. Chosen slots that follow one another are merged into one range, and the
    ranges come back in time order. ``closes`` clips the end of a last, shorter slot. When every slot has the same
    count (no tickets at all, say) no slot is quieter than another and the list is empty. ValueError when
    ``slots`` is negative.
    """
    if slots < 0:
        raise ValueError(f"错时办事时段数不能为负数（收到 {slots}）")
    if not counts or slots == 0 or min(n for _, n in counts) == max(n for _, n in counts):
        return []
    quietest = sorted(range(len(counts)), key=lambda i: (counts[i][1], counts[i][0]))[:slots]
    ranges: list[tuple[time, time]] = []
    previous = -2
    for i in sorted(quietest):
        start, end = counts[i][0], _slot_end(counts[i][0], closes)
        if i == previous + 1:  # the next slot of the day: extend the range instead of starting one
            ranges[-1] = (ranges[-1][0], end)
        else:
            ranges.append((start, end))
        previous = i
    return ranges


def _nice_ticks(top: int) -> list[int]:
    """0, step, 2·step, … ≥ top with step 1, 2 or 5 × 10^k, at most about six ticks."""
    if top <= 0:
        return [0, 1]
    step = 1
    while True:
        for m in (1, 2, 5):
            if top / (step * m) <= 5:
                s = step * m
                return list(range(0, _ceil_div(top, s) * s + 1, s))
        step *= 10


def _xml_char(c: str) -> bool:
    """Whether XML 1.0 can carry ``c`` at all (its Char production); the rest would break the page's parser."""
    o = ord(c)
    return c in "\t\n\r" or 0x20 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or o >= 0x10000


def _clean(text: str) -> str:
    """Escape for XML text, dropping characters XML 1.0 cannot carry."""
    return escape("".join(c for c in text if _xml_char(c)))


def _attr(text: str) -> str:
    return quoteattr("".join(c for c in text if _xml_char(c)))


def flow_chart_svg(
    counts: Sequence[tuple[time, int]],
    *,
    title: str,
    peak: int,
    width: int = 900,
    height: int = 320,
    outside: int = 0,
) -> str:
    """An inline SVG bar chart of half-hour ticket counts: one bar per slot labelled with its start (08:30), y-axis
    ticks, the busiest slot highlighted (every one of them on a tie), ``title`` and the peak five-minute count (``peak``) on top.

    ``outside``: tickets taken today outside the hours, so that a day whose tickets all lie outside them does
    not read 「本日暂无取号」 beside the page's count. Self-contained (no script, no external font or style), every
    text escaped.
    """
    if width < 200 or height < 160:
        raise ValueError(f"图表尺寸过小（{width}×{height}）")
    blue, amber, ink, grid = "#1f5fae", "#d97706", "#1d2430", "#d7dde5"
    n = len(counts)
    left, right, top = 64, 16, 60
    plot_w = width - left - right
    slot_w = plot_w / n if n else plot_w
    rotate = slot_w < 40  # "08:30" needs about 36 px at 12 px; tilt the labels when the slots are narrower
    bottom = 78 if rotate else 56
    plot_h = height - top - bottom
    base_y = top + plot_h

    values = [c for _, c in counts]
    highest = max(values, default=0)
    ticks = _nice_ticks(highest)
    y_max = ticks[-1]
    busiest = [i for i, v in enumerate(values) if v == highest] if highest > 0 else []

    def y_of(v: float) -> float:
        # 16 px of headroom keeps the value over the tallest bar clear of the top gridline.
        return base_y - (plot_h - 16) * v / y_max

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" font-family={_attr(CHART_FONTS)} fill="{ink}">',
        f"<title>{_clean(title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{left}" y="24" font-size="18" font-weight="700">{_clean(title)}</text>',
    ]
    # Busiest slot with its colour key on the left, the Table 1 input (peak five minutes) on the right.
    if busiest:
        b_start = counts[busiest[0]][0]
        b_range = f"{b_start:%H:%M}–{_slot_end(b_start, None):%H:%M}"
        if len(busiest) == 1:
            busiest_text = f"最繁忙时段 {b_range}（{highest} 张）"
        else:
            busiest_text = f"最繁忙时段 {len(busiest)} 个（各 {highest} 张），最早 {b_range}"
        out.append(f'<rect x="{left}" y="35" width="12" height="12" fill="{amber}"/>')
        out.append(f'<text x="{left + 18}" y="46" font-size="13">{_clean(busiest_text)}</text>')
    else:
        empty = f"办公时间内暂无取号（非办公时间取号 {outside} 张）" if outside else "本日暂无取号"
        out.append(f'<text x="{left}" y="46" font-size="13">{_clean(empty)}</text>')
    out.append(
        f'<text x="{width - right}" y="46" font-size="13" text-anchor="end">'
        f"{_clean(f'高峰期5分钟内取号 {peak} 张')}</text>"
    )

    for v in ticks:
        y = y_of(v)
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="{grid}" stroke-width="1"/>'
        )
        out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" font-size="12" text-anchor="end">{v}</text>')

    for i, (start, value) in enumerate(counts):
        x = left + i * slot_w
        bar_w = slot_w * 0.7
        bar_x = x + (slot_w - bar_w) / 2
        y = y_of(value)
        colour = amber if i in busiest else blue
        label = f"{start:%H:%M}"
        tip = f"{label}–{_slot_end(start, None):%H:%M}：{value} 张"
        out.append(
            f'<rect x="{bar_x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{base_y - y:.1f}" fill="{colour}">'
            f"<title>{_clean(tip)}</title></rect>"
        )
        if value > 0 and slot_w >= 18:
            out.append(
                f'<text x="{x + slot_w / 2:.1f}" y="{y - 4:.1f}" font-size="11" text-anchor="middle">{value}</text>'
            )
        cx = x + slot_w / 2
        if rotate:
            out.append(
                f'<text x="{cx:.1f}" y="{base_y + 14:.1f}" font-size="12" text-anchor="end" '
                f'transform="rotate(-45 {cx:.1f} {base_y + 14:.1f})">{label}</text>'
            )
        else:
            out.append(
                f'<text x="{cx:.1f}" y="{base_y + 18:.1f}" font-size="12" text-anchor="middle">{label}</text>'
            )

    out.append(
        f'<line x1="{left}" y1="{base_y}" x2="{left + plot_w}" y2="{base_y}" stroke="{ink}" stroke-width="1"/>'
    )
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{base_y}" stroke="{ink}" stroke-width="1"/>')
    out.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" font-size="13" text-anchor="middle">'
        f"{_clean('时段（每半小时，显示起始时刻）')}</text>"
    )
    mid_y = top + plot_h / 2
    out.append(
        f'<text x="16" y="{mid_y:.1f}" font-size="13" text-anchor="middle" '
        f'transform="rotate(-90 16 {mid_y:.1f})">{_clean("取号数（张）")}</text>'
    )
    if n == 0:
        out.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{mid_y:.1f}" font-size="14" text-anchor="middle">'
            f"{_clean('无时段数据')}</text>"
        )
    out.append("</svg>")
    return "\n".join(out)
