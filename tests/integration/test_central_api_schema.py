"""Central's JSON API documents every field of every request body in its OpenAPI schema (`/schema`), and a body
of the wrong type is refused by the framework as a numbered problem naming the field."""

from __future__ import annotations

from typing import Any

from tests.conftest import Stack
from tests.support import REVIEWER

#: The JSON bodies central takes (a new one is documented the same way; this list only guards against a vacuous
#: pass if routes were not found).
KNOWN_BODIES = {
    ("post", "/api/v1/login"),
    ("post", "/api/v1/cases/{case_id}/decision"),
    ("post", "/api/v1/work/{case_id}/{action}"),
    ("post", "/api/v1/catalogue/changes"),
    ("post", "/api/v1/consults/{case_id}/{consult_id}/answer"),
    ("post", "/sync/v1/up"),
    ("post", "/sync/v1/hello"),
    ("post", "/sync/v1/down/restore"),
}


def _json_bodies(schema: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    components = schema.get("components", {}).get("schemas", {})
    found = {}
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            content = (operation.get("requestBody") or {}).get("content", {})
            body = content.get("application/json")
            if body is None:
                continue
            ref = body["schema"].get("$ref", "")
            found[(method, path)] = components[ref.rsplit("/", 1)[-1]] if ref else body["schema"]
    return found


async def test_every_json_request_body_documents_its_fields(stack: Stack) -> None:
    bodies = _json_bodies(stack.central_app.openapi_schema.to_schema())
    assert set(bodies) >= KNOWN_BODIES
    undocumented = [f"{m.upper()} {p}" for (m, p), body in bodies.items() if not body.get("properties")]
    assert not undocumented, f"JSON bodies without documented fields: {undocumented}"
    assert {"outcome", "reason"} <= set(bodies[("post", "/api/v1/cases/{case_id}/decision")]["properties"])
    assert {"node_id", "entries", "down_head"} <= set(bodies[("post", "/sync/v1/up")]["properties"])


async def test_a_body_of_the_wrong_type_is_refused_naming_the_field(stack: Stack) -> None:
    login = await stack.central.post("/api/v1/login", json={"username": 7, "password": "x"})
    assert login.status_code == 400
    assert (login.json()["code"], login.json()["field"]) == ("OW-1002", "username")
    assert login.headers["content-type"].startswith("application/problem+json")

    ok = await stack.central.post("/api/v1/login", json={"username": REVIEWER[0], "password": REVIEWER[1]})
    assert ok.status_code == 200 and ok.json()["user"]["username"] == REVIEWER[0]
    decision = await stack.central.post("/api/v1/cases/nope/decision", json={"outcome": ["approve"]})
    assert (decision.status_code, decision.json()["field"]) == (400, "outcome")

    push = await stack.central.post("/sync/v1/up", json={"node_id": "n", "entries": {"seq": 1}})
    assert (push.status_code, push.json()["code"], push.json()["field"]) == (400, "OW-1002", "entries")
    whole = await stack.central.post("/sync/v1/hello", json=[1, 2])
    assert (whole.status_code, whole.json()["field"]) == (400, "body")
    missing = await stack.central.post("/sync/v1/hello", json={"up": {"seq": 0}})
    assert (missing.status_code, missing.json()["field"]) == (400, "up.hash")
