"""Archive packages and the four-property check (issue 10, acceptance 1 and 2).

A package made from a real closed case (received, materials scanned, accepted, decided on the spot, issued
with the collector's signature — all through the node's API) validates with the independent `bagit` library and
passes every check item; then each tampering the acceptance names is caught by the item that names it. The format
parsers are tested on files made by Pillow and fpdf2 (real encoders), and on the same files broken.
"""

from __future__ import annotations

import base64
import io
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bagit
import pytest
import segno
from fpdf import FPDF
from PIL import Image

from node.archive.service import archive_case
from node.staff import Actor
from protocol.archive import (
    ARCHIVE_MEDIA_TYPE,
    EVENT_HISTORY,
    SIGNATURE_FILE,
    ArchiveFile,
    CheckReport,
    FormatError,
    build_package,
    check_jpeg,
    check_package,
    check_pdf,
    check_png,
    check_tiff,
    kept_until,
    render_text,
    sha256,
    signed_message,
)
from protocol.events import Event
from protocol.ids import uuid7
from protocol.keys import SigningKey
from tests.conftest import Stack, login_node
from tests.support import LEAD, VALID_IDS

PENSION_ENROL = "城乡居民基本养老保险参保登记"  # 即办件, retention 30 years


# ---- real files from real encoders ---------------------------------------------------------------------------


def jpeg(size: tuple[int, int] = (64, 48), **options: Any) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (180, 40, 40)).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def png(size: tuple[int, int] = (32, 20), **options: Any) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (20, 120, 40)).save(buffer, "PNG", **options)
    return buffer.getvalue()


def tiff(compression: str = "tiff_deflate") -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (40, 30), 128).save(buffer, "TIFF", compression=compression)
    return buffer.getvalue()


def pdf(text: str = "application form") -> bytes:
    document = FPDF()
    document.add_page()
    document.set_font("helvetica", size=12)
    document.cell(text=text)
    return bytes(document.output())


def signature_png() -> str:
    buffer = io.BytesIO()
    segno.make("签名").save(buffer, kind="png", scale=3)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


# ---- a real closed case, through the node's API ----------------------------------------------------------------


async def issued_case(stack: Stack, *, id_card: bytes | None = None) -> dict[str, Any]:
    """即办件 received with an agent, three materials (two JPEG scans, one PDF form), accepted, decided on the
    spot by the lead, and issued at the window to the applicant, who signs."""
    await login_node(stack, LEAD)
    items = (await stack.node.get("/api/v1/items")).json()["items"]
    item = next(i for i in items if i["name"] == PENSION_ENROL)
    agent = {"name": "李四", "cert_type": "111", "cert_number": VALID_IDS[1], "phone": "13800000000"}
    created = await stack.node.post(
        "/api/v1/cases",
        json={
            "item_code": item["code"],
            "applicant": {
                "name": "张三",
                "cert_type": "111",
                "cert_number": VALID_IDS[0],
                "phone": "13912345678",
            },
            "agent": agent,
        },
    )
    assert created.status_code == 201, created.text
    case_id = created.json()["case_id"]
    files = {
        "id-card": ("id-card.jpg", id_card if id_card is not None else jpeg(), "image/jpeg"),
        "household-register": ("户口簿.jpg", jpeg((80, 60), quality=70), "image/jpeg"),
        "enrolment-form": ("form.pdf", pdf(), "application/pdf"),
    }
    for material in item["materials"]:
        attached = await stack.node.post(
            f"/api/v1/cases/{case_id}/materials",
            data={"material_id": material["id"]},
            files={"file": files[material["id"]]},
        )
        assert attached.status_code == 201, attached.text
    for url, body in (
        (f"/api/v1/cases/{case_id}/accept", {}),
        (f"/api/v1/cases/{case_id}/decide-on-spot", {"outcome": "approve"}),
        (
            f"/api/v1/cases/{case_id}/issue",
            {"cert_type": "111", "cert_number": VALID_IDS[0], "signature": signature_png()},
        ),
    ):
        response = await stack.node.post(url, json=body)
        assert response.status_code == 200, response.text
    state: dict[str, Any] = (await stack.node.get(f"/api/v1/cases/{case_id}")).json()
    assert state["status"] == "issued"
    return state


LEAD_ACTOR = Actor("lead", "lead")


# ---- tampering with a package ------------------------------------------------------------------------------------


def members(package: bytes) -> tuple[str, dict[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        names = archive.namelist()
        bag = names[0].split("/", 1)[0]
        return bag, {n.split("/", 1)[1]: archive.read(n) for n in names}


def rezip(bag: str, files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in sorted(files.items()):
            archive.writestr(f"{bag}/{path}", data)
    return buffer.getvalue()


def tamper(package: bytes, change: Callable[[dict[str, bytes]], None]) -> bytes:
    bag, files = members(package)
    change(files)
    return rezip(bag, files)


def metadata_of(files: dict[str, bytes]) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(files["data/metadata/case.json"])
    return value


def first_path(files: dict[str, bytes], role: str, fmt: str | None = None) -> str:
    return next(
        f["path"]
        for f in metadata_of(files)["files"]
        if f["role"] == role and (fmt is None or f["format"] == fmt)
    )


def change_a_byte_in_a_material(files: dict[str, bytes]) -> None:
    path = first_path(files, "material")
    data = bytearray(files[path])
    data[len(data) // 2] ^= 0x01
    files[path] = bytes(data)


def drop_a_notice(files: dict[str, bytes]) -> None:
    path = first_path(files, "notice")
    del files[path]


def remove_an_event(files: dict[str, bytes]) -> None:
    history = json.loads(files[EVENT_HISTORY])
    del history[1]  # one from the middle (a material attached)
    files[EVENT_HISTORY] = json.dumps(history, ensure_ascii=False, indent=2).encode()


def break_a_jpeg(files: dict[str, bytes]) -> None:
    path = first_path(files, "material", "jpg")
    files[path] = files[path][: len(files[path]) // 2]


def forge_the_signature(files: dict[str, bytes]) -> None:
    forger = SigningKey.generate()
    files[SIGNATURE_FILE] = (
        base64.b64encode(forger.sign(signed_message(files["tagmanifest-sha256.txt"]))) + b"\n"
    )


#: (tampering, the check item that must catch it, its reason code)
TAMPERINGS = [
    (change_a_byte_in_a_material, "ZS-3", "digest_mismatch"),
    (drop_a_notice, "WZ-4", "notice_missing"),
    (remove_an_event, "WZ-3", "event_sequence_gap"),
    (break_a_jpeg, "KY-2", "does_not_open"),
    (forge_the_signature, "ZS-1", "signature_invalid"),
]


def failed(report: CheckReport) -> dict[str, str]:
    """Failed items, code without the stage → reason code."""
    return {i.code.split("-", 1)[1]: i.reason_code for i in report.failures}


# ---- acceptance 1 and 2 on a real case ---------------------------------------------------------------------------


async def test_a_real_closed_case_validates_with_bagit_passes_the_check_and_each_tampering_is_caught(
    stack: Stack, tmp_path: Path
) -> None:
    state = await issued_case(stack)
    outcome = await archive_case(stack.runtime, actor=LEAD_ACTOR, case_id=state["case_id"])
    assert outcome.archived, render_text(outcome.report)
    package = stack.runtime.blobs.get(outcome.package_sha256)
    assert sha256(package) == outcome.package_sha256

    # An independent validator accepts the bag (fixity, completeness, Payload-Oxum).
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        archive.extractall(unpacked)
    (bag_dir,) = list(unpacked.iterdir())
    bag = bagit.Bag(str(bag_dir))
    bag.validate()
    assert bag.info["Archival-Number"] == outcome.report.archival_number
    assert bag.info["External-Identifier"] == state["case_number"]

    # The check passes on the ZIP and on the unpacked directory, every property covered.
    key = stack.runtime.identity.sign_key
    report = check_package(package, stage="YJ", trusted_key=key, checked_at="2026-12-02T08:00:00Z")
    assert report.passed, render_text(report)
    assert {i.property for i in report.items} == {"ZS", "WZ", "KY", "AQ"}
    assert check_package(bag_dir, trusted_key=key).passed
    opened = {i.subject for i in report.items if i.code == "YJ-KY-2"}
    _bag, files = members(package)
    meta = metadata_of(files)
    assert opened == {f["path"] for f in meta["files"]}
    roles = sorted(f["role"] for f in meta["files"])
    assert roles == ["material"] * 3 + ["notice"] * 3 + ["signature"]  # 收件凭证, 受理通知书, 领取签收单
    assert {f["document_number"] for f in meta["files"] if f["role"] == "notice"} == {
        n["number"] for n in state["notices"]
    }
    division = stack.runtime.identity.division
    assert meta["retention"] == "30y" and meta["archival_number"] == report.archival_number
    assert re.fullmatch(division + r"-WS·20\d\d-D30-00001", report.archival_number)
    assert meta["case"]["applicant"]["cert_number"] == VALID_IDS[0]
    assert [e["type"] for e in json.loads(files[EVENT_HISTORY])] == [
        "case.received",
        *["case.material_attached"] * 3,
        "case.accepted",
        "case.decided_on_spot",
        "case.issued",
    ]
    assert CheckReport.from_dict(json.loads(report.to_json())) == report

    for change, code, reason in TAMPERINGS:
        broken = check_package(tamper(package, change), stage="YJ", trusted_key=key)
        assert not broken.passed, change.__name__
        assert failed(broken).get(code) == reason, (change.__name__, failed(broken))

    # The case now says it is archived; the package is a blob the sync layer will upload.
    after = (await stack.node.get(f"/api/v1/cases/{state['case_id']}")).json()
    assert after["status"] == "issued"
    from node.models import Blob

    async with stack.runtime.db.read() as session:
        row = await session.get(Blob, outcome.package_sha256)
    assert row is not None and row.media_type == ARCHIVE_MEDIA_TYPE


async def test_a_jpeg_that_does_not_open_stops_archiving_and_uses_no_archival_number(stack: Stack) -> None:
    # The front desk only sniffs the magic bytes, so a truncated scan gets in; the archive check catches it.
    broken = jpeg((200, 150))[:700]
    state = await issued_case(stack, id_card=broken)
    outcome = await archive_case(stack.runtime, actor=LEAD_ACTOR, case_id=state["case_id"])
    assert not outcome.archived
    assert failed(outcome.report) == {"KY-2": "does_not_open"}
    (item,) = outcome.report.failures
    assert item.subject.endswith("id-card.jpg") and "JPEG" in item.reason
    from node.events import case_events

    async with stack.runtime.db.read() as session:
        types = [e.type for e in await case_events(session, state["case_id"])]
    assert "case.archived" not in types
    from node.models import Counter

    async with stack.runtime.db.read() as session:
        year = outcome.report.archival_number.split("·")[1][:4]
        assert await session.get(Counter, f"archive:{year}:30y") is None


# ---- the same, on packages built directly (fast) ----------------------------------------------------------------


CASE_ID = uuid7()
SIGNER = SigningKey.generate()


def event(type_: str, hlc: int, **payload: Any) -> Event:
    return Event(uuid7(), CASE_ID, type_, "node-1", "clerk", hlc, payload)


def small_package(*, extra: list[ArchiveFile] | None = None, signer: SigningKey = SIGNER) -> bytes:
    material = jpeg()
    events = [
        event(
            "case.received",
            1,
            case_number="X2026",
            item_code="I1",
            applicant={"name": "张三"},
            received_at="2026-01-05T01:00:00.000+00:00",
            receipt_no="收字1号",
        ),
        event(
            "case.material_attached",
            2,
            material_id="id-card",
            blob=sha256(material),
            filename="id.jpg",
            size=len(material),
            media_type="image/jpeg",
        ),
        event(
            "case.refused",
            3,
            reasons="r",
            legal_basis="b",
            refused_at="2026-01-05T02:00:00.000+00:00",
            notice_no="不受字1号",
        ),
    ]
    files = [
        ArchiveFile("material", "id-card.jpg", material, "身份证"),
        ArchiveFile("notice", "receipt.pdf", pdf("receipt"), "收件凭证", "收字1号"),
        ArchiveFile("notice", "refusal.pdf", pdf("refusal"), "不予受理决定书", "不受字1号"),
        *(extra or []),
    ]
    metadata = {
        "schema": "onewindow-archive/1",
        "archival_number": "220581101000-WS·2026-D10-00001",
        "retention": "10y",
        "fonds": "220581101000",
        "year": 2026,
        "archived_at": "2026-01-06T00:00:00.000+00:00",
        "node_id": "node-1",
        "centre_name": "测试中心",
        "case": {
            "case_id": CASE_ID,
            "case_number": "X2026",
            "item_code": "I1",
            "item_name": "事项",
            "applicant": {"name": "张三"},
            "received_at": "2026-01-05T01:00:00.000+00:00",
            "closed_at": "2026-01-05T02:00:00.000+00:00",
            "status": "refused",
        },
        "environment": {"software": "OneWindow Edge", "version": "0.1.0", "runtime": "Python"},
    }
    return build_package(
        bag_name="X2026",
        metadata=metadata,
        events=events,
        files=files,
        signer=signer,
        bag_info=[
            ("Source-Organization", "测试中心"),
            ("External-Identifier", "X2026"),
            ("Internal-Sender-Identifier", CASE_ID),
            ("Archival-Number", "220581101000-WS·2026-D10-00001"),
            ("Retention-Period", "10y"),
            ("Node-Id", "node-1"),
        ],
        bagging_date="2026-01-06",
    )


def test_a_built_package_passes_and_each_tampering_is_caught_by_its_named_check() -> None:
    package = small_package()
    report = check_package(package, trusted_key=SIGNER.verify_key)
    assert report.passed, render_text(report)
    for change, code, reason in TAMPERINGS:
        broken = check_package(tamper(package, change), trusted_key=SIGNER.verify_key)
        assert failed(broken).get(code) == reason, (change.__name__, failed(broken))


def test_a_package_resigned_by_another_key_passes_only_without_a_trusted_key() -> None:
    forger = SigningKey.generate()
    package = small_package(signer=forger)
    alone = check_package(package)
    assert alone.passed  # unaltered since signing, signed by the key it names …
    assert "不证明签名者身份" in next(i.reason for i in alone.items if i.code == "GD-ZS-2")
    trusted = check_package(package, trusted_key=SIGNER.verify_key)
    assert failed(trusted) == {
        "ZS-1": "signature_invalid",
        "ZS-2": "key_untrusted",
        "AQ-1": "altered_since_signing",
    }


def test_an_added_file_outside_the_manifests_and_an_executable_are_refused() -> None:
    package = tamper(small_package(), lambda f: f.update({"data/materials/9999-tool.exe": b"MZ\x90\x00rest"}))
    result = failed(check_package(package, trusted_key=SIGNER.verify_key))
    assert result["WZ-1"] == "payload_unlisted"
    assert result["AQ-1"] == "uncovered_file"
    assert result["AQ-2"] == "disallowed_type"


def test_an_encrypted_pdf_is_reported_as_hidden_encryption() -> None:
    encrypted = pdf().replace(b"/Root", b"/Encrypt 9 0 R /Root", 1)
    package = small_package(extra=[ArchiveFile("material", "secret.pdf", encrypted, "加密文件")])
    report = check_package(package, trusted_key=SIGNER.verify_key)
    assert failed(report).get("KY-3") == "hidden_encryption"


def test_garbage_is_a_failed_report_not_an_exception() -> None:
    report = check_package(b"not a zip at all")
    assert not report.passed and failed(report) == {"WZ-1": "not_a_zip"}
    assert "不通过" in render_text(report)


# ---- format parsers ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parser", "make"),
    [
        (check_jpeg, jpeg),
        (check_jpeg, lambda: jpeg(progressive=True)),
        (check_png, png),
        (check_png, lambda: png(optimize=True)),
        (check_tiff, tiff),
        (check_tiff, lambda: tiff("raw")),
        (check_pdf, pdf),
    ],
)
def test_parsers_open_real_files_and_refuse_them_truncated(
    parser: Callable[[bytes], None], make: Callable[[], bytes]
) -> None:
    data = make()
    parser(data)
    with pytest.raises(FormatError):
        parser(data[: len(data) * 2 // 3])


def test_png_with_a_corrupt_chunk_and_pdf_with_a_broken_stream_do_not_open() -> None:
    data = bytearray(png())
    data[40] ^= 0xFF  # inside IDAT (or its CRC)
    with pytest.raises(FormatError, match="CRC"):
        check_png(bytes(data))
    document = pdf()
    start = document.index(b"stream\n") + len(b"stream\n")
    broken = document[:start] + b"\x00" * 8 + document[start + 8 :]
    with pytest.raises(FormatError, match="解压"):
        check_pdf(broken)


def test_a_signature_with_nothing_to_verify_it_against_fails() -> None:
    package = tamper(small_package(), lambda f: f.pop("tagmanifest-sha256.txt"))
    result = failed(check_package(package, trusted_key=SIGNER.verify_key))
    assert result["ZS-1"] == "signature_unverifiable"
    assert result["WZ-1"] == "manifest_missing"


def test_a_path_leaving_the_bag_is_refused_and_never_read() -> None:
    bag, files = members(small_package())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in files.items():
            archive.writestr(f"{bag}/{path}", data)
        archive.writestr(f"{bag}/../../etc/cron.d/evil", b"* * * * * root sh\n")
    report = check_package(buffer.getvalue(), trusted_key=SIGNER.verify_key)
    assert failed(report) == {"AQ-3": "unsafe_path", "WZ-1": "unsafe_path"}


def test_retention_runs_from_the_year_after_filing() -> None:
    assert kept_until("220581101000-WS·2026-D30-00001", "30y") == "2056年底"
    assert kept_until("220581101000-WS·2026-D10-00007", "10y") == "2036年底"
    assert kept_until("220581101000-WS·2026-Y-00002", "permanent") == "永久"
    assert kept_until("not a number", "30y") == ""
