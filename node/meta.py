"""The node's small key/value notes (the `meta` table): the sync's bookmarks and readings, and the few settings a
centre changes at run time (a parcel's confirmation days, the hall's pending rating requests)."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from node.models import Meta


async def get_meta(session: AsyncSession, key: str) -> str | None:
    """The note under `key`, or None when there is none."""
    row = await session.get(Meta, key)
    return row.value if row else None


async def set_meta(session: AsyncSession, key: str, value: str) -> None:
    """Write the note under `key` (inside the caller's write transaction)."""
    row = await session.get(Meta, key)
    if row is None:
        session.add(Meta(key=key, value=value))
    else:
        row.value = value
        session.add(row)
