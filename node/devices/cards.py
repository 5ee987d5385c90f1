"""ID card reads at the window (读取身份证): what the tablet gets to fill the applicant form, and what the node keeps.

The node keeps little: when and by whom a card was read, the number only as the node's keyed hash, and the
1024-byte WLT photo as an encrypted blob (decoded to an image only when a decoder plug-in is configured, now or
later). The card's text goes to the clerk's form; it is stored when the case is received, like typed input.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

from node.devices.models import IdCardRead
from node.devices.photo import PhotoDecoder
from node.devices.sam import LONG_TERM, IdCard
from node.events import get_case
from node.intake.cases.materials import attach_material, store_blob
from node.intake.cases.receive import item_of
from node.intake.hall.tickets import hash_id_number
from node.runtime import NodeRuntime
from node.staff import Actor
from protocol.catalogue import CatalogueItem, Material
from protocol.events import CaseState
from protocol.ids import uuid7

RESIDENT_ID_CARD = "111"  # GA/T 2000.156 居民身份证
#: The checklist slot an ID card read fills (the catalogue's id for the applicant's own resident ID card).
ID_CARD_MATERIAL = "id-card"


def _date(value: str) -> str:
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if len(value) == 8 and value.isdigit() else value


def _card_font(size: int) -> Any:
    from PIL import ImageFont

    try:
        from common.documents.pdf import font_paths

        return ImageFont.truetype(str(font_paths()[1]), size)
    except Exception:  # the fonts wheel missing: the image still renders, in the default font
        return ImageFont.load_default()


def card_image(card: IdCard, photo: bytes = b"") -> bytes:
    """Both sides of the card as one JPEG, drawn from what its chip holds (and the decoded photo when there is
    one): the ID material's page, so the clerk need not photocopy a card the reader has just read."""
    from PIL import Image, ImageDraw

    width, height, gap = 856, 540, 40  # ID-1 (85.6 × 54 mm) at 10 px/mm
    page = Image.new("RGB", (width + 80, 2 * height + gap + 80), "white")
    draw = ImageDraw.Draw(page)
    label, text, small = _card_font(26), _card_font(32), _card_font(22)
    for top in (40, 40 + height + gap):
        draw.rounded_rectangle((40, top, 40 + width, top + height), radius=28, outline="#7a8aa0", width=3)
    front = 40
    rows = [
        ("姓名", card.name),
        ("性别", f"{card.sex_label}    民族 {card.nation_label}"),
        ("出生", card.birth_iso),
        ("住址", card.address[:14]),
        ("", card.address[14:28]),
    ]
    for n, (term, value) in enumerate(rows):
        y = front + 50 + n * 62
        draw.text((80, y + 4), term, fill="#3a6ea5", font=label)
        draw.text((160, y), value, fill="black", font=text)
    draw.text((80, front + 440), "公民身份号码", fill="#3a6ea5", font=label)
    draw.text((270, front + 434), card.number, fill="black", font=text)
    box = (640, front + 50, 820, front + 280)
    if photo:
        try:
            portrait = Image.open(io.BytesIO(photo)).convert("RGB").resize((box[2] - box[0], box[3] - box[1]))
            page.paste(portrait, box[:2])
        except Exception:  # an undecodable photo: the frame says so
            photo = b""
    if not photo:
        draw.rectangle(box, outline="#9aa5b4", width=2)
        draw.text((box[0] + 30, box[1] + 100), "照片未解码", fill="#9aa5b4", font=small)
    back = 40 + height + gap
    draw.text((300, back + 60), "中华人民共和国", fill="black", font=_card_font(40))
    draw.text((330, back + 130), "居民身份证", fill="black", font=_card_font(48))
    draw.text((120, back + 330), "签发机关", fill="#3a6ea5", font=label)
    draw.text((260, back + 324), card.authority, fill="black", font=text)
    valid_to = card.valid_to if card.valid_to == LONG_TERM else _date(card.valid_to)
    draw.text((120, back + 400), "有效期限", fill="#3a6ea5", font=label)
    draw.text((260, back + 394), f"{_date(card.valid_from)} - {valid_to}", fill="black", font=text)
    draw.text((80, page.height - 34), "由身份证读卡器读取的芯片信息生成", fill="#5b6675", font=small)
    out = io.BytesIO()
    page.save(out, format="JPEG", quality=85)
    return out.getvalue()


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
    drawn = await asyncio.to_thread(card_image, card, decoded)  # before the write transaction opens
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
        card_blob = await store_blob(db, runtime, drawn, media_type="image/jpeg", filename="idcard.jpg")
        read = IdCardRead(
            id=uuid7(),
            read_at=runtime.now_iso(),
            staff=actor.username,
            window=window.strip()[:20],
            id_hash=hash_id_number(card.number, runtime.identity.data_key),
            photo_blob=photo,
            photo_decoded_blob=image,
            card_blob=card_blob,
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


def id_card_slot(item: CatalogueItem) -> Material | None:
    """The checklist slot an ID card read fills, when the item has one that takes an image or a PDF."""
    return next(
        (m for m in item.materials if m.id == ID_CARD_MATERIAL and {"jpg", "pdf"} & set(m.formats)), None
    )


async def attach_card_image(runtime: NodeRuntime, *, actor: Actor, case_id: str, read_id: str) -> CaseState:
    """The ID card read on the new-case form becomes the ID material's page: only a read of this applicant's
    own card (the number's keyed hash must match), once, and only while the slot is still empty."""
    state = await get_case(runtime, case_id)
    slot = id_card_slot(item_of(runtime, state))
    if slot is None or any(m["material_id"] == slot.id for m in state.materials):
        return state
    async with runtime.db.read() as db:
        read = await db.get(IdCardRead, read_id)
    number = str(state.applicant.get("cert_number", ""))
    if (
        read is None
        or not read.card_blob
        or read.id_hash != hash_id_number(number, runtime.identity.data_key)
    ):
        return state
    data = runtime.blobs.get(read.card_blob)
    filename = "居民身份证（读卡）.jpg"
    if "jpg" not in slot.formats:
        data, filename = await asyncio.to_thread(_as_pdf, data), "居民身份证（读卡）.pdf"
    return await attach_material(
        runtime, actor=actor, case_id=case_id, material_id=slot.id, filename=filename, data=data
    )


def _as_pdf(jpeg: bytes) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.open(io.BytesIO(jpeg)).save(out, format="PDF", resolution=254.0)
    return out.getvalue()
