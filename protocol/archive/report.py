"""The four-property check report (四性检测报告): one item per check, pass or fail, why (Chinese) and a stable
reason code (English), serialised to JSON and to text."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from protocol.archive.package import RETENTION_LABELS

PROPERTIES = {
    "ZS": ("真实性", "authenticity"),
    "WZ": ("完整性", "integrity"),
    "KY": ("可用性", "usability"),
    "AQ": ("安全性", "security"),
}
STAGES = {"GD": "归档", "YJ": "移交接收"}


@dataclass(frozen=True)
class CheckItem:
    """One line of the report: which property and item, pass or fail, and why."""

    code: str  # e.g. GD-ZS-1
    property: str  # ZS | WZ | KY | AQ
    item: str  # the item's Chinese name
    passed: bool
    reason: str  # Chinese, for the archivist
    reason_code: str  # stable English code, for machines and logs ("ok" when passed)
    subject: str = ""  # the file (or part) the item is about, "" for the whole package

    def to_dict(self) -> dict[str, Any]:
        label, english = PROPERTIES[self.property]
        return {
            "code": self.code,
            "property": self.property,
            "property_label": label,
            "property_en": english,
            "item": self.item,
            "subject": self.subject,
            "result": "pass" if self.passed else "fail",
            "reason": self.reason,
            "reason_code": self.reason_code,
        }


@dataclass(frozen=True)
class CheckReport:
    """The four-property check of one package."""

    stage: str
    package_sha256: str
    checked_at: str
    items: tuple[CheckItem, ...]
    bag_name: str = ""
    case_id: str = ""
    case_number: str = ""
    archival_number: str = ""
    retention: str = ""
    node_id: str = ""

    @property
    def passed(self) -> bool:
        return bool(self.items) and all(item.passed for item in self.items)

    @property
    def failures(self) -> tuple[CheckItem, ...]:
        return tuple(item for item in self.items if not item.passed)

    def grouped(self) -> list[tuple[str, tuple[CheckItem, ...]]]:
        """The items under each property's heading (「真实性（Authenticity）」…), in the order 真实性, 完整性,
        可用性, 安全性: how both ends show a report."""
        return [
            (f"{label}（{english}）", tuple(i for i in self.items if i.property == code))
            for code, (label, english) in PROPERTIES.items()
        ]

    def summary(self) -> dict[str, Any]:
        """Counts per property and the failed items' codes: what an event carries instead of the whole report."""
        counts = {
            prop: {
                "pass": sum(1 for i in self.items if i.property == prop and i.passed),
                "fail": sum(1 for i in self.items if i.property == prop and not i.passed),
            }
            for prop in PROPERTIES
        }
        return {
            "passed": self.passed,
            "stage": self.stage,
            "checked_at": self.checked_at,
            "items": len(self.items),
            "failed": len(self.failures),
            "properties": counts,
            "failures": [
                {"code": i.code, "subject": i.subject, "reason_code": i.reason_code, "reason": i.reason}
                for i in self.failures
            ],
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "stage_label": STAGES.get(self.stage, self.stage),
            "package_sha256": self.package_sha256,
            "checked_at": self.checked_at,
            "bag_name": self.bag_name,
            "case_id": self.case_id,
            "case_number": self.case_number,
            "archival_number": self.archival_number,
            "retention": self.retention,
            "node_id": self.node_id,
            "passed": self.passed,
            "summary": self.summary(),
            "items": [item.to_dict() for item in self.items],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckReport:
        items = tuple(
            CheckItem(
                code=str(i["code"]),
                property=str(i["property"]),
                item=str(i["item"]),
                passed=i["result"] == "pass",
                reason=str(i["reason"]),
                reason_code=str(i["reason_code"]),
                subject=str(i.get("subject", "")),
            )
            for i in data["items"]
        )
        return cls(
            stage=str(data["stage"]),
            package_sha256=str(data["package_sha256"]),
            checked_at=str(data["checked_at"]),
            items=items,
            bag_name=str(data.get("bag_name", "")),
            case_id=str(data.get("case_id", "")),
            case_number=str(data.get("case_number", "")),
            archival_number=str(data.get("archival_number", "")),
            retention=str(data.get("retention", "")),
            node_id=str(data.get("node_id", "")),
        )


def render_text(report: CheckReport) -> str:
    """The report as plain text for a terminal (`onewindow archive verify`)."""
    lines = [
        f"四性检测报告（{STAGES.get(report.stage, report.stage)}）",
        f"信息包 {report.bag_name or '—'}  SHA-256 {report.package_sha256 or '—（目录）'}",
        f"办件编号 {report.case_number or '—'}  档号 {report.archival_number or '—'}  "
        f"保管期限 {RETENTION_LABELS.get(report.retention, report.retention or '—')}",
        f"检测时间 {report.checked_at or '—'}",
        "",
    ]
    for item in report.items:
        mark = "通过" if item.passed else "不通过"
        subject = f" [{item.subject}]" if item.subject else ""
        lines.append(f"{item.code:<9} {mark:<3} {item.item}{subject}：{item.reason}")
        if not item.passed:
            lines.append(f"{'':<9} ({item.reason_code})")
    failed = len(report.failures)
    lines.append("")
    lines.append(
        f"结论：通过（{len(report.items)} 项全部通过）"
        if report.passed
        else f"结论：不通过（{failed} 项不通过，共 {len(report.items)} 项）"
    )
    return "\n".join(lines) + "\n"
