"""Issue 18: schemathesis runs over both apps' OpenAPI, as real processes, with a logged-in session (the node's
admin, the county admin), a few generated requests per operation — bounded to stay within a minute or two —
and checks that no answer is a 5xx and that every answer matches the documents (status code, content type,
body schema). Operations that end the session itself (退出, turning the tablet into a kiosk) are left out so the
session lasts the run; everything else, the signed sync API included (its requests then fail their
signature), is fuzzed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support import (
    NODE_ADMIN,
    enroll_node_process,
    free_port,
    provision,
    spawn,
    spawn_central,
    stop,
    wait_healthy,
)

ADMIN = ("admin", "admin-pass-1")
#: Generated requests per operation (both apps have some 200 operations): about a minute per app here.
EXAMPLES = int(os.environ.get("ONEWINDOW_FUZZ_EXAMPLES", "4"))
#: Operations that would end the fuzzer's own session.
SKIPPED = {("POST", "/logout"), ("POST", "/kiosk/open")}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _fuzz(base_url: str, who: tuple[str, str]) -> tuple[int, list[str]]:
    session = requests.Session()
    login = session.post(
        f"{base_url}/api/v1/login", json={"username": who[0], "password": who[1]}, timeout=30
    )
    assert login.status_code == 200, login.text
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    schema = schemathesis.openapi.from_url(f"{base_url}/schema/openapi.json", headers={"Cookie": cookie})
    failures: list[str] = []
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            nonlocal calls
            calls += 1
            try:
                case.call_and_validate(base_url=base_url, session=session, checks=CHECKS, timeout=30)
            except BaseException as exc:  # one line per operation in the report, not the first only
                failures.append(f"{case.method.upper()} {case.path}: {str(exc)[:600]}")
                raise

        try:
            run()
        except KeyboardInterrupt:
            raise
        except BaseException:  # recorded above; the run goes on to the next operation
            pass
    return calls, failures


@pytest.mark.slow
def test_schemathesis_finds_no_5xx_and_no_document_mismatch_on_either_app(tmp_path: Path) -> None:
    central_port, node_port = free_port(), free_port()
    central_url, node_url = f"http://127.0.0.1:{central_port}", f"http://127.0.0.1:{node_port}"
    setup = provision(tmp_path, nodes=1, central_url=central_url)
    enroll_node_process(setup.bundles[0], tmp_path / "node")
    central = spawn_central(setup, tmp_path / "central", central_port, tmp_path / "central.log")
    node: subprocess.Popen[bytes] | None = None
    started = time.monotonic()
    try:
        wait_healthy(central_url, central)
        node = spawn(
            [
                "-m",
                "node",
                "serve",
                "--data",
                str(tmp_path / "node"),
                "--port",
                str(node_port),
                "--sync-interval",
                "2",
                "--simulate-devices",
            ],
            tmp_path / "node.log",
        )
        wait_healthy(node_url, node)
        time.sleep(4)  # a sync round or two: the node is enrolled at central, a working county is fuzzed
        report: dict[str, tuple[int, list[str]]] = {
            "node": _fuzz(node_url, NODE_ADMIN),
            "central": _fuzz(central_url, ADMIN),
        }
    finally:
        for process in (node, central):
            if process is not None:
                stop(process)
    elapsed = time.monotonic() - started
    print(
        f"schemathesis: { ({k: v[0] for k, v in report.items()}) } requests in {elapsed:.0f} s",
        file=sys.stderr,
    )
    for app, (calls, _) in report.items():
        assert calls > 100, (app, calls)
    failures = [f"{app}: {line}" for app, (_, lines) in report.items() for line in lines]
    assert not failures, "\n".join(failures)
    for log in (tmp_path / "node.log", tmp_path / "central.log"):
        assert "5xx on" not in log.read_text(encoding="utf-8", errors="replace"), log.name
