"""The ID card photo (证件照): kept as the raw 1024-byte WLT the card holds, decoded only by a plug-in.

WLT is a licensed format; no open decoder exists (devices.md §3.7), so none ships. A centre that has the
vendor's library names a plug-in in the node settings (``module:attribute``) — a callable that takes the WLT
bytes and returns an image (the vendor libraries return a 102×126 BMP). Without one the node works on the
card's text alone and the photo can be decoded later.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

PhotoDecoder = Callable[[bytes], bytes]


def load_decoder(spec: str) -> PhotoDecoder | None:
    """The decoder named by ``package.module:attribute``, or None when `spec` is empty.

    A class is instantiated without arguments; a function is used as it is.
    """
    if not spec.strip():
        return None
    module_name, _, attribute = spec.partition(":")
    if not attribute:
        raise ValueError(f"照片解码插件应写成 模块:名称，收到 {spec!r}")
    target = getattr(importlib.import_module(module_name.strip()), attribute.strip())
    decoder = target() if isinstance(target, type) else target
    if not callable(decoder):
        raise ValueError(f"照片解码插件 {spec!r} 不可调用")
    return decoder  # type: ignore[no-any-return]
