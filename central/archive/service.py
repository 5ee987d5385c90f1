"""Receiving archive packages at the county (移交接收, R-ARC-2/3): check them again and answer the node.

The sync layer (`central.sync.attachments`) calls `on_blob_arrived` for every attachment that arrived whole, in
the transaction that records it. For an archive package central runs the same four-property check the node ran, this time at the transfer
and receipt stage (YJ) and against the node's public key as registered at enrolment, so a package re-signed by
anyone else fails. The report is kept, and a ``case.archive_confirmed`` event — passed or not, with the failed
items — goes into the case and down to the node that sent the package, in the same transaction: the node
purges its copy only on a passed confirmation naming that exact package.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.cases.queries import case_events
from central.cases.record import record_central_event
from central.clock import utc_iso
from central.downlog import lock_node
from central.keys import CountyKeys
from central.models import ArchiveRecord
from protocol.archive import ARCHIVE_MEDIA_TYPE, CheckItem, CheckReport, check_package, kept_until
from protocol.errors import NOT_FOUND, OneWindowError
from protocol.events import CASE_ARCHIVE_CONFIRMED, Event, fold
from protocol.keys import VerifyKey

AUTHORITY = "central:archive"


def _refuse(report: CheckReport, code: str, item: str, reason: str, reason_code: str) -> CheckReport:
    return replace(report, items=(*report.items, CheckItem(code, "ZS", item, False, reason, reason_code)))


async def on_blob_arrived(
    session: AsyncSession,
    county: CountyKeys,
    *,
    node_id: str,
    sha256: str,
    media_type: str,
    filename: str,
    data: bytes,
) -> None:
    """Check an arrived archive package and answer its node (other attachments: nothing to do)."""
    if media_type != ARCHIVE_MEDIA_TYPE:
        return
    if await session.get(ArchiveRecord, sha256) is not None:
        return  # checked and answered before: the down log already carries the answer
    node = await lock_node(session, node_id)
    trusted = VerifyKey.from_text(node.sign_key) if node is not None and node.sign_key else None
    report = await asyncio.to_thread(
        check_package, data, stage="YJ", trusted_key=trusted, expected_node=node_id, checked_at=utc_iso()
    )
    # A package sealed before the node rotated its keys carries the old key's signature: the keys it was known
    # by before count too (newest first), and only those.
    earlier = [h["sign_key"] for h in reversed(json.loads(node.key_history or "[]"))] if node else []
    for key_text in earlier if not report.passed else []:
        retry = await asyncio.to_thread(
            check_package,
            data,
            stage="YJ",
            trusted_key=VerifyKey.from_text(key_text),
            expected_node=node_id,
            checked_at=utc_iso(),
        )
        if retry.passed:
            report = retry
            break
    if trusted is None:
        report = _refuse(
            report, "YJ-ZS-2", "来源真实性（签名者为登记节点）", "上传节点没有登记的公钥", "node_key_unknown"
        )
    events: list[Event] = []
    if report.case_id:
        events = await case_events(session, report.case_id)
        state = fold(report.case_id, events)
        if state.status is not None and state.origin_node != node_id:
            report = _refuse(
                report,
                "YJ-ZS-7",
                "来源真实性（办件属于上传节点）",
                "该办件不是上传节点受理的",
                "foreign_case",
            )
    answer = ""
    if report.case_id and node is not None and node.age_recipient:
        summary = report.summary()
        # To the node that sent the package (the one that purges it), even when the case is not its own.
        recorded = await record_central_event(
            session,
            county,
            case_id=report.case_id,
            events=events,
            type=CASE_ARCHIVE_CONFIRMED,
            authority=AUTHORITY,
            actor="system:archive",
            payload={
                "package": sha256,
                "passed": report.passed,
                "archival_number": report.archival_number,
                "retention": report.retention,
                "checked_at": report.checked_at,
                "items": summary["items"],
                "failed": summary["failed"],
                "failures": summary["failures"],
            },
            node=node,
        )
        answer = recorded.event.id
    session.add(
        ArchiveRecord(
            sha256=sha256,
            node_id=node_id,
            case_id=report.case_id,
            case_number=report.case_number,
            archival_number=report.archival_number,
            retention=report.retention,
            passed=report.passed,
            failed_items=len(report.failures),
            size=len(data),
            report=report.to_json(),
            received_at=utc_iso(),
            answer_event=answer,
        )
    )
    await session.flush()


async def list_packages(session: AsyncSession, *, limit: int = 500) -> list[ArchiveRecord]:
    """Received packages, newest first."""
    query = select(ArchiveRecord).order_by(col(ArchiveRecord.received_at).desc()).limit(limit)
    return list((await session.exec(query)).all())


async def package_report(session: AsyncSession, sha256: str) -> tuple[ArchiveRecord, CheckReport]:
    record = await session.get(ArchiveRecord, sha256)
    if record is None:
        raise OneWindowError(NOT_FOUND, f"没有收到信息包 {sha256}", field="sha256")
    return record, CheckReport.from_dict(json.loads(record.report))


def record_to_json(record: ArchiveRecord) -> dict[str, Any]:
    return {
        "sha256": record.sha256,
        "node_id": record.node_id,
        "case_id": record.case_id,
        "case_number": record.case_number,
        "archival_number": record.archival_number,
        "retention": record.retention,
        "kept_until": kept_until(record.archival_number, record.retention),
        "passed": record.passed,
        "failed_items": record.failed_items,
        "size": record.size,
        "received_at": record.received_at,
        "answer_event": record.answer_event,
    }
