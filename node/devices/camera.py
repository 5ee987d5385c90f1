"""The document camera (高拍仪, R-DEV-3): grab a page as a JPEG and drop it into the scan folder, so a photographed
page goes through exactly the same ingestion as a scanned one.

A UVC camera is used through OpenCV when it is installed (an optional dependency: ``opencv-python-headless``);
otherwise, and in the simulator, a file-backed source hands out the images of a folder in turn, or generated
sample pages. Files are written next to their final name and renamed into place, so the watcher never sees a
half-written page.
"""

from __future__ import annotations

import io
import itertools
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Protocol

from node.devices.errors import DEVICE_ABSENT, DEVICE_FAILED, DeviceError

CAMERA = "高拍仪"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class Camera(Protocol):
    label: str

    def capture(self) -> tuple[bytes, str]:
        """One page: (bytes, file extension)."""
        ...


def _font(size: int) -> object:
    from PIL import ImageFont

    try:
        from common.documents.pdf import font_paths

        return ImageFont.truetype(str(font_paths()[1]), size)
    except Exception:  # the fonts wheel missing: the page still renders, in the default font
        return ImageFont.load_default()


def sample_page(number: int, *, title: str = "扫描件样例", fmt: str = "JPEG") -> bytes:
    """A generated A4 page (JPEG or PDF) with a heading and some lines, standing in for a real scan."""
    from PIL import Image, ImageDraw

    page = Image.new("RGB", (827, 1169), "white")
    draw = ImageDraw.Draw(page)
    draw.rectangle((40, 40, 787, 1129), outline="#555555", width=3)
    draw.text((80, 90), f"{title} 第 {number} 页", fill="black", font=_font(44))  # type: ignore[arg-type]
    draw.text(
        (80, 170),
        datetime.now().strftime("生成时间 %Y-%m-%d %H:%M:%S"),
        fill="#333333",
        font=_font(26),  # type: ignore[arg-type]
    )
    for row in range(14):
        y = 260 + row * 56
        draw.line((80, y, 747 - (row % 3) * 90, y), fill="#999999", width=4)
    out = io.BytesIO()
    page.save(out, format=fmt, **({"quality": 80} if fmt == "JPEG" else {"resolution": 100.0}))
    return out.getvalue()


class FileCamera:
    """A camera that returns the images of a folder in turn, or generated sample pages when there are none."""

    label = "高拍仪（文件源）"

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def capture(self) -> tuple[bytes, str]:
        with self._lock:
            n = next(self._counter)
        if self.folder is not None:
            frames = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if frames:
                frame = frames[(n - 1) % len(frames)]
                return frame.read_bytes(), frame.suffix.lower().lstrip(".")
        return sample_page(n, title="高拍仪拍摄样例"), "jpg"


class UvcCamera:
    """A UVC document camera through OpenCV (MJPG, the camera's full resolution, warm-up frames discarded)."""

    label = "高拍仪（UVC）"

    def __init__(self, device: str, *, width: int = 2592, height: int = 1944, warmup: int = 5) -> None:
        try:
            import cv2  # type: ignore[import-not-found]  # optional: opencv-python-headless
        except ImportError:
            raise DeviceError(
                DEVICE_ABSENT, "未安装 OpenCV（opencv-python-headless），不能使用 UVC 高拍仪", device=CAMERA
            ) from None
        self._cv2 = cv2
        self.device = device
        self._lock = threading.Lock()
        self._capture = cv2.VideoCapture(device, cv2.CAP_V4L2)
        if not self._capture.isOpened():
            raise DeviceError(DEVICE_ABSENT, f"打不开高拍仪 {device}", device=CAMERA)
        # FOURCC before the size: high resolutions exist only as MJPG (devices.md §5).
        self._capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
        self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self._capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        for _ in range(warmup):
            self._capture.read()

    def capture(self) -> tuple[bytes, str]:
        with self._lock:
            ok, frame = self._capture.read()
        if not ok:
            raise DeviceError(DEVICE_FAILED, "高拍仪没有返回画面（是否被拔出？）", device=CAMERA)
        ok, encoded = self._cv2.imencode(".jpg", frame, [self._cv2.IMWRITE_JPEG_QUALITY, 85])
        if not ok:
            raise DeviceError(DEVICE_FAILED, "高拍仪画面编码失败", device=CAMERA)
        return bytes(encoded), "jpg"


def open_camera(spec: str) -> Camera | None:
    """``uvc:/dev/video0``, ``files:/path/to/images``, ``sample``, or empty for none."""
    spec = spec.strip()
    if not spec:
        return None
    kind, _, where = spec.partition(":")
    if kind == "uvc":
        return UvcCamera(where or "/dev/video0")
    if kind == "files":
        return FileCamera(Path(where))
    if kind == "sample":
        return FileCamera(None)
    raise ValueError(f"高拍仪设置应为 uvc:设备、files:文件夹 或 sample，收到 {spec!r}")


def drop_into_folder(data: bytes, folder: Path, name: str) -> Path:
    """Write a file into the scan folder the safe way: a hidden temp name, fsync, then rename into place."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    temp = folder / f".{name}.part"
    with temp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, target)
    return target
