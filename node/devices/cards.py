"""ID card reads at the window (读取身份证): what the tablet gets to fill the applicant form, and what the node keeps.

The node keeps little: when and by whom a card was read, the number only as the node's keyed hash, and the
1024-byte WLT photo as an encrypted blob (decoded to an image only when a decoder plug-in is configured, now or
later). The card's text goes to the clerk's form; it is stored when the case is received, like typed input.
"""

from __future__ import annotations

from typing import Any

from node.devices.models import IdCardRead
from node.devices.photo import PhotoDecoder
from node.devices.sam import LONG_TERM, IdCard
from node.intake.cases.materials import store_blob
from node.intake.hall.tickets import hash_id_number
from node.runtime import NodeRuntime
from node.staff import Actor
from protocol.ids import uuid7

RESIDENT_ID_CARD = "111"  # GA/T 2000.156 居民身份证


def _date(value: str) -> str:
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if len(value) == 8 and value.isdigit() else value


async def record_card_read(
    runtime: NodeRuntime, *, card: IdCard, actor: Actor, window: str = "", decoder: PhotoDecoder | None = None
) -> IdCardRead:
    """Keep the fact of the read and the raw photo (encrypted); decode the photo when a plug-in is there."""
    decoded = b""
    if decoder is not None and card.photo_wlt:
        try:
            decoded = decoder(card.photo_wlt)
        except Exception:  # a vendor library failing must not lose the read; the raw WLT is kept
            decoded = b""
    async with runtime.db.write() as db:
        photo = (
            await store_blob(
                db, runtime, card.photo_wlt, media_type="application/x-wlt", filename="photo.wlt"
            )
            if card.photo_wlt
            else ""
        )
        image = (
            await store_blob(db, runtime, decoded, media_type="image/bmp", filename="photo.bmp")
            if decoded
            else ""
        )
        read = IdCardRead(
            id=uuid7(),
            read_at=runtime.now_iso(),
            staff=actor.username,
            window=window.strip()[:20],
            id_hash=hash_id_number(card.number, runtime.identity.data_key),
            photo_blob=photo,
            photo_decoded_blob=image,
        )
        db.add(read)
    return read


def card_fields(card: IdCard, read: IdCardRead | None = None) -> dict[str, Any]:
    """The card as the applicant form wants it (field names of the case form), plus what is shown beside it."""
    return {
        "name": card.name,
        "cert_type": RESIDENT_ID_CARD,
        "cert_number": card.number,
        "sex": card.sex if card.sex in ("1", "2") else "",
        "sex_label": card.sex_label,
        "birth_date": _date(card.birth),
        "nation": card.nation_label,
        "address": card.address,
        "authority": card.authority,
        "valid_from": _date(card.valid_from),
        "valid_to": card.valid_to if card.valid_to == LONG_TERM else _date(card.valid_to),
        "number_valid": card.number_valid,
        "number_problem": card.number_problem,
        "read_id": read.id if read else "",
        "photo_kept": bool(read and read.photo_blob),
        "photo_decoded": bool(read and read.photo_decoded_blob),
    }
