"""Hall supervision at the county (大厅督查): the ratings (好差评) the centres' applicants gave, with their
follow-ups, and the complaints (投诉) registered at the centres, as projected from their events
(`central.cases.store.refresh_aggregate`)."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.models import ComplaintRecord, RatingRecord


async def list_ratings(session: AsyncSession, *, limit: int = 500) -> list[RatingRecord]:
    """Ratings, newest first."""
    query = select(RatingRecord).order_by(col(RatingRecord.rated_at).desc()).limit(limit)
    return list((await session.exec(query)).all())


async def list_complaints(session: AsyncSession, *, limit: int = 500) -> list[ComplaintRecord]:
    """Complaints, newest first."""
    query = select(ComplaintRecord).order_by(col(ComplaintRecord.registered_at).desc()).limit(limit)
    return list((await session.exec(query)).all())
