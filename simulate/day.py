"""The day itself: the hall, the windows, the logistics desk, the lead, the county's reviewers, the courier and the
faults, all played against the running processes over HTTP on the day's business clock.

Each centre has a ticket machine (the kiosk's API), 2–4 window clerks who call the next ticket, receive the
applicant (typing the ID number, or reading the card on the centre's simulated reader), scan the materials,
decide the outcome the plan says and ask for a rating; the lead decides 即办件 on the spot and calls back every
bad rating. The county's reviewers decide each routed case as it arrives. What every step answered is kept per
applicant (`Path`) for the report.
"""

from __future__ import annotations

import asyncio
import base64
import io
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import httpx

from common.clock import ClockSetting
from protocol.identifiers import upu_s10_check_digit
from simulate.http import DayError, Session
from simulate.plan import OPEN_MIN, Visit
from simulate.stage import ADMIN, REVIEWER_PASSWORD, STAFF_PASSWORD, Centre, County

REFUSAL = {
    "reasons": "申请人已有一处宅基地，不符合一户一宅的规定。",
    "legal_basis": "《中华人民共和国土地管理法》第六十二条",
    "competent_organ": "梅河口市农业农村局",
}
DENIAL_REASON = "经审核，申请人家庭收入超过规定标准，不符合条件。"
CORRECTION_PROBLEM = "复印件不清晰，请补交清晰的复印件"
#: Statuses of a case still waiting for the county's decision.
DECIDED = ("approved", "denied", "issued")


def _photo(kind: str) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (120, 160), (236, 240, 244)).save(buffer, format=kind)
    return buffer.getvalue()


PHOTOS = {"jpg": _photo("JPEG"), "png": _photo("PNG")}
#: A scanned page as the scanner writes it: a real one-page PDF (archive checks open every material).
SCAN = _photo("PDF")


def scan_of(material: str, formats: list[str]) -> tuple[str, bytes, str]:
    """What the scanner or the document camera gives for a material, in a format its checklist accepts."""
    if "pdf" in formats:
        return f"{material}.pdf", SCAN, "application/pdf"
    if "jpg" in formats or "jpeg" in formats:
        return f"{material}.jpg", PHOTOS["jpg"], "image/jpeg"
    return f"{material}.png", PHOTOS["png"], "image/png"


def signature_png() -> str:
    """A signature as the tablet's pad sends it."""
    import segno

    buffer = io.BytesIO()
    segno.make("签名").save(buffer, kind="png", scale=2)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@dataclass
class Path:
    """What happened to one applicant, step by step (times in the day's minutes after midnight, China time)."""

    visit: Visit
    ticket_id: str = ""
    ticket_number: str = ""
    ticket_at: float | None = None
    called_at: float | None = None
    finished_at: float | None = None
    window: str = ""
    case_id: str = ""
    case_number: str = ""
    status_at_window: str = ""
    accepted_real: float | None = None
    #: Acceptance while this centre's link was cut (by the outage or for want of any WAN).
    accepted_offline: bool = False
    supplied: bool = False
    decided_at_central: str = ""
    decision_at_window: str = ""
    issued: bool = False
    rating_id: str = ""
    followed_up: bool = False
    mailed_status: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def wait_min(self) -> float | None:
        if self.ticket_at is None or self.called_at is None:
            return None
        return self.called_at - self.ticket_at

    @property
    def service_min(self) -> float | None:
        if self.called_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.called_at


@dataclass
class Faults:
    """When (the day's minutes) each fault comes, and to which centre (None: not in this day)."""

    outage_centre: int | None
    outage: tuple[float, float]
    courier_centre: int | None
    kill_centre: int | None
    kill_at: float
    central_restart_at: float | None


@dataclass
class Timeline:
    """What the faults did, in the day's minutes, for the report."""

    events: list[tuple[float, str]] = field(default_factory=list)

    def note(self, minute: float, text: str) -> None:
        self.events.append((round(minute, 1), text))


class DayClock:
    """The business clock of the day, read the same way the product reads ``ONEWINDOW_CLOCK``."""

    def __init__(self, setting: ClockSetting) -> None:
        self.setting = setting
        self.midnight = setting.origin.replace(hour=0, minute=0, second=0, microsecond=0)

    def minute(self) -> float:
        """Minutes since midnight (China time) before the day's opening, now: past 1440 when a day overruns."""
        return (self.setting.now() - self.midnight).total_seconds() / 60

    def real_s(self, minutes: float) -> float:
        return minutes * 60 / self.setting.rate

    async def until(self, minute: float) -> None:
        delay = self.real_s(minute - self.minute())
        if delay > 0:
            await asyncio.sleep(delay)

    async def spend(self, minutes: float) -> None:
        await asyncio.sleep(max(0.0, self.real_s(minutes)))


class CentreDay:
    """One centre's hall through the day."""

    def __init__(self, day: Day, centre: Centre, visits: list[Visit]) -> None:
        self.day = day
        self.centre = centre
        self.visits = visits
        self.paths = {v.key: Path(v) for v in visits}
        self.by_ticket: dict[str, Path] = {}
        self.arrived = asyncio.Event()  # everyone has a ticket
        self.card_reader = asyncio.Lock()
        self.sessions: list[Session] = []
        self.supplies: list[asyncio.Task[None]] = []
        self.orphan_tickets = 0

    def session(self, username: str) -> Session:
        session = Session(self.centre.url, username, STAFF_PASSWORD)
        self.sessions.append(session)
        return session

    # ---- the ticket machine ----------------------------------------------------------------------------------

    async def hall(self) -> None:
        kiosk = self.session("nodeadmin")
        await kiosk.login()
        booked: dict[str, str] = {}
        for v in self.visits:  # appointments are made the days before
            if v.by_mail:
                continue
            if v.ticket == "appointment":
                slot = int(v.arrival // 5 * 5)
                answer = await kiosk.json(
                    "POST",
                    "/api/v1/tickets/appointments",
                    json={
                        "category": "A",
                        "day": self.day.date.isoformat(),
                        "slot_start": f"{slot // 60:02d}:{slot % 60:02d}",
                        "name": v.name,
                        "phone": "13912345678",
                    },
                )
                booked[v.key] = answer["appointment"]["id"]
        # Two ticket machines by the door: people arriving together queue at them, not behind one another.
        machines = [kiosk, self.session("nodeadmin")]
        await machines[1].login()
        locks = [asyncio.Lock(), asyncio.Lock()]

        async def arrive(v: Visit) -> None:
            await self.day.clock.until(v.arrival)
            path = self.paths[v.key]
            path.ticket_at = self.day.clock.minute()
            which = v.n % 2
            async with locks[which]:
                machine = machines[which]
                if v.ticket == "appointment":
                    answer = await machine.json(
                        "POST", f"/api/v1/tickets/appointments/{booked[v.key]}/arrive"
                    )
                else:
                    body: dict[str, Any] = {"category": "C" if v.outcome == "consult" else "A"}
                    if v.ticket == "priority":
                        body["priority"] = "elderly"
                    if v.ticket == "id_card":
                        body["id_number"] = v.id_number
                    answer = await machine.json("POST", "/api/v1/tickets", json=body)
            ticket = answer["ticket"]
            path.ticket_id, path.ticket_number = ticket["id"], ticket["number"]
            self.by_ticket[ticket["id"]] = path

        await asyncio.gather(*(arrive(v) for v in self.visits if not v.by_mail))
        self.arrived.set()

    # ---- a window ----------------------------------------------------------------------------------------------

    async def window(self, number: int) -> None:
        clerk = self.session(f"clerk{number}")
        await clerk.login()
        name = f"{number}号窗口"
        idle_min = 2.0
        while True:
            answer = await clerk.json("POST", "/api/v1/tickets/call", json={"window": name, "categories": []})
            ticket = answer["ticket"]
            if ticket is None:
                if self.arrived.is_set() and not await self._anyone_waiting(clerk):
                    return
                await self.day.clock.spend(idle_min)
                continue
            path = await self._holder(ticket["id"])
            if path is None:  # a ticket whose printout was lost with a killed node: nobody holds it
                self.orphan_tickets += 1
                await clerk.json("POST", f"/api/v1/tickets/{ticket['id']}/missed", expect=(200, 409))
                continue
            path.called_at, path.window = self.day.clock.minute(), name
            await clerk.json("POST", f"/api/v1/tickets/{ticket['id']}/start")
            try:
                await self.serve(clerk, path, name)
            except DayError as exc:
                path.errors.append(str(exc))
            body = {"case_id": path.case_id} if path.case_id else {}
            # Accepting a case started from a ticket may have closed the ticket already (409 then).
            await clerk.json("POST", f"/api/v1/tickets/{ticket['id']}/finish", expect=(200, 409), json=body)
            path.finished_at = self.day.clock.minute()
            await self.rate(clerk, path, name)

    async def _holder(self, ticket_id: str) -> Path | None:
        """Who holds this ticket: the machine's answer may be a moment behind the call."""
        for _ in range(200):
            path = self.by_ticket.get(ticket_id)
            if path is not None:
                return path
            await asyncio.sleep(0.05)
        return None

    async def _anyone_waiting(self, clerk: Session) -> bool:
        queue = await clerk.json("GET", "/api/v1/tickets")
        return any(t["status"] == "waiting" for t in queue["tickets"])

    async def serve(self, clerk: Session, path: Path, window: str) -> None:
        v = path.visit
        # The visit takes its planned minutes, or longer when the tablet is slow: the time the HTTP calls take
        # counts towards it, so a slow machine shows as longer service, never as a shorter day.
        start, share = self.day.clock.minute(), v.service_min / 4
        await self.day.clock.until(start + share)
        if v.outcome == "consult":
            await self.day.clock.until(start + v.service_min)
            return
        item = self.day.items[v.item]
        applicant = await self.applicant(clerk, v)
        await self.open_case(clerk, path, item, applicant)
        await self.day.clock.until(start + 2 * share)
        mandatory = [m["id"] for m in item["materials"] if m["mandatory"]]
        waived = [m["id"] for m in item["materials"] if m["mandatory"] and m["waivable"]][:1]
        missing = mandatory[-1:] if v.outcome == "correction" else waived if v.outcome == "waiver" else []
        formats = {m["id"]: m.get("formats") or ["pdf"] for m in item["materials"]}
        for material in mandatory:
            if material not in missing:
                await self.attach(clerk, path, material, formats[material])
        await self.day.clock.until(start + 3 * share)
        case = f"/api/v1/cases/{path.case_id}"
        state: dict[str, Any]
        if v.outcome in ("accept", "on_spot"):
            state = await self.step(clerk, path, f"{case}/accept", {"collection": "window"}, ("accepted",))
        elif v.outcome == "waiver":
            body = {
                "waived": waived,
                "supply_by": (self.day.date + timedelta(days=1)).isoformat(),
                "commitment_signature": self.day.png,
            }
            state = await self.step(clerk, path, f"{case}/accept-with-waiver", body, ("accepted",))
            # The applicant comes back with the missing paper later in the day.
            self.supplies.append(asyncio.create_task(self.supply(path, waived)))
        elif v.outcome == "correction":
            body = {"corrections": [{"material_id": missing[0], "problem": CORRECTION_PROBLEM}]}
            state = await self.step(clerk, path, f"{case}/correction", body, ("correction_requested",))
        else:
            state = await self.step(clerk, path, f"{case}/refuse", REFUSAL, ("refused",))
        path.status_at_window = state["status"]
        if state["status"] == "accepted":
            path.accepted_real = time.time()
            path.accepted_offline = not self.day.link_up(self.centre.index)
        if v.outcome == "on_spot":
            await self.on_spot(path)
        await self.day.clock.until(start + v.service_min)

    async def applicant(self, clerk: Session, v: Visit) -> dict[str, str]:
        if not v.read_card:
            return {"name": v.name, "cert_type": "111", "cert_number": v.id_number, "phone": "13912345678"}
        async with self.card_reader:  # one reader at the centre's desk, passed along the windows
            placed = await clerk.post("/devices/sim/card", data={"card": str(v.n % 3)})
            if placed.status_code not in (200, 302, 303):
                raise DayError(f"放卡 → {placed.status_code}")
            card = await clerk.json("POST", "/api/v1/devices/idcard/read")
            await clerk.post("/devices/sim/lift")
        return {
            "name": card["name"],
            "cert_type": card["cert_type"],
            "cert_number": card["cert_number"],
            "phone": "13912345678",
            "sex": card["sex"],
            "birth_date": card["birth_date"],
        }

    async def open_case(
        self, clerk: Session, path: Path, item: dict[str, Any], applicant: dict[str, str]
    ) -> None:
        known = {p.case_id for p in self.paths.values() if p.case_id}

        async def made() -> httpx.Response | None:
            # After a lost answer the clerk looks in the centre's case list before typing it all again.
            listing = await clerk.client.get("/api/v1/cases")
            if listing.status_code != 200:
                return None
            for row in listing.json()["cases"]:
                if row["case_id"] not in known and row.get("item_code") == item["code"]:
                    if row.get("applicant_name") == applicant["name"]:
                        return await clerk.client.get(f"/api/v1/cases/{row['case_id']}")
            return None

        body = {"item_code": item["code"], "applicant": applicant, "ticket_id": path.ticket_id}
        response = await clerk.post("/api/v1/cases", json=body, done=made)
        if response.status_code not in (200, 201):
            raise DayError(f"收件 → {response.status_code}: {response.text[:300]}")
        case = response.json()
        path.case_id, path.case_number = case["case_id"], case["case_number"]

    async def attach(self, clerk: Session, path: Path, material: str, formats: list[str]) -> None:
        async def made() -> httpx.Response | None:
            state = await clerk.client.get(f"/api/v1/cases/{path.case_id}")
            present = {str(m["material_id"]) for m in state.json().get("materials", [])}
            return state if material in present else None

        response = await clerk.post(
            f"/api/v1/cases/{path.case_id}/materials",
            data={"material_id": material},
            files={"file": scan_of(material, formats)},
            done=made,
        )
        if response.status_code not in (200, 201):
            raise DayError(f"扫描 {material} → {response.status_code}: {response.text[:300]}")

    async def step(
        self, clerk: Session, path: Path, url: str, body: dict[str, Any], after: tuple[str, ...]
    ) -> dict[str, Any]:
        async def made() -> httpx.Response | None:
            state = await clerk.client.get(f"/api/v1/cases/{path.case_id}")
            return state if state.json().get("status") in after else None

        response = await clerk.post(url, json=body, done=made)
        if response.status_code != 200:
            raise DayError(f"{url} → {response.status_code}: {response.text[:300]}")
        state: dict[str, Any] = response.json()
        return state

    async def on_spot(self, path: Path) -> None:
        """即办件: the lead decides at once, and the applicant takes the result home."""
        lead = self.day.leads[self.centre.index]
        async with self.day.lead_locks[self.centre.index]:
            await self.step(
                lead, path, f"/api/v1/cases/{path.case_id}/decide-on-spot", {"outcome": "approve"}, DECIDED
            )
        path.decision_at_window = "approved"
        await self.issue(lead, path)

    async def issue(self, clerk: Session, path: Path) -> None:
        state = await clerk.json("GET", f"/api/v1/cases/{path.case_id}")
        collector = state["applicant"]["cert_number"] if isinstance(state.get("applicant"), dict) else ""
        body = {
            "cert_type": "111",
            "cert_number": collector or path.visit.id_number,
            "signature": self.day.png,
        }
        done = await self.step(clerk, path, f"/api/v1/cases/{path.case_id}/issue", body, ("issued",))
        path.issued = done["status"] == "issued"

    async def supply(self, path: Path, waived: list[str]) -> None:
        await self.day.clock.spend(90)
        clerk = self.session("clerk1")
        await clerk.login()
        try:
            item = self.day.items[path.visit.item]
            formats = {m["id"]: m.get("formats") or ["pdf"] for m in item["materials"]}
            for material in waived:
                await self.attach(clerk, path, material, formats[material])
            path.supplied = True
        except DayError as exc:
            path.errors.append(str(exc))

    # ---- the logistics window: applications by post ------------------------------------------------------------

    async def logistics(self) -> None:
        """The post arrives; the logistics window registers each parcel with a photo of its envelope, opens it into
        a case and scans the papers; the lead pre-reviews it (预受理) and it is accepted without a visit."""
        desk = self.session("logistics")
        await desk.login()
        for v in [v for v in self.visits if v.by_mail]:
            await self.day.clock.until(v.arrival)
            path = self.paths[v.key]
            try:
                await self.mailed(desk, path)
            except DayError as exc:
                path.errors.append(str(exc))

    async def mailed(self, desk: Session, path: Path) -> None:
        v = path.visit
        item = self.day.items[v.item]
        serial = f"{(self.centre.index * 100000 + v.n * 37) % 100000000:08d}"
        tracking = f"EA{serial}{upu_s10_check_digit(serial)}CN"
        path.ticket_number, path.ticket_at = tracking, self.day.clock.minute()
        known = {p.case_id for p in self.paths.values() if p.case_id}

        async def parcel_of() -> dict[str, Any] | None:
            parcels = await desk.json("GET", "/api/v1/logistics/parcels")
            return next((p for p in parcels["inbound"] if p["tracking_number"] == tracking), None)

        async def registered() -> httpx.Response | None:
            return httpx.Response(303) if await parcel_of() is not None else None

        answer = await desk.post(
            "/logistics/parcels",
            data={
                "tracking_number": tracking,
                "sender": v.name,
                "phone": "13912345678",
                "address": "吉林省梅河口市红梅镇幸福村3组12号",
                "contents": f"{v.item}申请材料",
            },
            files={"envelope_photo": ("envelope.png", PHOTOS["png"], "image/png")},
            done=registered,
        )
        parcel = await parcel_of()
        if answer.status_code not in (302, 303) or parcel is None:
            raise DayError(f"登记邮件 → {answer.status_code}: {answer.text[-300:]}")
        await self.day.clock.spend(v.service_min / 3)
        base = f"/logistics/parcels/{parcel['id']}"

        async def opened() -> httpx.Response | None:
            found = await parcel_of()
            return httpx.Response(303) if found and found.get("case_id") else None

        answer = await desk.post(
            f"{base}/open",
            data={"item_code": item["code"], "name": v.name, "cert_type": "111", "cert_number": v.id_number}
            | {"phone": "13912345678"},
            done=opened,
        )
        parcel = await parcel_of()
        if answer.status_code not in (302, 303) or parcel is None or not parcel.get("case_id"):
            raise DayError(f"拆封登记 → {answer.status_code}: {answer.text[-300:]}")
        path.case_id = str(parcel["case_id"])
        assert path.case_id not in known
        state = await desk.json("GET", f"/api/v1/cases/{path.case_id}")
        path.case_number = state["case_number"]
        for material in [m for m in item["materials"] if m["mandatory"]]:
            name, data, kind = scan_of(material["id"], material.get("formats") or ["pdf"])
            answer = await desk.post(
                f"{base}/materials", data={"material_id": material["id"]}, files={"file": (name, data, kind)}
            )
            if answer.status_code not in (302, 303):
                raise DayError(f"扫描邮寄材料 → {answer.status_code}: {answer.text[-300:]}")
        await self.day.clock.spend(v.service_min / 3)
        lead = self.day.leads[self.centre.index]
        async with self.day.lead_locks[self.centre.index]:
            answer = await lead.post(f"{base}/pre-review", data={"result": "complete"})
        state = await desk.json("GET", f"/api/v1/cases/{path.case_id}")
        if state["status"] != "accepted":
            raise DayError(f"预受理 → {answer.status_code}: {state['status']}")
        path.status_at_window = "accepted"
        path.accepted_real = time.time()
        path.accepted_offline = not self.day.link_up(self.centre.index)
        path.finished_at = self.day.clock.minute()

    async def mail_result(self, clerk: Session, path: Path) -> None:
        """The decision goes back by post (交物流窗口寄递)."""
        v = path.visit
        body = {"recipient": v.name, "phone": "13912345678", "address": "吉林省梅河口市红梅镇幸福村3组12号"}
        state = await self.step(clerk, path, f"/api/v1/cases/{path.case_id}/mail", body, ("mailing",))
        path.issued = state["status"] == "mailing"
        path.mailed_status = state["status"]

    async def rate(self, clerk: Session, path: Path, window: str) -> None:
        v = path.visit
        body: dict[str, Any] = {"level": v.rating, "channel": "tablet", "window": window}
        if path.case_id:
            body["case_id"] = path.case_id
        else:
            body["visit"] = path.ticket_id
        if v.rating >= 4:
            body["reason"] = v.rating_reason
            body["comment"] = "等候时间太长"
        response = await clerk.post("/api/v1/ratings", json=body)
        if response.status_code in (200, 201):
            path.rating_id = str(response.json()["rating_id"])
        else:
            path.errors.append(f"评价 → {response.status_code}: {response.text[:200]}")

    async def follow_ups(self) -> int:
        """The lead calls back every bad rating of the day (回访)."""
        lead = self.day.leads[self.centre.index]
        called = 0
        for path in self.paths.values():
            if path.visit.rating >= 4 and path.rating_id:
                response = await lead.post(
                    f"/api/v1/ratings/{path.rating_id}/callback", json={"note": "已电话回访，说明情况并致歉"}
                )
                if response.status_code == 200:
                    path.followed_up = True
                    called += 1
                else:
                    path.errors.append(f"回访 → {response.status_code}: {response.text[:200]}")
        return called

    async def run(self) -> None:
        tasks = [asyncio.create_task(self.hall()), asyncio.create_task(self.logistics())]
        tasks += [asyncio.create_task(self.window(w)) for w in range(1, self.centre.windows + 1)]
        await asyncio.gather(*tasks)
        await asyncio.gather(*self.supplies)


class Day:
    """The whole county's day."""

    def __init__(
        self, county: County, visits: list[Visit], *, clock: ClockSetting, day: date, faults: Faults
    ) -> None:
        self.county = county
        self.clock = DayClock(clock)
        self.date = day
        self.faults = faults
        self.timeline = Timeline()
        self.png = signature_png()
        self.centres = [
            CentreDay(self, c, [v for v in visits if v.centre == c.index]) for c in county.centres
        ]
        self.items: dict[str, dict[str, Any]] = {}
        self.leads: dict[int, Session] = {}
        self.lead_locks: dict[int, asyncio.Lock] = {c.index: asyncio.Lock() for c in county.centres}
        self.seen_at_central: dict[str, float] = {}
        self.central_rows: list[dict[str, Any]] = []
        self.watching = True
        self.reviewing = True
        self.decided: dict[str, str] = {}
        self.courier_rounds: list[dict[str, Any]] = []
        self.admin = Session(county.central_url, *ADMIN)

    @property
    def paths(self) -> list[Path]:
        return [p for c in self.centres for p in c.paths.values()]

    def link_up(self, index: int) -> bool:
        link = self.county.centres[index].link
        return link is None or link.up

    async def prepare(self) -> None:
        for centre in self.county.centres:
            lead = Session(centre.url, "lead", STAFF_PASSWORD)
            await lead.login()
            self.leads[centre.index] = lead
        items = await self.leads[0].json("GET", "/api/v1/items")
        self.items = {i["name"]: i for i in items["items"]}
        await self.admin.login()

    # ---- central: what arrives, and the reviewers ------------------------------------------------------------

    async def central_cases(self, session: Session) -> list[dict[str, Any]]:
        answer = await session.json("GET", "/api/v1/cases", params={"limit": 5000})
        rows: list[dict[str, Any]] = answer["cases"]
        return rows

    async def watch_central(self) -> None:
        """When each case first shows at central (for acceptance → visible at central)."""
        while self.watching:
            self.central_rows = await self.central_cases(self.admin)
            for row in self.central_rows:
                if row.get("accepted_at"):  # the acceptance itself has arrived, not only the case's opening
                    self.seen_at_central.setdefault(row["case_id"], time.time())
            await asyncio.sleep(1.0)

    async def reviewers(self) -> None:
        """The county's reviewers decide every routed case as it comes (the ones the plan says: deny)."""
        sessions: dict[str, Session] = {}
        for username, code in self.county.reviewers.items():
            session = Session(self.county.central_url, username, REVIEWER_PASSWORD)
            await session.login()
            sessions[code] = session
        while True:
            wanted = {p.case_id: p for p in self.paths if p.case_id and p.visit.decided_by_county}
            # The back office's list as the watcher last read it (after the day, read afresh).
            rows = self.central_rows if self.watching else await self.central_cases(self.admin)
            for row in rows:
                path = wanted.get(row["case_id"])
                if path is None or row["case_id"] in self.decided or not self._decidable(path):
                    continue
                if row["status"] in DECIDED:
                    self.decided[row["case_id"]] = row["status"]
                    continue
                detail = await self.admin.json("GET", f"/api/v1/cases/{row['case_id']}")
                if not detail["routing"] or detail["waiver_pending"]:
                    continue
                reviewer = sessions[str(detail["routing"]["lead"])]
                body = (
                    {"outcome": "deny", "reason": DENIAL_REASON}
                    if path.visit.denied
                    else {"outcome": "approve"}
                )
                response = await reviewer.post(f"/api/v1/cases/{row['case_id']}/decision", json=body)
                if response.status_code == 200:
                    self.decided[row["case_id"]] = response.json()["status"]
                    path.decided_at_central = response.json()["status"]
                elif response.status_code != 409:
                    path.errors.append(f"审核决定 → {response.status_code}: {response.text[:200]}")
            if not self.reviewing and self._reviewers_done():
                break
            await asyncio.sleep(1.0)
        for session in sessions.values():
            await session.close()

    def _decidable(self, path: Path) -> bool:
        return path.status_at_window == "accepted" and (path.visit.outcome != "waiver" or path.supplied)

    def _reviewers_done(self) -> bool:
        return all(
            p.case_id in self.decided for p in self.paths if p.visit.decided_by_county and self._decidable(p)
        )

    # ---- faults ------------------------------------------------------------------------------------------------

    async def fault_schedule(self) -> None:
        f = self.faults
        plan: list[tuple[float, str, Callable[[], Awaitable[None]]]] = []
        if f.outage_centre is not None:
            link = self.county.centres[f.outage_centre].link
            assert link is not None
            name = self.county.centres[f.outage_centre].name

            async def cut() -> None:
                link.cut()

            async def restore() -> None:
                link.restore()

            plan += [(f.outage[0], f"{name} 断网", cut), (f.outage[1], f"{name} 恢复联网", restore)]
        if f.kill_centre is not None:
            centre = self.county.centres[f.kill_centre]

            async def kill() -> None:
                await asyncio.to_thread(self.county.kill_node, centre)
                await asyncio.to_thread(self.county.start_node, centre)
                self.timeline.note(self.clock.minute(), f"{centre.name} 节点重新启动完毕")

            plan.append((f.kill_at, f"{centre.name} 节点进程被强行终止（kill -9）并重启", kill))
        if f.central_restart_at is not None:

            async def restart() -> None:
                await asyncio.to_thread(self.county.restart_central)
                self.timeline.note(self.clock.minute(), "县中心重新启动完毕")

            plan.append((f.central_restart_at, "县中心重启", restart))
        for minute, text, action in sorted(plan, key=lambda p: p[0]):
            await self.clock.until(minute)
            self.timeline.note(self.clock.minute(), text)
            await action()

    # ---- the courier -------------------------------------------------------------------------------------------

    async def courier_round(self, label: str) -> dict[str, Any]:
        """The courier's file: exported on the node's sync page, imported at the county hall with the CLI, and the
        reply imported on the sync page."""
        f = self.faults
        assert f.courier_centre is not None
        centre = self.county.centres[f.courier_centre]
        admin = Session(centre.url, "nodeadmin", STAFF_PASSWORD)
        await admin.login()
        stick = self.county.root / "courier"
        stick.mkdir(exist_ok=True)
        try:
            page = await admin.post("/sync/courier/export")
            found = re.search(r"up-\d{8}-\d{6}\.owc", page.text)
            if page.status_code != 200 or found is None:
                raise DayError(f"信使导出 → {page.status_code}")
            up = stick / f"{label}-{found.group(0)}"
            up.write_bytes((await admin.get(f"/sync/courier/files/{found.group(0)}")).content)
            reply = stick / f"{label}-reply.owc"
            imported = await asyncio.to_thread(
                self.county.cli,
                "central",
                "import",
                up,
                "--out",
                reply,
                "--data",
                self.county.root / "central",
                "--county-dir",
                self.county.county_dir,
            )
            if imported.returncode != 0:
                raise DayError(f"县中心导入信使文件失败：{imported.stderr[-400:]}")
            back = await admin.post(
                "/sync/courier/import",
                files={"file": (reply.name, reply.read_bytes(), "application/octet-stream")},
            )
            summary = re.search(r"已导入回执：[^<]*", back.text)
            if back.status_code != 200 or summary is None:
                raise DayError(f"节点导入回执 → {back.status_code}: {back.text[-300:]}")
            result = {
                "label": label,
                "at": round(self.clock.minute(), 1),
                "up_bytes": up.stat().st_size,
                "reply_bytes": reply.stat().st_size,
                "central": imported.stdout.strip()[-300:],
                "node": summary.group(0),
            }
            self.courier_rounds.append(result)
            self.timeline.note(self.clock.minute(), f"{centre.name} 信使往返（{label}）")
            return result
        finally:
            await admin.close()

    # ---- after the day: results back at the windows and issued ---------------------------------------------------

    async def wait_for(self, what: Callable[[], Awaitable[bool]], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if await what():
                return True
            await asyncio.sleep(0.5)
        return False

    async def decisions_back(self, centres: list[int]) -> bool:
        """Every county decision of these centres is at its node."""
        for index in centres:
            lead = self.leads[index]
            for path in self.centres[index].paths.values():
                if path.case_id in self.decided and not path.decision_at_window:
                    state = await lead.json("GET", f"/api/v1/cases/{path.case_id}")
                    if state["status"] in DECIDED:
                        path.decision_at_window = state["status"]
        return all(
            p.decision_at_window
            for i in centres
            for p in self.centres[i].paths.values()
            if p.case_id in self.decided
        )

    async def issue_results(self) -> None:
        """统一出件 the next morning: the applicant collects the decision at the window."""
        for centre in self.centres:
            clerk = centre.session("clerk1")
            await clerk.login()
            for path in centre.paths.values():
                if path.case_id in self.decided and path.decision_at_window and not path.issued:
                    try:
                        if path.visit.by_mail:
                            await centre.mail_result(clerk, path)
                        else:
                            await centre.issue(clerk, path)
                    except DayError as exc:
                        path.errors.append(str(exc))

    async def queues_empty(self, centres: list[int]) -> bool:
        for index in centres:
            status = await self.leads[index].json("GET", "/api/v1/sync/status")
            if status["queue"]["entries"] or status["queue"]["unsealed_events"]:
                return False
        return True

    async def close(self) -> None:
        await self.admin.close()
        for lead in self.leads.values():
            await lead.close()
        for centre in self.centres:
            for session in centre.sessions:
                await session.close()


def next_working_day(today: date, is_working_day: Callable[[date], bool]) -> date:
    day = today + timedelta(days=1)
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def day_origin(day: date) -> datetime:
    """08:30 China time of `day`, the hall opening."""
    from datetime import timezone

    return datetime.combine(day, datetime.min.time(), timezone(timedelta(hours=8))) + timedelta(
        minutes=OPEN_MIN
    )
