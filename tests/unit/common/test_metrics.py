"""The Prometheus text format `common.metrics` writes (issue 21), read back by a strict parser; and its gates."""

from __future__ import annotations

import pytest

from common.metrics import Family, Metrics, bearer_allowed, lan_client
from tests.integration.test_logs_and_metrics import parse_metrics


def test_requests_histograms_counters_and_families_render_as_prometheus_text() -> None:
    metrics = Metrics("ow")
    metrics.observe_request(route="/cases/{case_id}", method="GET", status=200, seconds=0.02)
    metrics.observe_request(route="/cases/{case_id}", method="GET", status=200, seconds=0.3)
    metrics.observe_request(route="/cases/{case_id}", method="GET", status=404, seconds=0.001)
    metrics.count("job_runs", "jobs", outcome="ok")
    metrics.count("job_runs", "jobs", outcome="ok")
    extra = Family("ow_nodes", "gauge", "nodes").add(2, status='act"ive')
    text = metrics.render([extra])
    samples = parse_metrics(text)
    route = ("route", "/cases/{case_id}")
    get = ("method", "GET")
    assert samples[("ow_http_requests_total", frozenset({route, get, ("status", "200")}))] == 2
    assert samples[("ow_http_requests_total", frozenset({route, get, ("status", "404")}))] == 1
    assert samples[("ow_http_request_duration_seconds_bucket", frozenset({route, get, ("le", "0.005")}))] == 1
    assert samples[("ow_http_request_duration_seconds_bucket", frozenset({route, get, ("le", "0.025")}))] == 2
    assert samples[("ow_http_request_duration_seconds_bucket", frozenset({route, get, ("le", "+Inf")}))] == 3
    assert samples[("ow_http_request_duration_seconds_count", frozenset({route, get}))] == 3
    assert samples[("ow_http_request_duration_seconds_sum", frozenset({route, get}))] == pytest.approx(0.321)
    assert samples[("ow_job_runs_total", frozenset({("outcome", "ok")}))] == 2
    assert samples[("ow_nodes", frozenset({("status", 'act\\"ive')}))] == 2
    assert samples[("process_resident_memory_bytes", frozenset())] > 1_000_000
    assert "# TYPE ow_http_request_duration_seconds histogram" in text


def test_the_gates() -> None:
    assert bearer_allowed("Bearer s3cret", "s3cret")
    assert not bearer_allowed("Bearer s3cre", "s3cret")
    assert not bearer_allowed(None, "s3cret")
    assert not bearer_allowed("Basic s3cret", "s3cret")
    assert not bearer_allowed("Bearer ", "")  # no token configured: nobody
    for host in (
        "127.0.0.1",
        "192.168.1.20",
        "10.3.4.5",
        "172.16.0.9",
        "::1",
        "fe80::1",
        "::ffff:192.168.0.3",
    ):
        assert lan_client(host), host
    for host in ("8.8.8.8", "2001:4860::8888", "", None, "testclient"):
        assert not lan_client(host), host
