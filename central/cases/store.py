"""The event store at central: storing an event exactly once, and rebuilding the projections (case list rows,
ratings, complaints) from the events. Same id + same content is a no-op; same id + other content a conflict."""

from __future__ import annotations

from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.cases.bulk import event_of, refresh_cases
from central.clock import utc_iso
from central.models import ComplaintRecord, EventRecord, RatingRecord
from protocol.errors import EVENT_CONFLICT, OneWindowError
from protocol.events import Event, event_columns
from protocol.hall import fold_complaint, fold_rating


async def store_event(
    session: AsyncSession, event: Event, *, node_id: str | None, up_seq: int | None
) -> bool:
    """Insert once; same id + same content is a no-op, same id + other content a conflict."""
    existing = await session.get(EventRecord, event.id)
    if existing is not None:
        if existing.content_hash != event.content_hash:
            raise OneWindowError(
                EVENT_CONFLICT, f"event {event.id} differs from the one received before", field="event.id"
            )
        return False
    session.add(EventRecord(**event_columns(event), node_id=node_id, up_seq=up_seq))
    return True


async def refresh_case(session: AsyncSession, case_id: str, *, now: str | None = None) -> None:
    """Rebuild one case's projection from all its events."""
    await session.flush()
    await refresh_cases(session, [case_id], now=now or utc_iso())


async def refresh_aggregate(
    session: AsyncSession, aggregate_id: str, kind: str, *, now: str | None = None
) -> None:
    """Rebuild the projection of a case, a rating or a complaint from its events."""
    if kind == "case":
        await refresh_case(session, aggregate_id, now=now)
        return
    await session.flush()
    rows = (await session.exec(select(EventRecord).where(EventRecord.case_id == aggregate_id))).all()
    events = [event_of(r) for r in rows]
    if kind == "rating":
        rating = fold_rating(aggregate_id, events)
        if not rating.level:
            return
        rating_values = {
            "origin_node": rating.origin_node,
            "level": rating.level,
            "channel": rating.channel,
            "rated_at": rating.rated_at,
            "case_number": rating.case_number,
            "item_name": rating.item_name,
            "staff": rating.staff,
            "window": rating.window,
            "comment": rating.comment,
            "reason": rating.reason,
            "followup_due": rating.followup_due,
            "called_back_at": rating.called_back_at,
            "closed_at": rating.closed_at,
            "rectification": rating.rectification,
        }
        await _upsert(session, RatingRecord, aggregate_id, rating_values)
    elif kind == "complaint":
        complaint = fold_complaint(aggregate_id, events)
        if not complaint.registered_at:
            return
        complaint_values = {
            "origin_node": complaint.origin_node,
            "channel": complaint.channel,
            "complainant": complaint.complainant,
            "content": complaint.content,
            "case_number": complaint.case_number,
            "registered_at": complaint.registered_at,
            "assignee": complaint.assignee,
            "due": complaint.due,
            "resolution": complaint.resolution,
            "resolved_at": complaint.resolved_at,
        }
        await _upsert(session, ComplaintRecord, aggregate_id, complaint_values)


async def _upsert(session: AsyncSession, model: Any, key: str, values: dict[str, Any]) -> None:
    row = await session.get(model, key)
    if row is None:
        pk = "rating_id" if model is RatingRecord else "complaint_id"
        session.add(model(**{pk: key}, **values))
    else:
        for name, value in values.items():
            setattr(row, name, value)
        session.add(row)
