"""The JSON bodies of the catalogue API as typed structs (what `/schema` documents and the framework checks).
A per-field bound, when one is declared, goes on the field as ``Annotated[…, msgspec.Meta(…)]``."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from protocol.limits import MAX_CODE, MAX_TEXT


class CatalogueChangeRequest(msgspec.Struct):
    """``POST /api/v1/catalogue/changes``: one 事项调整 (Zhejiang §5.1.3)."""

    #: add (增加) | cancel (取消) | delegate (下放) | change (变更).
    action: Annotated[str, msgspec.Meta(max_length=MAX_CODE)] = ""
    #: The implementation code of the item changed (for add: taken from `item`).
    item_code: Annotated[str, msgspec.Meta(max_length=MAX_CODE)] = ""
    #: The §5.1.3 reason, by code (a1 … d4), one the action allows.
    trigger: Annotated[str, msgspec.Meta(max_length=MAX_CODE)] = ""
    note: Annotated[str, msgspec.Meta(max_length=MAX_TEXT)] = ""
    #: The item as it is to be (add, delegate, change), in the catalogue file's form; checked by
    #: `protocol.catalogue` like every item of the catalogue.
    item: dict[str, Any] | None = None


class CatalogueVersionAnswer(msgspec.Struct):
    """The catalogue version a change made."""

    version: int
    issued_at: str
    items: int
