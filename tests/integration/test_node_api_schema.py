"""The node's JSON API is typed: `/schema` documents every field of every JSON request body, and a value of the
wrong type is refused by the framework as a problem naming the field (OW-1002), before any service runs."""

from __future__ import annotations

from typing import Any

from tests.conftest import Stack, login_node
from tests.support import VALID_IDS


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """A request body's schema with `$ref`s and `oneOf` (an optional body: the struct or null) followed."""
    while True:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            schema = spec["components"]["schemas"][name]
        elif "oneOf" in schema:
            schema = next(s for s in schema["oneOf"] if s.get("type") != "null")
        else:
            return schema


async def test_the_schema_lists_the_fields_of_every_json_request_body(stack: Stack) -> None:
    await login_node(stack)
    spec = (await stack.node.get("/schema/openapi.json")).json()
    bodies = {}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                bodies[f"{method.upper()} {path}"] = _resolve(spec, content["application/json"]["schema"])
    # Every JSON body of the node: login, cases and their outcomes, tickets, appointments, ratings, complaints.
    assert len(bodies) >= 22, sorted(bodies)
    untyped = {name: schema for name, schema in bodies.items() if not schema.get("properties")}
    assert not untyped, f"JSON bodies without documented fields: {untyped}"
    case = bodies["POST /api/v1/cases"]["properties"]
    assert {"item_code", "applicant", "agent", "ticket_id"} <= case.keys()
    applicant = _resolve(spec, case["applicant"])["properties"]
    assert {"name", "cert_type", "cert_number", "phone", "kind"} <= applicant.keys()
    waiver = bodies["POST /api/v1/cases/{case_id}/accept-with-waiver"]["properties"]
    assert waiver["waived"]["type"] == "array" and "supply_by" in waiver
    assert bodies["POST /api/v1/ratings"]["properties"]["level"]


async def test_a_value_of_the_wrong_type_is_refused_with_the_field_named(stack: Stack) -> None:
    await login_node(stack)
    items = (await stack.node.get("/api/v1/items")).json()["items"]
    wrong = [
        ("/api/v1/cases", {"item_code": items[0]["code"], "applicant": {"name": 3}}, "applicant.name"),
        ("/api/v1/cases", {"item_code": 7, "applicant": {"name": "张三"}}, "item_code"),
        ("/api/v1/cases/x/accept-with-waiver", {"waived": "m1"}, "waived"),
        ("/api/v1/cases/x/correction", {"corrections": [{"problem": ["缺页"]}]}, "corrections[0].problem"),
        ("/api/v1/cases/x/issue", {"read_from_card": "yes", "cert_number": VALID_IDS[0]}, "read_from_card"),
        ("/api/v1/ratings", {"level": True}, "level"),
        ("/api/v1/tickets/categories", {"code": "C", "active": "no"}, "active"),
        ("/api/v1/login", {"username": ["clerk"]}, "username"),
    ]
    for path, body, field in wrong:
        response = await stack.node.post(path, json=body)
        assert response.status_code == 400, (path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert (problem["code"], problem["field"]) == ("OW-1002", field), (path, problem)
    assert (await stack.node.get("/api/v1/cases")).json()["cases"] == []  # nothing was received
