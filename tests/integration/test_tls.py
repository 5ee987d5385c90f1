"""TLS (issue 21, acceptance 5): central serves HTTPS itself; the enrolment bundle carries the county's CA
certificate and the node trusts that CA only. A node enrolled with the county CA syncs over HTTPS; when central
answers with a certificate from another CA (an impostor, or a certificate the county changed without telling
the node) the node sends nothing and its sync page says why, in Chinese.

The CAs and certificates are made here, at test time, with `cryptography` (no key is ever committed)."""

from __future__ import annotations

import datetime
import ipaddress
import sqlite3
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from provisioning.county import ProvisioningError, StaffSpec, add_node
from tests.integration.test_real_processes import _accept
from tests.support import CLERK, free_port, provision, spawn, stop

NOW = datetime.datetime.now(datetime.UTC)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_ca(common: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(_name(common))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def make_server(ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], folder: Path) -> tuple[Path, Path]:
    """A server certificate for 127.0.0.1 issued by `ca`; returns (certificate file, key file)."""
    ca_key, ca_cert = ca
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name("县中心"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=90))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / "central.crt", folder / "central.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_file.chmod(0o600)
    return cert_file, key_file


def pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def spawn_tls_central(
    setup: object, data: Path, port: int, cert: Path, key: Path, log: Path
) -> subprocess.Popen[bytes]:
    return spawn(
        ["-m", "central", "serve", "--data", str(data), "--county-dir", str(setup.county_dir),  # type: ignore[attr-defined]
         "--port", str(port), "--tls-cert", str(cert), "--tls-key", str(key)],
        log,
    )  # fmt: skip


def wait_https(url: str, process: subprocess.Popen[bytes], ca_file: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: exited with {process.returncode}")
        try:
            if (
                httpx.get(
                    url + "/healthz", verify=ssl.create_default_context(cafile=ca_file), timeout=1.0
                ).status_code
                == 200
            ):
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise TimeoutError(url)


def wait_node(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: exited with {process.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise TimeoutError(url)


def test_add_node_takes_only_a_ca_certificate(tmp_path: Path) -> None:
    setup = provision(tmp_path, nodes=0)
    ca = make_ca("梅河口市政务CA")
    cert_file, _ = make_server(ca, tmp_path / "tls")
    staff = [StaffSpec(CLERK[0], "窗口", "window", CLERK[1])]
    for wrong, why in ((cert_file.read_text(), "不是 CA 证书"), ("-----BEGIN nonsense", "不是 PEM")):
        with pytest.raises(ProvisioningError, match=why):
            add_node(setup.county, name="某中心", division="220581101000", central_urls=["https://x"],
                     out=tmp_path / "n.bundle", staff=staff, central_ca=wrong)  # fmt: skip


@pytest.mark.slow
def test_a_node_enrolled_with_the_county_ca_syncs_over_https_and_refuses_another_certificate(
    tmp_path: Path,
) -> None:
    central_port, node_port = free_port(), free_port()
    central_url, node_url = f"https://127.0.0.1:{central_port}", f"http://127.0.0.1:{node_port}"
    county_ca, impostor_ca = make_ca("梅河口市政务CA"), make_ca("别处的CA")
    ca_file = tmp_path / "county-ca.pem"
    ca_file.write_text(pem(county_ca[1]))
    setup = provision(tmp_path, nodes=0, central_url=central_url)
    # As the county admin does it: provision add-node … --central-ca county-ca.pem
    made = subprocess.run(
        [str(Path(sys.executable).with_name("onewindow")), "provision", "add-node", "--dir", str(setup.county_dir),
         "--name", "测试1号便民服务中心", "--division", "220581101000", "--central-url", central_url,
         "--out", str(tmp_path / "node1.bundle"), "--staff", f"{CLERK[0]}:window:窗口:{CLERK[1]}",
         "--central-ca", str(ca_file)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    node_dir = tmp_path / "node"
    subprocess.run(
        [sys.executable, "-m", "node", "enroll", str(tmp_path / "node1.bundle"), "--data", str(node_dir),
         "--expect-county", setup.county.info["sign_fingerprint"]],
        check=True, capture_output=True,
    )  # fmt: skip
    assert "BEGIN CERTIFICATE" in (node_dir / "node.json").read_text()
    good_cert, good_key = make_server(county_ca, tmp_path / "tls-good")
    bad_cert, bad_key = make_server(impostor_ca, tmp_path / "tls-bad")

    central = spawn_tls_central(
        setup, tmp_path / "central", central_port, good_cert, good_key, tmp_path / "c.log"
    )
    node = spawn(["-m", "node", "serve", "--data", str(node_dir), "--port", str(node_port), "--sync-interval", "0.3"],
                 tmp_path / "node.log")  # fmt: skip
    impostor: subprocess.Popen[bytes] | None = None
    try:
        wait_https(central_url, central, ca_file)
        wait_node(node_url, node)
        # Plain HTTP to central's port is not served: staff log in over HTTPS only.
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{central_port}/healthz", timeout=2)
        with httpx.Client(base_url=node_url, timeout=10) as window:
            assert (
                window.post("/api/v1/login", json={"username": CLERK[0], "password": CLERK[1]}).status_code
                == 200
            )
            items = window.get("/api/v1/items").json()["items"]
            item = min(items, key=lambda i: sum(m["mandatory"] for m in i["materials"]))
            first = _accept(window, item, 1)
            deadline = time.monotonic() + 90
            status = window.get("/api/v1/sync/status").json()
            while (status["link"] != "up" or status["queue"]["entries"]) and time.monotonic() < deadline:
                time.sleep(0.3)
                status = window.get("/api/v1/sync/status").json()
            assert status["link"] == "up" and status["queue"]["entries"] == 0, status
            assert status["certificate"] is not None  # activated over HTTPS

            # Central's address now answers with a certificate of another CA.
            stop(central)
            impostor = spawn_tls_central(
                setup, tmp_path / "central", central_port, bad_cert, bad_key, tmp_path / "i.log"
            )
            wait_https(central_url, impostor, _ca_file(impostor_ca, tmp_path))
            second = _accept(window, item, 2)
            deadline = time.monotonic() + 60
            status = window.get("/api/v1/sync/status").json()
            while not status["link_problem"] and time.monotonic() < deadline:
                time.sleep(0.3)
                status = window.get("/api/v1/sync/status").json()
            assert "证书未通过校验" in status["link_problem"], status
            assert status["link"] == "down" and status["queue"]["entries"] >= 1
            page = window.get("/sync", headers={"accept": "text/html"}).text
            assert 'id="link-problem"' in page and "县中心的证书未通过校验" in page
        stop(impostor)
        with sqlite3.connect(tmp_path / "central" / "central.db") as db:
            cases = {r[0] for r in db.execute('SELECT case_id FROM "case"')}
        assert first in cases and second not in cases  # nothing went to the impostor's side
    finally:
        stop(node)
        stop(central)
        if impostor is not None:
            stop(impostor)


def _ca_file(ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], folder: Path) -> Path:
    path = folder / "impostor-ca.pem"
    path.write_text(pem(ca[1]))
    return path
