"""The node's notices read right and never change once issued (issue 17, point 6): a refusal's reason and its
legal basis are two sentences whatever the clerk typed, the 一次性告知书's 「其他」 row says 其他, an ordinary
收件凭证 and 受理通知书 with six materials fit one A4 page, and a reprint is the stored original byte for byte.

Every PDF is read back with poppler (`pdftotext`, `pdfinfo`) and rendered to PNG with `pdftoppm` into
/tmp/onewindow-shots/issue17 for a human to look at.
"""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

from sqlmodel import select

from node.intake.documents.models import IssuedDocument
from tests.conftest import Stack, login_node
from tests.integration.test_acceptance_outcomes import (
    PDF,
    at,
    attach,
    item_named,
    pdf_text,
    receive,
)
from tests.support import require_tool

SHOTS = Path("/tmp/onewindow-shots/issue17")
SIX_MATERIALS = "特困人员救助供养申请"  # 承诺件, 20 working days, 6 materials (5 mandatory)


async def fetch(stack: Stack, case_id: str, kind: str) -> bytes:
    response = await stack.node.get(f"/cases/{case_id}/notices/{kind}.pdf")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    return response.content


def pages(data: bytes) -> int:
    done = subprocess.run([require_tool("pdfinfo"), "-"], input=data, capture_output=True, check=True)
    line = next(x for x in done.stdout.decode().splitlines() if x.startswith("Pages:"))
    return int(line.split()[1])


def keep(data: bytes, name: str) -> None:
    """The PDF and its pages as PNG, kept for a human to look at."""
    with contextlib.suppress(OSError):
        SHOTS.mkdir(parents=True, exist_ok=True)
        (SHOTS / f"{name}.pdf").write_bytes(data)
        subprocess.run(
            [require_tool("pdftoppm"), "-png", "-r", "60", str(SHOTS / f"{name}.pdf"), str(SHOTS / name)],
            check=True,
        )


async def test_receipt_and_acceptance_with_six_materials_fit_one_page_and_reprint_byte_for_byte(
    stack: Stack,
) -> None:
    stack.clock.set(at("2026-11-16"))
    await login_node(stack)
    item = await item_named(stack, SIX_MATERIALS)
    assert len(item["materials"]) == 6
    agent = {"name": "李四", "cert_type": "111", "cert_number": "440524188001010014", "phone": "13800000000"}
    case = await receive(stack, item, agent=agent)
    case_id = case["case_id"]
    for material in item["materials"]:
        await attach(stack, case_id, material["id"])

    receipt = await fetch(stack, case_id, "receipt")
    keep(receipt, "receipt-6-materials")
    assert pages(receipt) == 1
    text = pdf_text(receipt)
    for material in item["materials"]:
        assert material["name"].replace(" ", "") in text, material["name"]
    assert "已提交（1个文件）" in text

    # Something changes after issue (one more scan in the first slot): the reprint is still the original.
    stack.clock.set(at("2026-11-17"))
    await stack.node.post(
        f"/api/v1/cases/{case_id}/materials",
        data={"material_id": item["materials"][0]["id"]},
        files={"file": ("again.pdf", PDF, "application/pdf")},
    )
    again = await fetch(stack, case_id, "receipt")
    assert again == receipt
    assert "已提交（2个文件）" not in pdf_text(again)

    accepted = await stack.node.post(f"/api/v1/cases/{case_id}/accept", json={"collection": "window"})
    assert accepted.status_code == 200, accepted.text
    acceptance = await fetch(stack, case_id, "acceptance")
    keep(acceptance, "acceptance-6-materials")
    assert pages(acceptance) == 1
    assert "予以受理" in pdf_text(acceptance) and "暂定" not in pdf_text(acceptance)
    assert await fetch(stack, case_id, "acceptance") == acceptance
    # The API serves the same original.
    api = await stack.node.get(f"/api/v1/cases/{case_id}/notices/acceptance.pdf")
    assert api.content == acceptance

    # Kept in the blob store, encrypted with the data key like every blob (never the plain PDF on disk).
    async with stack.runtime.db.read() as session:
        rows = (await session.exec(select(IssuedDocument).where(IssuedDocument.case_id == case_id))).all()
    assert {r.kind for r in rows} == {"receipt", "acceptance"}
    for row in rows:
        raw = stack.runtime.blobs.path(row.sha256).read_bytes()
        assert b"%PDF" not in raw and b"FontFile" not in raw
        assert stack.runtime.blobs.get(row.sha256) in (receipt, acceptance)


async def test_refusal_reason_without_final_punctuation_is_its_own_sentence(stack: Stack) -> None:
    stack.clock.set(at("2026-11-16"))
    await login_node(stack)
    item = await item_named(stack, "农村宅基地申请")
    case = await receive(stack, item)
    refused = await stack.node.post(
        f"/api/v1/cases/{case['case_id']}/refuse",
        json={
            # As the form's placeholder suggests: no final 。
            "reasons": "申请人不符合申请条件",
            "legal_basis": "《中华人民共和国行政许可法》第三十二条第一款第（一）项",
        },
    )
    assert refused.status_code == 200, refused.text
    data = await fetch(stack, case["case_id"], "refusal")
    keep(data, "refusal")
    text = pdf_text(data)
    assert (
        "不符合申请条件。根据《中华人民共和国行政许可法》第三十二条第一款第（一）项的规定，决定不予受理。"
        in text
    )
    assert "条件根据" not in text


async def test_refusal_reads_right_whatever_the_clerk_typed(stack: Stack) -> None:
    """A trailing comma, a half-width full stop, the basis typed as 「根据……的规定。」: still two sentences."""
    stack.clock.set(at("2026-11-16"))
    await login_node(stack)
    item = await item_named(stack, "农村宅基地申请")
    case = await receive(stack, item)
    refused = await stack.node.post(
        f"/api/v1/cases/{case['case_id']}/refuse",
        json={
            "reasons": "申请人已有一处宅基地，不符合一户一宅的规定，",
            "legal_basis": "根据《中华人民共和国土地管理法》第六十二条的规定。",
        },
    )
    assert refused.status_code == 200, refused.text
    text = pdf_text(await fetch(stack, case["case_id"], "refusal"))
    assert "不符合一户一宅的规定。根据《中华人民共和国土地管理法》第六十二条的规定，决定不予受理。" in text
    assert "规定，根据" not in text and "根据根据" not in text and "的规定的规定" not in text


async def test_correction_notice_prints_the_other_row_as_other(stack: Stack) -> None:
    stack.clock.set(at("2026-11-16"))
    await login_node(stack)
    item = await item_named(stack, "最低生活保障申请")
    case = await receive(stack, item)
    asked = await stack.node.post(
        f"/api/v1/cases/{case['case_id']}/correction",
        json={
            "corrections": [
                {"material_id": "id-card", "problem": "未提交", "requirement": "提交原件1份"},
                {"material_id": "", "problem": "申请书家庭成员栏填写不完整", "requirement": "补填后签字"},
            ]
        },
    )
    assert asked.status_code == 200, asked.text
    assert asked.json()["corrections"][1]["material_name"] == "其他"
    data = await fetch(stack, case["case_id"], "correction")
    keep(data, "correction")
    text = pdf_text(data)
    assert "2其他申请书家庭成员栏填写不完整" in text
    # 「申请事项」 is only the label of the item applied for, never a row of the table.
    assert text.count("申请事项") == 1 and "申请事项申请书" not in text
