"""The request log (issue 21): every request one line with its id, method, path (never the query), route, status
and duration — unknown paths and wrong methods too, which no middleware sees — and counted by route template."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from litestar import Litestar, get, post
from litestar.params import FromPath
from litestar.testing import TestClient

from common.logs import configure_logging
from common.metrics import Metrics
from common.web.requestlog import request_log, unrouted_request_log
from tests.integration.test_logs_and_metrics import parse_metrics

ID_NUMBER = "11010519491231002X"


@get("/cases/{case_id:str}")
async def case(case_id: FromPath[str]) -> str:
    if case_id == "broken":
        raise RuntimeError("boom")
    return case_id


@post("/api/v1/login", status_code=200)
async def login() -> None:
    from litestar.exceptions import NotAuthorizedException

    raise NotAuthorizedException()


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("INFO", "kv", stream=stream)
    try:
        yield stream
    finally:
        root = logging.getLogger()
        for handler in [h for h in root.handlers if getattr(h, "_onewindow_handler", False)]:
            root.removeHandler(handler)
        root.setLevel(logging.WARNING)


def test_every_request_is_one_line_and_one_count(log: io.StringIO) -> None:
    metrics = Metrics("t")
    app = Litestar(
        [case, login],
        middleware=[request_log(metrics, app_name="t")],
        before_send=[unrouted_request_log(metrics, app_name="t")],
        logging_config=None,
    )
    with TestClient(app) as client:
        ok = client.get("/cases/7", params={"id": ID_NUMBER}, headers={"x-request-id": "abc-123"})
        assert ok.status_code == 200 and ok.headers["x-request-id"] == "abc-123"
        forged = client.get("/cases/8", headers={"x-request-id": "bad id\nwith=stuff"})
        assert forged.headers["x-request-id"] != "bad id\nwith=stuff"
        assert client.get("/cases/broken").status_code == 500
        assert client.get(f"/nothing/{ID_NUMBER}").status_code == 404
        assert client.post("/cases/7").status_code == 405
        assert client.post("/api/v1/login").status_code == 401
    lines = log.getvalue().splitlines()
    requests = [line for line in lines if " event=request " in line]
    assert len(requests) == 6
    assert "id=abc-123 method=GET path=/cases/7 route=/cases/{case_id} status=200 duration_ms=" in requests[0]
    assert "level=error" in requests[2] and "status=500" in requests[2]
    assert "path=/nothing/*** route=unmatched status=404" in requests[3]
    assert "method=POST path=/cases/7 route=unmatched status=405" in requests[4]
    assert ID_NUMBER not in log.getvalue()
    assert len([line for line in lines if " event=login_failed " in line]) == 1
    samples = parse_metrics(metrics.render())
    route = ("route", "/cases/{case_id}")
    assert samples[("t_http_requests_total", frozenset({route, ("method", "GET"), ("status", "200")}))] == 2
    assert samples[("t_http_requests_total", frozenset({route, ("method", "GET"), ("status", "500")}))] == 1
    unmatched = ("route", "unmatched")
    assert (
        samples[("t_http_requests_total", frozenset({unmatched, ("method", "GET"), ("status", "404")}))] == 1
    )
    assert samples[("t_login_failures_total", frozenset())] == 1
