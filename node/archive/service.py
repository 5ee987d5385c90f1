"""Archiving closed cases (归档, R-ARC-1 … R-ARC-3): build the package, check it, hand it to sync, purge it later.

- A case is closed — and archivable — when it is 已出件 (issued at the window), 不予受理 (refused) or 终止办理
  (terminated): nothing more happens to it at the window. A result handed to the logistics window is not closed
  yet, because its delivery result still comes back to the case (issue 9), nor is a decided result the applicant
  has not collected. See `protocol.events.ARCHIVABLE`.
- `archive_case` gathers the case's events, its materials and signature images from the blob store and every
  notice it produced as the PDF issued to the applicant (`node.intake.documents.issued`), builds the BagIt
  package (`protocol.archive.build_package`) with a new archival number (档号), runs the four-property check,
  and only when every item passes stores the package as a blob and appends ``case.archived`` in the same write
  transaction. A failed check stores nothing and consumes
  no archival number: the report says what to fix.
- The sync layer uploads every blob row to central; central checks the package again and answers with
  ``case.archive_confirmed`` on the down log. `purge_confirmed_packages` deletes the local package file only
  when such an event, passed, names exactly that package's hash. Nothing else ever deletes a package.
"""

from __future__ import annotations

import asyncio
import json
import logging
import platform
from dataclasses import dataclass
from importlib import metadata as dist_metadata
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from node.events import case_events, new_event, record, row_to_event
from node.intake.cases.materials import store_blob
from node.intake.cases.receive import item_of, plain
from node.intake.documents.issued import issued_pdf
from node.models import Blob, Case, CaseEvent, Counter
from node.runtime import NodeRuntime, local_date
from node.staff import LEADS, Actor, staff_names
from protocol.archive import (
    ARCHIVE_MEDIA_TYPE,
    PACKAGE_SCHEMA,
    RETENTION_CODES,
    RETENTION_LABELS,
    ArchiveFile,
    CheckReport,
    build_package,
    check_package,
    kept_until,
    safe_name,
    sniff,
)
from protocol.catalogue import CatalogueItem
from protocol.errors import FORBIDDEN, INVALID_TRANSITION, NOT_FOUND, OneWindowError
from protocol.events import (
    ARCHIVABLE,
    CASE_ARCHIVE_CONFIRMED,
    CASE_ARCHIVED,
    ISSUED,
    REFUSED,
    STATUS_LABELS,
    CaseState,
    Event,
    fold,
)

log = logging.getLogger("onewindow.node.archive")
ARCHIVE_ROLES = LEADS
SYSTEM = Actor(username="system:archive", role="system")
ARCHIVE_SERIALS_PER_YEAR = 99999
_EXTENSIONS = {"pdf": "pdf", "jpg": "jpg", "png": "png", "tiff": "tif"}


@dataclass(frozen=True)
class ArchiveOutcome:
    """What archiving one case did: the check report, and the package's hash when it was archived."""

    case_id: str
    report: CheckReport
    archived: bool
    package_sha256: str = ""


class _CheckFailed(Exception):
    def __init__(self, report: CheckReport) -> None:
        super().__init__("four-property check failed")
        self.report = report


def closed_at(state: CaseState) -> str:
    """When the case was closed (出件, 不予受理 or 终止办理)."""
    if state.status == ISSUED and state.issue:
        return str(state.issue.get("issued_at", ""))
    if state.status == REFUSED and state.refusal:
        return str(state.refusal.get("refused_at", ""))
    if state.termination:
        return str(state.termination.get("terminated_at", ""))
    return ""


def may_archive(state: CaseState) -> bool:
    """Closed, and not archived yet (or its last package was refused by the county's check)."""
    if state.status not in ARCHIVABLE:
        return False
    if state.archive is None:
        return True
    package = state.archive.get("package")
    checks = [c for c in state.archive_checks if c.get("package") == package]
    return bool(checks) and not any(c.get("passed") for c in checks)


def _environment() -> dict[str, str]:
    try:
        version = dist_metadata.version("onewindow-edge")
    except dist_metadata.PackageNotFoundError:
        version = "unknown"
    try:
        pdf = f"fpdf2 {dist_metadata.version('fpdf2')}"
    except dist_metadata.PackageNotFoundError:
        pdf = "fpdf2"
    return {
        "software": "OneWindow Edge 一窗受理·集成服务（节点）",
        "version": version,
        "runtime": f"Python {platform.python_version()} on {platform.system()} {platform.machine()}",
        "pdf_producer": pdf,
        "hardware": "便民服务中心边缘节点",
    }


def _result(state: CaseState) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if state.decision is not None:
        d = state.decision
        result["decision"] = {
            "outcome": d.outcome,
            "reason": d.reason,
            "department": d.department,
            "decided_by": d.decided_by,
            "decided_at": d.decided_at,
            "on_spot": d.on_spot,
        }
    for name, value in (
        ("issue", state.issue),
        ("refusal", state.refusal),
        ("termination", state.termination),
        ("waiver", state.waiver),
    ):
        if value:
            result[name] = plain(dict(value))
    return result


def case_metadata(
    runtime: NodeRuntime,
    state: CaseState,
    item: CatalogueItem,
    *,
    archival_number: str,
    year: int,
    actor: Actor,
) -> dict[str, Any]:
    """The case-level metadata of the package (GB/T 39046 / DA/T 46 style, see domain-facts §5.3)."""
    return {
        "schema": PACKAGE_SCHEMA,
        "archival_number": archival_number,
        "retention": item.retention,
        "retention_label": RETENTION_LABELS[item.retention],
        "fonds": runtime.identity.division,
        "year": year,
        "category": "WS",
        "security_class": "非密",
        "archived_at": runtime.now_iso(),
        "archived_by": actor.username,
        "node_id": runtime.node_id,
        "centre_name": runtime.identity.name,
        "county_name": runtime.identity.county_name,
        "case": {
            "case_id": state.case_id,
            "case_number": state.case_number,
            "item_code": state.item_code,
            "item_name": state.item_name,
            "basic_code": item.basic_code,
            "main_item": {"name": item.main_item_name, "code": item.main_item_code},
            "item_type": item.item_type,
            "case_type": item.case_type,
            "implementing_body": item.implementing_body,
            "implementing_body_code": item.implementing_body_code,
            "lead_department": item.departments[0].name if item.departments else "",
            "catalogue_version": state.catalogue_version,
            "applicant": plain(dict(state.applicant)),
            "agent": plain(dict(state.agent)) if state.agent else None,
            "received_at": state.received_at,
            "received_by": state.received_by,
            "accepted_at": state.accepted_at,
            "accepted_by": state.accepted_by,
            "promised_date": state.promised_date,
            "deemed_accepted_at": state.deemed_accepted_at,
            "closed_at": closed_at(state),
            "status": state.status,
            "status_label": STATUS_LABELS.get(state.status or "", ""),
            "result": _result(state),
            "corrections": [plain(dict(c)) for c in state.corrections],
            "anomalies": list(state.anomalies),
        },
        "notices": [
            {"kind": n.kind, "title": n.title, "number": n.number, "issued_at": n.issued_at}
            for n in state.notices
        ],
        "environment": _environment(),
    }


def _collect_files(
    runtime: NodeRuntime, state: CaseState, item: CatalogueItem
) -> tuple[list[ArchiveFile], dict[str, bytes]]:
    """Materials and signature images from the blob store (decrypting: run in a thread), and the signature
    images by hash for the notices that show them."""
    files: list[ArchiveFile] = []
    titles = {m.id: m.name for m in item.materials}
    for material in state.materials:
        digest = str(material["blob"])
        if not runtime.blobs.exists(digest):
            raise OneWindowError(
                NOT_FOUND, f"材料文件 {material['filename']} 不在本机，无法归档", field="blob"
            )
        data = runtime.blobs.get(digest)
        material_id = str(material["material_id"])
        fmt = sniff(data) or "bin"
        files.append(
            ArchiveFile(
                role="material",
                name=f"{safe_name(material_id, 'material')}.{_EXTENSIONS.get(fmt, fmt)}",
                data=data,
                title=f"{titles.get(material_id, material_id)}（{material['filename']}）",
                source=material_id,
            )
        )
    images: dict[str, bytes] = {}
    for title, digest, when in (
        ("容缺受理承诺书签名", str((state.waiver or {}).get("commitment_signature", "")), state.accepted_at),
        (
            "领取人签名",
            str((state.issue or {}).get("signature", "")),
            str((state.issue or {}).get("issued_at", "")),
        ),
    ):
        if not digest:
            continue
        if not runtime.blobs.exists(digest):
            raise OneWindowError(NOT_FOUND, f"{title}图像不在本机，无法归档", field="blob")
        images[digest] = runtime.blobs.get(digest)
        files.append(ArchiveFile("signature", "signature.png", images[digest], title, created_at=when))
    return files, images


async def _render_notices(
    runtime: NodeRuntime,
    state: CaseState,
    item: CatalogueItem,
    names: dict[str, str],
) -> list[ArchiveFile]:
    """Every notice of the case as a PDF: the original as issued to the applicant (`issued_pdf`; made now, and
    kept as the original, for a notice never printed)."""
    files = []
    for notice in state.notices:
        files.append(
            ArchiveFile(
                role="notice",
                name=f"{notice.kind}.pdf",
                data=await issued_pdf(runtime, state, item, notice, staff_names=names),
                title=notice.title,
                document_number=notice.number,
                created_at=notice.issued_at,
                source=notice.kind,
            )
        )
    return files


async def _next_archival_number(
    session: AsyncSession, runtime: NodeRuntime, retention: str, year: int
) -> str:
    """档号 全宗号-WS·年度-期限-件号: the centre's division code is the fonds, so numbers never collide across
    centres; the serial is gap-free per year and retention period, advanced in the caller's transaction."""
    name = f"archive:{year}:{retention}"
    counter = await session.get(Counter, name) or Counter(name=name, value=0)
    if counter.value >= ARCHIVE_SERIALS_PER_YEAR:
        raise OneWindowError(INVALID_TRANSITION, f"{year}年档号已用完", field="archival_number")
    counter.value += 1
    session.add(counter)
    await session.flush()
    return f"{runtime.identity.division}-WS·{year}-{RETENTION_CODES[retention]}-{counter.value:05d}"


def _build_and_check(
    runtime: NodeRuntime,
    state: CaseState,
    item: CatalogueItem,
    meta: dict[str, Any],
    history: list[Event],
    files: list[ArchiveFile],
) -> tuple[bytes, CheckReport]:
    """Seal the package and run the archiving-stage check on exactly those bytes (CPU work: run in a thread)."""
    number = str(meta["archival_number"])
    package = build_package(
        bag_name=safe_name(state.case_number, state.case_id),
        metadata=meta,
        events=history,
        files=files,
        signer=runtime.identity.signing_key,
        bag_info=[
            ("Source-Organization", runtime.identity.name),
            ("Contact-Name", f"{runtime.identity.county_name}{runtime.identity.name}"),
            ("External-Identifier", state.case_number),
            ("Internal-Sender-Identifier", state.case_id),
            ("External-Description", f"{state.item_name}：{state.applicant.get('name', '')}"),
            ("Archival-Number", number),
            ("Retention-Period", item.retention),
            ("Division-Code", runtime.identity.division),
            ("Item-Code", state.item_code),
            ("Node-Id", runtime.node_id),
        ],
        bagging_date=runtime.today().isoformat(),
    )
    report = check_package(
        package,
        stage="GD",
        trusted_key=runtime.identity.sign_key,
        expected_node=runtime.node_id,
        checked_at=runtime.now_iso(),
    )
    return package, report


async def archive_case(runtime: NodeRuntime, *, actor: Actor, case_id: str) -> ArchiveOutcome:
    """归档 one closed case; the outcome carries the four-property check report either way."""
    if actor.role not in (*ARCHIVE_ROLES, "system"):
        raise OneWindowError(FORBIDDEN, "只有业务负责人或节点管理员可以归档", field="role")
    async with runtime.db.read() as session:
        events = await case_events(session, case_id)
    state = fold(case_id, events)
    if state.status is None:
        raise OneWindowError(NOT_FOUND, f"办件 {case_id} 不存在", field="case_id")
    if not may_archive(state):
        why = "已归档" if state.archive is not None else f"当前为「{state.status_label}」，尚未办结"
        raise OneWindowError(INVALID_TRANSITION, f"该办件{why}，不能归档", field="case_id")
    item = item_of(runtime, state)
    names = await staff_names(runtime)
    files, _ = await asyncio.to_thread(_collect_files, runtime, state, item)
    files += await _render_notices(runtime, state, item, names)
    year = local_date(closed_at(state) or runtime.now_iso()).year
    history = [e for e in events if e.type not in (CASE_ARCHIVED, CASE_ARCHIVE_CONFIRMED)]
    try:
        async with runtime.db.write() as session:
            now_events = await case_events(session, case_id)
            if {e.id for e in now_events} != {e.id for e in events}:
                raise OneWindowError(
                    INVALID_TRANSITION, "办件在归档过程中有新的记录，请重试", field="case_id"
                )
            number = await _next_archival_number(session, runtime, item.retention, year)
            meta = case_metadata(runtime, state, item, archival_number=number, year=year, actor=actor)
            package, report = await asyncio.to_thread(
                _build_and_check, runtime, state, item, meta, history, files
            )
            if not report.passed:
                raise _CheckFailed(report)  # rolls back: no blob row, no event, the archival number unused
            digest = await store_blob(
                session, runtime, package, media_type=ARCHIVE_MEDIA_TYPE, filename=f"{state.case_number}.zip"
            )
            payload = {
                "package_blob": digest,
                "archival_number": number,
                "retention": item.retention,
                "size": len(package),
                "files": len(files),
                "archived_at": meta["archived_at"],
                "check": report.summary(),
            }
            await record(session, runtime, new_event(runtime, actor, case_id, CASE_ARCHIVED, payload))
    except _CheckFailed as failed:
        log.warning("case %s: archive check failed: %s", case_id, [i.code for i in failed.report.failures])
        return ArchiveOutcome(case_id, failed.report, archived=False)
    return ArchiveOutcome(case_id, report, archived=True, package_sha256=digest)


async def archivable_cases(runtime: NodeRuntime) -> list[Case]:
    """Closed cases without a package yet (or whose package the county refused), oldest first."""
    async with runtime.db.read() as session:
        rows = (
            await session.exec(
                select(Case).where(col(Case.status).in_(ARCHIVABLE)).order_by(col(Case.received_at))
            )
        ).all()
        archived = set(
            (await session.exec(select(CaseEvent.case_id).where(CaseEvent.type == CASE_ARCHIVED))).all()
        )
        # Only cases the county has refused a package of can need a new one (payloads are encrypted at rest:
        # read the confirmations and look inside; there are as many as archived cases, not events).
        refusals = {
            case_id
            for case_id, payload in (
                await session.exec(
                    select(CaseEvent.case_id, CaseEvent.payload).where(
                        CaseEvent.type == CASE_ARCHIVE_CONFIRMED
                    )
                )
            ).all()
            if json.loads(payload).get("passed") is False
        }
        refused: list[Case] = []
        for row in rows:
            if row.case_id in archived and row.case_id in refusals:
                state = fold(row.case_id, await case_events(session, row.case_id))
                if may_archive(state):
                    refused.append(row)
    return [r for r in rows if r.case_id not in archived] + refused


# Cases whose package failed the check, by the newest event they had then: the sweep does not rebuild them until
# something changes (kept per process; a restart tries once more, which is harmless).
_failed_at: dict[tuple[str, str], int] = {}


async def archive_closed_cases(runtime: NodeRuntime) -> list[ArchiveOutcome]:
    """The sweep: archive every closed case that has no package yet."""
    outcomes = []
    for row in await archivable_cases(runtime):
        key = (runtime.node_id, row.case_id)
        if _failed_at.get(key) == row.last_hlc:
            continue
        try:
            outcome = await archive_case(runtime, actor=SYSTEM, case_id=row.case_id)
        except OneWindowError as exc:
            log.warning("case %s: not archived: %s", row.case_number, exc)
            _failed_at[key] = row.last_hlc
            continue
        if not outcome.archived:
            _failed_at[key] = row.last_hlc
        outcomes.append(outcome)
    return outcomes


@dataclass(frozen=True)
class PackageRow:
    """One archived package as the node knows it: where it stands between archiving and the county's copy."""

    case: Case
    event: Event
    package: str
    archival_number: str
    retention: str
    size: int
    archived_at: str
    state: str  # awaiting | confirmed | refused
    local_copy: bool
    uploaded: bool
    central_checks: tuple[dict[str, Any], ...]

    @property
    def retention_label(self) -> str:
        return RETENTION_LABELS.get(self.retention, self.retention)

    @property
    def kept_until(self) -> str:
        return kept_until(self.archival_number, self.retention)


STATE_LABELS = {
    "awaiting": "待县级接收确认",
    "confirmed": "县级已确认接收",
    "refused": "县级检测未通过",
}


async def list_packages(runtime: NodeRuntime) -> list[PackageRow]:
    """Every package this node made, newest first, with the county's answer and whether the local copy is kept."""
    async with runtime.db.read() as session:
        rows = (
            await session.exec(
                select(CaseEvent)
                .where(CaseEvent.type == CASE_ARCHIVED, CaseEvent.origin == "local")
                .order_by(col(CaseEvent.hlc).desc())
            )
        ).all()
        checks: dict[str, list[dict[str, Any]]] = {}
        for row in (
            await session.exec(select(CaseEvent).where(CaseEvent.type == CASE_ARCHIVE_CONFIRMED))
        ).all():
            payload = json.loads(row.payload)
            checks.setdefault(str(payload.get("package")), []).append(payload)
        result = []
        for row in rows:
            event = row_to_event(row)
            case = await session.get(Case, row.case_id)
            if case is None:
                continue
            package = str(event.payload["package_blob"])
            mine = checks.get(package, [])
            blob = await session.get(Blob, package)
            state = (
                "confirmed"
                if any(c.get("passed") is True for c in mine)
                else ("refused" if mine else "awaiting")
            )
            result.append(
                PackageRow(
                    case=case,
                    event=event,
                    package=package,
                    archival_number=str(event.payload.get("archival_number", "")),
                    retention=str(event.payload.get("retention", "")),
                    size=int(event.payload.get("size", 0)),
                    archived_at=str(event.payload.get("archived_at", "")),
                    state=state,
                    local_copy=runtime.blobs.exists(package),
                    uploaded=blob is not None and blob.uploaded_at is not None,
                    central_checks=tuple(mine),
                )
            )
    return result


async def package_report(runtime: NodeRuntime, case_id: str) -> tuple[CheckReport | None, PackageRow]:
    """The newest package of a case and its full report, checked again now from the local copy (None once the
    copy was purged after the county confirmed it: the event's summary and the county's answer remain)."""
    rows = [r for r in await list_packages(runtime) if r.case.case_id == case_id]
    if not rows:
        raise OneWindowError(NOT_FOUND, "该办件尚未归档", field="case_id")
    row = rows[0]
    if not row.local_copy:
        return None, row
    data = runtime.blobs.get(row.package)
    report = await asyncio.to_thread(
        check_package,
        data,
        stage="GD",
        trusted_key=runtime.identity.sign_key,
        expected_node=runtime.node_id,
        checked_at=runtime.now_iso(),
    )
    return report, row


async def package_bytes(runtime: NodeRuntime, case_id: str) -> tuple[str, bytes]:
    report_row = [r for r in await list_packages(runtime) if r.case.case_id == case_id]
    if not report_row or not report_row[0].local_copy:
        raise OneWindowError(NOT_FOUND, "本机没有该办件的归档信息包", field="case_id")
    row = report_row[0]
    return f"{row.case.case_number}.zip", runtime.blobs.get(row.package)


async def purge_confirmed_packages(runtime: NodeRuntime) -> list[str]:
    """Delete the local copy of every package the county confirmed; returns the hashes purged.

    The only test is the node's own event table: a ``case.archive_confirmed`` event, passed, naming exactly
    this package's hash. No event (a lost confirmation, central not reached yet), a failed check, or a
    confirmation of another package of the same case: the copy stays."""
    purged = []
    async with runtime.db.read() as session:
        archived = (
            await session.exec(
                select(CaseEvent).where(CaseEvent.type == CASE_ARCHIVED, CaseEvent.origin == "local")
            )
        ).all()
        confirmed: set[tuple[str, str]] = set()
        for row in (
            await session.exec(select(CaseEvent).where(CaseEvent.type == CASE_ARCHIVE_CONFIRMED))
        ).all():
            payload = json.loads(row.payload)
            if payload.get("passed") is True:
                confirmed.add((row.case_id, str(payload.get("package"))))
    for row in archived:
        package = str(json.loads(row.payload).get("package_blob"))
        if (row.case_id, package) in confirmed and runtime.blobs.exists(package):
            runtime.blobs.delete(package)
            purged.append(package)
            log.info("case %s: package %s confirmed by the county, local copy purged", row.case_id, package)
    return purged


async def archive_loop(runtime: NodeRuntime, *, interval_s: float, stop: asyncio.Event) -> None:
    """Background work of the node's lifespan: archive newly closed cases, purge confirmed packages."""
    while not stop.is_set():
        try:
            await archive_closed_cases(runtime)
            await purge_confirmed_packages(runtime)
        except Exception:  # keep the loop alive; the next round tries again
            log.exception("archive sweep failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
        except TimeoutError:
            pass
