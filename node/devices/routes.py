"""Tablet pages and JSON API for the centre's devices: read an ID card into the applicant form, capture scanned
pages onto a case, the device status page, and — in simulator mode — the buttons that stand in for a person at
the devices (place a card, press an evaluator button, scan a page, pull a cable)."""

from __future__ import annotations

import asyncio
import html
from typing import Annotated, Any

from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template

from node.devices.camera import drop_into_folder, sample_page
from node.devices.capture import (
    case_scans,
    case_sessions,
    next_slot,
    recent_scans,
    start_capture,
    stop_capture,
    waiting_session,
)
from node.devices.cards import card_fields, record_card_read
from node.devices.errors import DEVICE_ABSENT, DeviceError
from node.devices.manager import KIND_LABELS, DeviceManager
from node.events import get_case
from node.intake.cases.materials import remove_material
from node.intake.cases.receive import item_of
from node.staff import FRONT_DESK
from node.web import actor_of, current_user, runtime_of, window_name
from protocol.errors import NOT_FOUND, VALIDATION, OneWindowError
from protocol.hall import SATISFACTION_LABELS
from protocol.limits import MAX_ROW_ID

STATUS_LABELS = {"attached": "已加入办件", "duplicate": "重复，未加入", "quarantined": "已隔离"}


def devices_of(request: Request[Any, Any, State]) -> DeviceManager:
    manager: DeviceManager = request.app.state.devices
    return manager


def _simulator(request: Request[Any, Any, State]) -> Any:
    simulator = devices_of(request).simulator
    if simulator is None:
        raise OneWindowError(VALIDATION, "本节点没有运行设备模拟器（--simulate-devices）", field="simulator")
    return simulator


def _small_int(value: Any, field: str, label: str) -> int:
    """A small whole number posted by a simulator button (0 when left out), or OW-1001 naming the field."""
    text = str(value or "0").strip()
    if not text.isdigit() or len(text) > 3:
        raise OneWindowError(VALIDATION, f"{label}应为不大于 999 的整数", field=field)
    return int(text)


def _back(request: Request[Any, Any, State], default: str = "/devices") -> str:
    target = request.query_params.get("next", "") or default
    return target if target.startswith("/") and not target.startswith("//") else default


# ---- ID card ------------------------------------------------------------------------------------------------


async def _read_card(request: Request[Any, Any, State], user: dict[str, str]) -> dict[str, Any]:
    manager = devices_of(request)
    card = await manager.read_idcard(wait_s=3.0)
    read = await record_card_read(
        runtime_of(request),
        card=card,
        actor=actor_of(user),
        window=window_name(request),
        decoder=manager.decoder,
    )
    return card_fields(card, read)


@post("/api/v1/devices/idcard/read", media_type=MediaType.JSON, status_code=200)
async def api_read_card(request: Request[Any, Any, State]) -> dict[str, Any]:
    """读取身份证: the card on the reader, as the applicant form's fields (waits up to 3 s for a card)."""
    user = current_user(request, *FRONT_DESK)
    return await _read_card(request, user)


# ---- capture sessions -----------------------------------------------------------------------------------------


async def capture_context(request: Request[Any, Any, State], case_id: str, seen: int = -1) -> dict[str, Any]:
    runtime = runtime_of(request)
    state = await get_case(runtime, case_id)
    item = item_of(runtime, state)
    manager = devices_of(request)
    sessions = await case_sessions(runtime, case_id)
    waiting = await waiting_session(runtime)
    scans = await case_scans(runtime, case_id)
    attached = sum(1 for s in scans if s.status == "attached")
    names = {m.id: m.name for m in item.materials}
    present = {str(m["material_id"]) for m in state.materials}
    mandatory = [m for m in item.materials if m.mandatory]
    active = next((s for s in sessions if s.ended_at is None and waiting and s.id == waiting.id), None)
    return {
        "case": state,
        "materials": item.materials,
        "names": names,
        "next": next_slot(item, state),
        "mandatory": mandatory,
        "present": present,
        "position": next(
            (n for n, m in enumerate(item.materials, 1) if active and m.id == active.material_id), 0
        ),
        "active": active,
        "other_waiting": waiting if waiting is not None and waiting.case_id != case_id else None,
        "scans": scans[:20],
        "attached": attached,
        "seen": attached if seen < 0 else seen,
        "status_labels": STATUS_LABELS,
        "window": window_name(request),
        "folder": manager.folders.incoming if manager.folders is not None else None,
        "simulated": manager.simulator is not None,
        "camera": manager.camera is not None,
    }


@get("/cases/{case_id:str}/capture", media_type=MediaType.HTML)
async def capture_partial(
    request: Request[Any, Any, State],
    case_id: FromPath[str],
    seen: Annotated[int, QueryParameter(ge=-1, le=MAX_ROW_ID)] = -1,
) -> Response[Any]:
    """The case's scanning box, polled by HTMX; when a new page was attached the whole case page reloads."""
    current_user(request)
    context = await capture_context(request, case_id, seen)
    headers = {"HX-Refresh": "true"} if 0 <= seen < context["attached"] else {}
    return Template(template_name="devices_capture.html", context=context, headers=headers)


def capture_window(request: Request[Any, Any, State], user: dict[str, str]) -> str:
    """The window a capture session belongs to: the tablet's window name, else the clerk's own tablet (no name
    has to be typed before scanning)."""
    return window_name(request) or f"{user.get('display_name') or user['username']}的平板"


@post("/cases/{case_id:str}/capture", media_type=MediaType.HTML, status_code=200)
async def capture_start(request: Request[Any, Any, State], case_id: FromPath[str]) -> Redirect:
    """开始扫描 (one material, ``material_id``) or 逐项采集 (``walk=1``: slot by slot from the first empty
    mandatory one, or from ``material_id``): scanned files go to this case until stopped or done."""
    user = current_user(request, *FRONT_DESK)
    form = await request.form()
    await start_capture(
        runtime_of(request),
        actor=actor_of(user),
        window=str(form.get("window", "")) or capture_window(request, user),
        case_id=case_id,
        material_id=str(form.get("material_id", "")),
        walk=form.get("walk") == "1",
    )
    return Redirect(path=f"/cases/{case_id}#capture")


@post("/cases/{case_id:str}/pages/remove", media_type=MediaType.HTML, status_code=200)
async def page_remove(request: Request[Any, Any, State], case_id: FromPath[str]) -> Redirect:
    """删除 a page from its slot; 重拍 (``retake=1``) also starts capturing that slot again, walking on after."""
    user = current_user(request, *FRONT_DESK)
    form = await request.form()
    material_id = str(form.get("material_id", ""))
    runtime = runtime_of(request)
    await remove_material(
        runtime,
        actor=actor_of(user),
        case_id=case_id,
        material_id=material_id,
        blob=str(form.get("blob", "")),
    )
    if form.get("retake") == "1":
        await start_capture(
            runtime,
            actor=actor_of(user),
            window=capture_window(request, user),
            case_id=case_id,
            material_id=material_id,
            walk=True,
        )
        return Redirect(path=f"/cases/{case_id}#capture")
    return Redirect(path=f"/cases/{case_id}#checklist")


@post("/cases/{case_id:str}/capture/stop", media_type=MediaType.HTML, status_code=200)
async def capture_stop(request: Request[Any, Any, State], case_id: FromPath[str]) -> Redirect:
    current_user(request, *FRONT_DESK)
    form = await request.form()
    await stop_capture(runtime_of(request), session_id=str(form.get("session_id", "")))
    return Redirect(path=f"/cases/{case_id}#capture")


@post("/devices/camera/capture", media_type=MediaType.HTML, status_code=200)
async def camera_capture(request: Request[Any, Any, State]) -> Redirect:
    """高拍仪拍照: one frame into the scan folder, where it is ingested like a scan."""
    current_user(request, *FRONT_DESK)
    manager = devices_of(request)
    if manager.camera is None or manager.folders is None:
        raise DeviceError(DEVICE_ABSENT, "没有配置高拍仪或扫描文件夹", device="高拍仪")
    data, ext = await asyncio.to_thread(manager.camera.capture)
    stamp = runtime_of(request).now().strftime("%Y%m%d-%H%M%S-%f")
    await asyncio.to_thread(drop_into_folder, data, manager.folders.incoming, f"高拍仪-{stamp}.{ext}")
    manager.note("高拍仪", "已拍摄一页")
    return Redirect(path=_back(request))


# ---- status page ------------------------------------------------------------------------------------------------


async def devices_context(request: Request[Any, Any, State], user: dict[str, str]) -> dict[str, Any]:
    manager = devices_of(request)
    runtime = runtime_of(request)
    simulator = manager.simulator
    return {
        "user": user,
        "status": manager.status(),
        "scans": await recent_scans(runtime),
        "status_labels": STATUS_LABELS,
        "simulator": simulator.state() if simulator is not None else None,
        "sample_cards": _sample_names() if simulator else [],
        "levels": SATISFACTION_LABELS,
        "kinds": KIND_LABELS,
        "camera": manager.camera is not None,
        "folder": manager.folders,
        "active": "devices",
    }


def _sample_names() -> list[str]:
    from node.devices.simulators import SAMPLE_CARDS

    return [c.name for c in SAMPLE_CARDS]


@get("/devices", media_type=MediaType.HTML)
async def devices_page(request: Request[Any, Any, State]) -> Template:
    user = current_user(request)
    return Template(template_name="devices.html", context=await devices_context(request, user))


@get("/devices/panel", media_type=MediaType.HTML)
async def devices_panel(request: Request[Any, Any, State]) -> Template:
    user = current_user(request)
    return Template(template_name="devices_panel.html", context=await devices_context(request, user))


@get("/devices/badge", media_type=MediaType.HTML)
async def devices_badge(request: Request[Any, Any, State]) -> Template:
    """One line of device health for the window page."""
    current_user(request)
    return Template(template_name="devices_badge.html", context={"status": devices_of(request).status()})


@post("/devices/{key:str}/window", media_type=MediaType.HTML, status_code=200)
async def device_window(request: Request[Any, Any, State], key: FromPath[str]) -> Redirect:
    current_user(request, "lead", "node_admin", "window")
    form = await request.form()
    devices = devices_of(request)
    if key not in devices.slots:
        raise OneWindowError(NOT_FOUND, f"没有这个设备：{key[:40]}", field="key")
    devices.set_window(key, str(form.get("window", "")))
    return Redirect(path="/devices")


@get("/api/v1/devices", media_type=MediaType.JSON)
async def api_devices(request: Request[Any, Any, State]) -> dict[str, Any]:
    current_user(request)
    return devices_of(request).status()


# ---- simulator ------------------------------------------------------------------------------------------------


@post("/devices/sim/card", media_type=MediaType.HTML, status_code=200)
async def sim_place_card(request: Request[Any, Any, State]) -> Response[Any]:
    """模拟放卡: put one of the sample cards on the simulated reader."""
    current_user(request)
    form = await request.form()
    card = _simulator(request).place_card(_small_int(form.get("card"), "card", "样卡编号"))
    devices_of(request).note("模拟器", f"已放上身份证（{card.name}）")
    return _sim_answer(request, f"已把「{card.name}」的身份证放在读卡器上")


@post("/devices/sim/lift", media_type=MediaType.HTML, status_code=200)
async def sim_lift_card(request: Request[Any, Any, State]) -> Response[Any]:
    current_user(request)
    _simulator(request).lift_card()
    return _sim_answer(request, "已拿起身份证")


@post("/devices/sim/press", media_type=MediaType.HTML, status_code=200)
async def sim_press(request: Request[Any, Any, State]) -> Response[Any]:
    """模拟评价器按键."""
    current_user(request)
    form = await request.form()
    button = _small_int(form.get("button"), "button", "按键")
    if button not in SATISFACTION_LABELS:
        raise OneWindowError(VALIDATION, "按键应为 1 至 5", field="button")
    _simulator(request).press(button)
    return _sim_answer(request, f"已按下评价器「{SATISFACTION_LABELS[button]}」")


@post("/devices/sim/plug", media_type=MediaType.HTML, status_code=200)
async def sim_plug(request: Request[Any, Any, State]) -> Response[Any]:
    """模拟插拔: pull a simulated device's cable out, or put it back."""
    current_user(request)
    form = await request.form()
    kind = str(form.get("kind", ""))
    if kind not in KIND_LABELS:
        raise OneWindowError(VALIDATION, f"未知设备 {kind!r}", field="kind")
    simulator = _simulator(request)
    if simulator.plugged(kind):
        simulator.unplug(kind)
        message = f"已拔出{KIND_LABELS[kind]}"
    else:
        simulator.replug(kind)
        message = f"已插回{KIND_LABELS[kind]}"
    devices_of(request).note("模拟器", message)
    return _sim_answer(request, message)


@post("/devices/sim/scan", media_type=MediaType.HTML, status_code=200)
async def sim_scan(request: Request[Any, Any, State]) -> Response[Any]:
    """模拟扫描: the simulated scanner writes a sample page (PDF) into the scan folder, renamed into place."""
    current_user(request)
    _simulator(request)
    manager = devices_of(request)
    if manager.folders is None:
        raise OneWindowError(VALIDATION, "本节点没有配置扫描文件夹（--scan-folder）", field="scan_folder")
    stamp = runtime_of(request).now().strftime("%Y%m%d-%H%M%S-%f")
    data = await asyncio.to_thread(sample_page, 1, title="模拟扫描件", fmt="PDF")
    name = f"扫描-{stamp}.pdf"
    await asyncio.to_thread(drop_into_folder, data, manager.folders.incoming, name)
    manager.note("模拟器", f"扫描仪已输出 {name}")
    return _sim_answer(request, f"扫描仪已把 {name} 放入扫描文件夹")


@get("/devices/sim/controls", media_type=MediaType.HTML)
async def sim_controls(request: Request[Any, Any, State]) -> Template:
    """The simulator's buttons for one place on a page (``for=idcard`` or ``for=scan``); empty without it."""
    current_user(request)
    target = request.query_params.get("for", "")
    simulated = devices_of(request).simulator is not None
    return Template(
        template_name="devices_sim_controls.html",
        context={
            "simulated": simulated,
            "target": target,
            "sample_cards": _sample_names() if simulated else [],
            "levels": SATISFACTION_LABELS,
        },
    )


def _sim_answer(request: Request[Any, Any, State], message: str) -> Response[Any]:
    if request.headers.get("hx-request"):
        return Response(
            content=f'<span class="notice" role="status">{html.escape(message)}</span>',
            media_type=MediaType.HTML,
        )
    return Redirect(path=_back(request))


ROUTES = [
    api_read_card,
    capture_partial,
    capture_start,
    page_remove,
    capture_stop,
    camera_capture,
    devices_page,
    devices_panel,
    devices_badge,
    device_window,
    api_devices,
    sim_place_card,
    sim_lift_card,
    sim_press,
    sim_plug,
    sim_scan,
    sim_controls,
]
