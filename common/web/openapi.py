"""The OpenAPI both apps publish at ``/schema`` says what their errors really look like: every 4xx and 5xx
answer is RFC 9457 ``application/problem+json`` (`common.web.problems`), and a page route may also answer
with the page itself (a form shown again with its error)."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin

PROBLEM_MEDIA = "application/problem+json"
#: The problem body every error answer has (`protocol.errors.OneWindowError.to_problem_json`).
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 问题详情：编号 code（OW-nnnn）、出错的字段 field 与原因 detail",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string"},
        "detail": {"type": "string"},
        "field": {"type": "string"},
    },
}
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_REF = {"$ref": "#/components/schemas/Problem"}


def _error_content(operation: dict[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = {PROBLEM_MEDIA: {"schema": _REF}}
    pages = any(
        "text/html" in (answer.get("content") or {})
        for code, answer in (operation.get("responses") or {}).items()
        if str(code).startswith(("2", "3"))
    )
    if pages:
        content["text/html"] = {"schema": {"type": "string"}}
    return content


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` (an OpenAPI document as a dict) with every error answer documented as problem+json."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for path_item in (schema.get("paths") or {}).values():
        for method in _METHODS:
            operation = path_item.get(method)
            if not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            for code in ("204", "304"):  # no body by definition: no media type to promise
                if code in responses:
                    responses[code].pop("content", None)
            content = _error_content(operation)
            for code in list(responses):
                if str(code).startswith(("4", "5")):
                    responses[code] = {
                        "description": responses[code].get("description") or "错误（问题详情）",
                        "content": content,
                    }
            responses.setdefault(
                "4XX", {"description": "请求被拒绝：问题详情说明字段与原因", "content": content}
            )
            responses.setdefault("5XX", {"description": "服务器内部错误（已记录）", "content": content})
    return schema


class _ProblemDocumentedOpenAPI(OpenAPIPlugin):
    """Litestar's OpenAPI plugin, its generated document rewritten by `document_problems` once, when built."""

    __slots__ = ()

    def provide_openapi_schema(self) -> dict[str, Any]:
        built = bool(self._openapi_schema)
        schema = super().provide_openapi_schema()  # memoized: the same dict until the routes change
        if not built:
            document_problems(schema)
        return schema


def publish_problem_documents(app: Litestar) -> None:
    """An ``on_startup`` hook: the app's OpenAPI is rewritten when ``/schema`` first asks for it.

    Generating the document costs more than building the app: a node no one asks for its schema never pays.
    (The plugin's slots forbid replacing one method on the instance; the subclass adds no state.)"""
    plugin = app.plugins.get(OpenAPIPlugin)
    plugin.__class__ = _ProblemDocumentedOpenAPI
