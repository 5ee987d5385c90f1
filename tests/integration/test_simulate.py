"""A small county day (issue 22), played by `onewindow simulate` against central and two nodes as real
processes: one centre's WAN cut for three business hours and its node killed and restarted, the other with no
WAN at all and synced by the courier's file, central restarted mid-afternoon. Every applicant must be accounted
for at central — none lost, none doubled, nothing quarantined, every case where its outcome puts it — and the
same seed must give the same counts a second time."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from simulate.run import Options, deterministic_counts, simulate_day


def assert_accounted(report: dict[str, object]) -> None:
    counts = report["counts"]
    assert isinstance(counts, dict)
    assert report["errors"] == [], report["errors"]
    assert (counts["lost"], counts["doubled"], counts["quarantined"], counts["wrong_state"]) == (
        0,
        0,
        0,
        0,
    ), (
        report["lost"],
        report["wrong_state"],
    )
    planned = counts["planned"]
    assert counts["cases_at_central"] == counts["cases_expected"] == planned["cases"]
    # Every county decision reached the window it came from (the courier centre's by the next morning's file).
    assert counts["decided_at_central"] == counts["decisions_back_at_window"] == planned["decided_by_county"]
    assert counts["ratings"] == planned["ratings"] and counts["bad_ratings"] == planned["bad_ratings"]
    # Accepted, decided and issued cases all stand at 已出件 at central, corrections at 一次性告知.
    by_outcome = counts["by_outcome_at_central"]
    for outcome in ("accept", "waiver", "on_spot"):
        assert set(by_outcome[outcome]) <= {"issued"}, by_outcome
    assert set(by_outcome["correction"]) <= {"correction_requested"}
    assert set(by_outcome["mail"]) <= {"mailing"} and set(by_outcome["refuse"]) <= {"refused"}


@pytest.mark.slow  # two county days against five real processes each, about three minutes
def test_a_small_day_with_an_outage_a_courier_and_restarts_accounts_for_everyone_twice_alike(
    tmp_path: Path,
) -> None:
    options = Options(root=tmp_path / "first", centres=2, applicants=20, seed=22, speed=600)
    first = simulate_day(options)
    assert_accounted(first)
    events = " ".join(e["event"] for e in first["timeline"])  # type: ignore[union-attr]
    for fault in ("断网", "恢复联网", "强行终止", "节点重新启动完毕", "县中心重新启动完毕"):
        assert fault in events, events
    assert [r["label"] for r in first["courier"]] == ["下班", "次日", "出件后"]  # type: ignore[union-attr]
    latency = first["latency"]
    assert isinstance(latency, dict)
    assert latency["after_outage"]["n"] > 0 and latency["courier"]["n"] > 0 and latency["link_up"]["n"] > 0
    # What was accepted during the outage arrived only after it: later than anything on a live link.
    assert latency["after_outage"]["p50_s"] > latency["link_up"]["p50_s"]
    report = json.loads((options.root / "report.json").read_text("utf-8"))
    assert len(report["paths"]) == 40
    page = (options.root / "report.html").read_text("utf-8")
    assert "<svg" in page and "丢失" in page and "全部群众均有着落" in page

    second = simulate_day(replace(options, root=tmp_path / "second"))
    assert_accounted(second)
    assert deterministic_counts(second) == deterministic_counts(first)
