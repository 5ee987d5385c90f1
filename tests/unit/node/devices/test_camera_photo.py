"""The document camera sources, the WLT photo decoder plug-in, and the device settings and CLI flags."""

from __future__ import annotations

import io
import sys
import types
from pathlib import Path

import pytest

from node.devices.camera import FileCamera, UvcCamera, drop_into_folder, open_camera, sample_page
from node.devices.errors import DeviceError
from node.devices.photo import load_decoder
from node.settings import NodeSettings


def test_sample_pages_are_complete_jpeg_and_pdf() -> None:
    jpeg = sample_page(1)
    assert jpeg.startswith(b"\xff\xd8\xff") and jpeg.endswith(b"\xff\xd9")
    pdf = sample_page(2, fmt="PDF")
    assert pdf.startswith(b"%PDF-") and b"%%EOF" in pdf[-32:]
    from PIL import Image

    assert Image.open(io.BytesIO(jpeg)).size == (827, 1169)


def test_a_file_camera_hands_out_the_folder_images_in_turn(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "b.jpg").write_bytes(b"\xff\xd8\xff second \xff\xd9")
    (frames / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n first")
    (frames / "notes.txt").write_text("not a frame")
    camera = open_camera(f"files:{frames}")
    assert isinstance(camera, FileCamera)
    shots = [camera.capture() for _ in range(3)]
    assert [ext for _data, ext in shots] == ["png", "jpg", "png"]
    assert shots[1][0] == b"\xff\xd8\xff second \xff\xd9"


def test_without_images_the_file_camera_makes_sample_pages() -> None:
    data, ext = FileCamera(None).capture()
    assert ext == "jpg" and data.endswith(b"\xff\xd9")


def test_camera_settings_are_checked() -> None:
    assert open_camera("") is None
    with pytest.raises(ValueError, match="uvc:设备"):
        open_camera("webcam")


def test_a_uvc_camera_without_opencv_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 raises ImportError
    with pytest.raises(DeviceError, match="opencv-python-headless"):
        UvcCamera("/dev/video0")


def test_pages_are_renamed_into_place(tmp_path: Path) -> None:
    target = drop_into_folder(b"%PDF-1.4\n%%EOF\n", tmp_path / "scans", "page.pdf")
    assert target.read_bytes() == b"%PDF-1.4\n%%EOF\n"
    assert [p.name for p in (tmp_path / "scans").iterdir()] == ["page.pdf"]  # no temp file left


def test_the_photo_decoder_plug_in_is_loaded_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("vendor_wlt")

    class Decoder:
        def __call__(self, wlt: bytes) -> bytes:
            return b"BM" + wlt[:4]

    module.Decoder = Decoder  # type: ignore[attr-defined]
    module.decode = lambda wlt: b"BM" + wlt[:2]  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vendor_wlt", module)
    assert load_decoder("") is None
    assert load_decoder("vendor_wlt:Decoder")(b"WLTx....") == b"BMWLTx"  # type: ignore[misc]
    assert load_decoder("vendor_wlt:decode")(b"WLTx") == b"BMWL"  # type: ignore[misc]
    with pytest.raises(ValueError, match="模块:名称"):
        load_decoder("vendor_wlt")


def test_device_settings_come_from_the_environment(tmp_path: Path) -> None:
    settings = NodeSettings.from_env(
        {
            "ONEWINDOW_NODE_DATA": str(tmp_path),
            "ONEWINDOW_NODE_SIMULATE_DEVICES": "1",
            "ONEWINDOW_NODE_SCAN_FOLDER": str(tmp_path / "scans"),
            "ONEWINDOW_NODE_DEVICE_TABLE": "0400:c35a=idcard",
            "ONEWINDOW_NODE_EVALUATOR_WINDOW": "2号窗口",
            "ONEWINDOW_NODE_CAMERA": "sample",
        }
    )
    assert settings.simulate_devices and settings.scan_folder == tmp_path / "scans"
    assert (settings.device_table, settings.evaluator_window, settings.camera) == (
        "0400:c35a=idcard",
        "2号窗口",
        "sample",
    )
    assert not NodeSettings.from_env({"ONEWINDOW_NODE_DATA": str(tmp_path)}).simulate_devices


def test_the_serve_command_takes_the_device_flags(tmp_path: Path) -> None:
    import argparse

    from node.cli import build_parser

    parser = argparse.ArgumentParser()
    build_parser(parser)
    args = parser.parse_args(
        ["serve", "--data", str(tmp_path), "--simulate-devices", "--scan-folder", str(tmp_path / "in")]
    )
    assert args.simulate_devices is True and args.scan_folder == tmp_path / "in"
    plain = parser.parse_args(["serve", "--data", str(tmp_path)])
    assert plain.simulate_devices is None and plain.scan_folder is None
