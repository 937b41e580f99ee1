"""`streamhub tls init`, the start-up checks of a TLS hub, and the way plain HTTP is sent to
HTTPS. Everything here talks to loopback only."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from streamhub.app import create_app
from streamhub.config import load_settings
from streamhub.errors import ConfigError
from streamhub.tls import check_server_files, issue
from tests.support.hub import ADMIN_KEY, JWT_SECRET
from tests.support.net import free_port


def _streamhub(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamhub", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_tls_init_makes_a_ca_and_a_server_certificate_that_verifies(tmp_path: Path) -> None:
    result = _streamhub(
        "tls", "init", "--name", "hub.county.local", "--ip", "10.1.2.3", "--dir", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # It says where the agent finds the CA and how lecturer PCs trust it.
    assert "--ca-file ca.crt" in out and "certutil" in out
    assert "cert_file:" in out and "key_file:" in out
    assert (tmp_path / "ca.key").stat().st_mode & 0o077 == 0
    assert (tmp_path / "hub.key").stat().st_mode & 0o077 == 0
    cert = x509.load_pem_x509_certificate((tmp_path / "hub.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["hub.county.local"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["10.1.2.3"]
    # A real TLS handshake: a client that trusts only ca.crt accepts the hub's certificate.
    context = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp_path / "hub.crt", tmp_path / "hub.key")
    client_in, client_out, server_in, server_out = (ssl.MemoryBIO() for _ in range(4))
    client = context.wrap_bio(client_in, client_out, server_hostname="hub.county.local")
    served = server.wrap_bio(server_in, server_out, server_side=True)
    for _ in range(10):
        for end in (client, served):
            try:
                end.do_handshake()
            except ssl.SSLWantReadError:
                pass
        server_in.write(client_out.read())
        client_in.write(server_out.read())
    assert client.version() is not None

    # Re-issuing keeps the CA: lecturer PCs that trust it need nothing new.
    ca_before = (tmp_path / "ca.crt").read_bytes()
    again = _streamhub("tls", "init", "--ip", "10.1.2.4", "--dir", str(tmp_path))
    assert again.returncode == 0 and "Reused the local CA" in again.stdout
    assert (tmp_path / "ca.crt").read_bytes() == ca_before


def test_tls_init_refuses_bad_names(tmp_path: Path) -> None:
    bad_ip = _streamhub("tls", "init", "--ip", "10.1.2", "--dir", str(tmp_path))
    assert bad_ip.returncode == 2 and "not an IP address" in bad_ip.stderr
    nothing = _streamhub("tls", "init", "--dir", str(tmp_path))
    assert nothing.returncode == 2 and "--name or --ip" in nothing.stderr


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    issued = issue(tmp_path / "tls", ["localhost"], ["127.0.0.1"])
    return issued.cert, issued.key


def test_bad_certificate_settings_stop_the_hub_with_one_clear_line(
    tmp_path: Path, pair: tuple[Path, Path]
) -> None:
    cert, key = pair
    other = issue(tmp_path / "other", ["elsewhere"], [])
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    cases = {
        "missing": (tmp_path / "nope.crt", key, "no such file"),
        "not pem": (garbage, key, "not a PEM or DER certificate"),
        "key not pem": (cert, garbage, "not a PEM private key"),
        "mismatch": (cert, other.key, "does not match the certificate"),
    }
    base = {k: v for k, v in os.environ.items() if not k.startswith("STREAMHUB_")}
    for name, (cert_file, key_file, expected) in cases.items():
        env = dict(base)
        env.update(
            STREAMHUB_DATA_DIR=str(tmp_path / "data"),
            STREAMHUB_TLS__CERT_FILE=str(cert_file),
            STREAMHUB_TLS__KEY_FILE=str(key_file),
        )
        result = _streamhub("serve", "--port", str(free_port()), env=env)
        assert result.returncode == 2, (name, result.stdout, result.stderr)
        assert expected in result.stderr, (name, result.stderr)
        assert "Traceback" not in result.stderr
    only_cert = dict(
        base, STREAMHUB_DATA_DIR=str(tmp_path / "d"), STREAMHUB_TLS__CERT_FILE=str(cert)
    )
    result = _streamhub("serve", "--port", str(free_port()), env=only_cert)
    assert result.returncode == 2 and "set both or neither" in result.stderr


def test_check_server_files_names_an_expired_certificate(tmp_path: Path) -> None:
    issued = issue(tmp_path, ["localhost"], [], days=1)
    info = check_server_files(issued.cert, issued.key)
    assert info.expires_soon and "localhost" in info.names
    with pytest.raises(ConfigError, match="--days"):
        issue(tmp_path, ["localhost"], [], days=5000)


async def test_a_tls_hub_serves_https_and_its_plain_port_redirects(
    tmp_path: Path, pair: tuple[Path, Path]
) -> None:
    cert, key = pair
    port, plain = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMHUB_")}
    env.update(
        STREAMHUB_DATA_DIR=str(tmp_path / "data"),
        STREAMHUB_ADMIN_KEY=ADMIN_KEY,
        STREAMHUB_JWT_SECRET=JWT_SECRET,
        STREAMHUB_TLS__CERT_FILE=str(cert),
        STREAMHUB_TLS__KEY_FILE=str(key),
        STREAMHUB_TLS__REDIRECT_HTTP_PORT=str(plain),
        STREAMHUB_LOG_JSON="false",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streamhub", "serve", "--port", str(port),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    ca = str(cert.with_name("ca.crt"))
    try:
        async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=ca)) as http:
            for _ in range(300):
                try:
                    if (await http.get(f"https://127.0.0.1:{port}/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    assert proc.returncode is None, "the hub exited"
                await asyncio.sleep(0.1)
            page = await http.get(f"https://localhost:{port}/lesson/ABC123")
            assert page.status_code == 200 and "<html" in page.text
            moved = await http.get(f"http://127.0.0.1:{plain}/lesson/ABC123?lang=zh-CN")
            assert moved.status_code == 308
            assert moved.headers["location"] == f"https://127.0.0.1:{port}/lesson/ABC123?lang=zh-CN"
            followed = await http.get(f"http://localhost:{plain}/library", follow_redirects=True)
            assert followed.status_code == 200 and str(followed.url).startswith("https://localhost")
    finally:
        proc.terminate()
        out, _ = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, out.decode()[-2000:]
    assert b"Application shutdown complete" in out


async def test_behind_a_proxy_plain_http_from_another_machine_goes_to_the_public_https_url(
    tmp_path: Path,
) -> None:
    settings = load_settings(
        None,
        data_dir=tmp_path,
        admin_key=ADMIN_KEY,
        jwt_secret=JWT_SECRET,
        public_url="https://hub.county.local",
    )
    app = create_app(settings)

    async def get(client: str, path: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(client, 40000), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://10.1.2.3:8000") as c:
            return await c.get(path)

    remote = await get("10.1.2.50", "/lesson/ABC?lang=en")
    assert remote.status_code == 308
    assert remote.headers["location"] == "https://hub.county.local/lesson/ABC?lang=en"
    # Health probes answer on plain HTTP; loopback (one machine, or the proxy) is served.
    assert (await get("10.1.2.50", "/metrics")).status_code != 308
    assert (await get("127.0.0.1", "/library")).status_code == 200
    # A hub with no HTTPS address redirects nowhere: the page explains the missing camera.
    plain = create_app(load_settings(None, data_dir=tmp_path, host="0.0.0.0"))
    transport = httpx.ASGITransport(app=plain, client=("10.1.2.50", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://10.1.2.3:8000") as c:
        assert (await c.get("/lesson/ABC")).status_code == 200


def test_the_public_url_of_a_tls_hub_is_the_origin_browsers_send(
    tmp_path: Path, pair: tuple[Path, Path]
) -> None:
    cert, key = pair
    tls = {"cert_file": cert, "key_file": key}
    on_443 = load_settings(None, data_dir=tmp_path, host="10.1.2.3", port=443, tls=tls)
    # Browsers send "Origin: https://10.1.2.3" (no default port); the WebSocket check compares.
    assert on_443.effective_public_url == "https://10.1.2.3"
    on_8443 = load_settings(None, data_dir=tmp_path, host="10.1.2.3", port=8443, tls=tls)
    assert on_8443.effective_public_url == "https://10.1.2.3:8443"
