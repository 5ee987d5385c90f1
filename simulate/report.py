"""The day's report: ``report.json`` (everything, every applicant's path) and ``report.html`` (the figures a
county office reads, with inline SVG charts; no script, no external file)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from simulate.plan import OUTCOME_LABELS

HALF_HOURS = [f"{(8 * 60 + 30 + 30 * k) // 60:02d}:{(30 + 30 * k) % 60:02d}" for k in range(17)]


def bar_chart(
    values: list[float],
    labels: list[str],
    *,
    title: str,
    width: int = 520,
    height: int = 170,
    colour: str = "#2b6cb0",
    marks: dict[int, str] | None = None,
) -> str:
    """A plain SVG bar chart, labels under every other bar."""
    top = max(values) if values and max(values) > 0 else 1
    n = max(1, len(values))
    left, bottom, plot_h = 30, 28, height - 50
    step = (width - left - 10) / n
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<text x="{left}" y="14" font-size="12" font-weight="bold">{html.escape(title)}</text>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#999"/>',
        f'<text x="2" y="{height - bottom - plot_h + 4}" font-size="10">{top:g}</text>',
    ]
    for i, value in enumerate(values):
        h = plot_h * value / top
        x = left + i * step + 1
        fill = (marks or {}).get(i, colour)
        parts.append(
            f'<rect x="{x:.1f}" y="{height - bottom - h:.1f}" width="{max(1.0, step - 2):.1f}" height="{h:.1f}" '
            f'fill="{fill}"><title>{html.escape(labels[i])}: {value:g}</title></rect>'
        )
        if i % 2 == 0 or n <= 8:
            parts.append(
                f'<text x="{x:.1f}" y="{height - bottom + 12}" font-size="9">{html.escape(labels[i])}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def staffing_chart(centres: list[dict[str, Any]]) -> str:
    """Windows open against Table 1's 受理窗口人员 per centre."""
    width, row_h = 520, 26
    height = 30 + row_h * len(centres) + 20
    top = max([c["windows_open"] for c in centres] + [c["table1_acceptance"] for c in centres] + [1])
    scale = (width - 180) / top
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="窗口配置">',
        '<text x="0" y="14" font-size="12" font-weight="bold">开放窗口（蓝）与表1建议受理窗口人员（橙）</text>',
    ]
    for i, c in enumerate(centres):
        y = 26 + i * row_h
        parts.append(f'<text x="0" y="{y + 12}" font-size="10">{html.escape(c["name"][:8])}</text>')
        parts.append(
            f'<rect x="150" y="{y}" width="{c["windows_open"] * scale:.1f}" height="9" fill="#2b6cb0"/>'
        )
        parts.append(
            f'<rect x="150" y="{y + 10}" width="{c["table1_acceptance"] * scale:.1f}" height="9" fill="#dd6b20"/>'
        )
        parts.append(
            f'<text x="{155 + max(c["windows_open"], c["table1_acceptance"]) * scale:.1f}" y="{y + 14}" '
            f'font-size="10">{c["windows_open"]} / {c["table1_acceptance"]}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _cell(value: Any) -> str:
    return "—" if value is None else html.escape(str(value))


def render_html(report: dict[str, Any]) -> str:
    counts, run = report["counts"], report["run"]
    ok = not (counts["lost"] or counts["doubled"] or counts["quarantined"] or counts["wrong_state"])
    verdict = "全部群众均有着落" if ok else "有群众的办件没有着落"
    rows = []
    for c in report["centres"]:
        w = c["wait_min"]
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{_cell(x)}</td>"
                for x in (
                    c["name"],
                    c["role"],
                    c["arrivals"],
                    c["windows_open"],
                    c["hall"]["peak_5min"],
                    c["table1_acceptance"],
                    "偏少" if c["understaffed"] else "满足",
                    w["mean"],
                    w["p95"],
                    w["max"],
                    c["service_min_mean"],
                )
            )
            + "</tr>"
        )
    arrivals = "".join(
        "<figure>"
        + bar_chart(
            c["arrivals_per_half_hour"],
            HALF_HOURS,
            title=f"{c['name']} 每半小时到达人数",
        )
        + "</figure>"
        for c in report["centres"]
    )
    waits = bar_chart(
        [c["wait_min"]["p95"] or 0 for c in report["centres"]],
        [c["name"][:4] for c in report["centres"]],
        title="各中心等候时间 p95（分钟，营业时钟）",
        colour="#805ad5",
    )
    lat = report["latency"]
    lat_names = {"link_up": "网络正常", "after_outage": "断网期间受理（恢复后到达）", "courier": "信使文件"}
    lat_rows = "".join(
        f"<tr><td>{lat_names[k]}</td><td>{v['n']}</td><td>{_cell(v['p50_s'])}</td><td>{_cell(v['p95_s'])}</td>"
        f"<td>{_cell(v['p50_business_min'])}</td><td>{_cell(v['p95_business_min'])}</td></tr>"
        for k, v in lat.items()
    )
    lat_chart = bar_chart(
        [lat[k]["p95_s"] or 0 for k in ("link_up", "after_outage")],
        ["网络正常", "断网后"],
        title="受理→县中心可见 p95（真实秒）",
        colour="#38a169",
        width=260,
    )
    outcome_rows = "".join(
        f"<tr><td>{OUTCOME_LABELS[k]}</td><td>{counts['planned']['by_centre'] and sum(c.get(k, 0) for c in counts['planned']['by_centre'].values())}</td>"
        f"<td>{html.escape(json.dumps(v, ensure_ascii=False))}</td></tr>"
        for k, v in counts["by_outcome_at_central"].items()
    )
    timeline = "".join(
        f"<li>{html.escape(e['at'])} {html.escape(e['event'])}</li>" for e in report["timeline"]
    )
    courier = "".join(
        f"<li>{html.escape(r['label'])}（{r['up_bytes']} 字节 → 回执 {r['reply_bytes']} 字节）：{html.escape(r['node'])}</li>"
        for r in report["courier"]
    )
    secs = run["seconds"]
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>模拟营业日报告 {html.escape(run["day"])}</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "Noto Sans SC", sans-serif; margin: 24px; color: #1a202c; }}
table {{ border-collapse: collapse; margin: 8px 0 16px; }}
td, th {{ border: 1px solid #cbd5e0; padding: 3px 8px; font-size: 13px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
.verdict {{ font-size: 20px; font-weight: bold; color: {"#276749" if ok else "#c53030"}; }}
figure {{ display: inline-block; margin: 4px 8px 4px 0; }}
.big td {{ font-size: 15px; }}
</style></head><body>
<h1>模拟营业日：{run["centres"]} 个便民服务中心 × {run["applicants"]} 位群众</h1>
<p>营业日 {html.escape(run["day"])}，随机种子 {run["seed"]}，倍速 {run["speed"]:g}；全程 {secs["total"]} 秒（准备 {secs["provision"]} 秒、
启动 {secs["start_processes"]} 秒、营业 {secs["hall_day"]} 秒、结算 {secs["settle"]} 秒），最后一位群众 {run["hall_closed_at"]} 办结。</p>
<p class="verdict">{verdict}</p>
<table class="big">
<tr><th>群众</th><th>未叫到号</th><th>应有办件</th><th>县中心办件</th><th>丢失</th><th>重复</th><th>状态不符</th><th>隔离条目</th>
<th>县中心决定</th><th>决定回到窗口</th><th>已出件</th><th>评价</th><th>差评（已回访）</th></tr>
<tr><td>{counts["applicants"]}</td><td>{counts.get("unserved", 0)}</td><td>{counts["cases_expected"]}</td><td>{counts["cases_at_central"]}</td>
<td>{counts["lost"]}</td><td>{counts["doubled"]}</td><td>{counts["wrong_state"]}</td><td>{counts["quarantined"]}</td>
<td>{counts["decided_at_central"]}</td><td>{counts["decisions_back_at_window"]}</td><td>{counts["issued"]}</td>
<td>{counts["ratings"]}</td><td>{counts["bad_ratings"]}（{run["follow_ups"]}）</td></tr>
</table>
<h2>各中心</h2>
<table><tr><th>中心</th><th>情况</th><th>到达</th><th>开放窗口</th><th>高峰5分钟取号</th><th>表1受理窗口人员</th><th>配置</th>
<th>平均等候</th><th>等候p95</th><th>最长等候</th><th>平均办理</th></tr>{"".join(rows)}</table>
<p>等候与办理时间为营业时钟的分钟（县中心与各节点按同一 ONEWINDOW_CLOCK 计时）。</p>
{staffing_chart(report["centres"])} {waits}
<div>{arrivals}</div>
<h2>受理 → 县中心可见</h2>
<table><tr><th>情形</th><th>件数</th><th>p50（秒）</th><th>p95（秒）</th><th>p50（营业分钟）</th><th>p95（营业分钟）</th></tr>{lat_rows}</table>
{lat_chart}
<h2>办理结果（县中心所见）</h2>
<table><tr><th>窗口结果</th><th>计划</th><th>县中心状态</th></tr>{outcome_rows}</table>
<h2>故障与信使</h2><ul>{timeline}</ul><ul>{courier}</ul>
<p>每位群众的完整路径（号票 → 办件 → 结果 → 决定 → 出件 → 评价）见 report.json 的 paths。</p>
</body></html>
"""


def write_report(report: dict[str, Any], root: Path) -> tuple[Path, Path]:
    root.mkdir(parents=True, exist_ok=True)
    json_path, html_path = root / "report.json", root / "report.html"
    json_path.write_text(json.dumps(report, ensure_ascii=False, indent=1), "utf-8")
    html_path.write_text(render_html(report), "utf-8")
    return json_path, html_path
