"""The HTTP server's defences against a real in-process hub (issue 13, items 6 and 7): bodies
are refused before they are read when the caller is not authenticated, capped while they
stream, and timed; half-sent requests are closed at the header deadline and one address holds
at most its cap of connections, with either HTTP parser, while a live lesson goes on."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from streamhub.client import LessonClient
from streamhub.client.decode import FrameDecoder
from tests.media.test_bad_input import latest_counter
from tests.support.hub import ADMIN_KEY, AdminApi, HubFactory, InProcessHub
from tests.support.lecturer import lecturer_teaching
from tests.support.wait import eventually

ATTACKER = "127.0.0.2"  # loopback too, but another address than the lesson's 127.0.0.1
HEADER_TIMEOUT_S = 1.5
PER_ADDRESS = 20


@pytest.fixture(params=["h11", "httptools"])
async def hub(request: pytest.FixtureRequest, make_hub: HubFactory) -> InProcessHub:
    return await make_hub(
        recorder={"enabled": False},
        http={
            "protocol": request.param,
            "header_timeout_s": HEADER_TIMEOUT_S,
            "body_timeout_s": 1.0,
            "max_connections_per_address": PER_ADDRESS,
        },
    )


async def open_raw(
    hub: InProcessHub, source: str = "127.0.0.1"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", hub.port, local_addr=(source, 0))


async def read_response(reader: asyncio.StreamReader, timeout: float = 10.0) -> tuple[int, dict]:
    """Status and JSON body of one HTTP/1.1 response (Content-Length framed)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), timeout)
    return status, json.loads(body)


def post_head(path: str, length: int | None, token: str | None = None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: hub", "Content-Type: application/json"]
    lines.append(
        f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    )
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_an_anonymous_body_is_refused_before_it_is_read(hub: InProcessHub) -> None:
    reader, writer = await open_raw(hub)
    # 60 MB announced, 64 KB sent: the answer comes without waiting for the rest.
    writer.write(post_head("/api/schools", 60_000_000) + b"{" + b" " * 65535)
    await writer.drain()
    status, problem = await read_response(reader)
    assert (status, problem["code"]) == (401, "token_missing")
    writer.close()
    # A bad token is refused the same way (signature check only, no catalog read).
    reader, writer = await open_raw(hub)
    writer.write(post_head("/api/schools", 60_000_000, "not.a.token") + b"{" * 1000)
    await writer.drain()
    status, problem = await read_response(reader)
    assert (status, problem["code"]) == (401, "token_invalid")
    writer.close()


async def test_a_large_body_is_refused_while_it_streams(hub: InProcessHub) -> None:
    cap = hub.settings.http.max_body_bytes
    reader, writer = await open_raw(hub)
    writer.write(post_head("/api/schools", 60_000_000, ADMIN_KEY) + b"{" + b" " * 1000)
    await writer.drain()
    status, problem = await read_response(reader)
    assert (status, problem["code"]) == (413, "body_too_large")
    writer.close()
    # Chunked: no length to judge by; refused once the cap is passed, not at the end.
    reader, writer = await open_raw(hub)
    writer.write(post_head("/api/schools", None, ADMIN_KEY))
    chunk = b" " * 16384
    answer = asyncio.ensure_future(read_response(reader, timeout=20))
    sent = 0
    while not answer.done() and sent < 200 * cap:
        writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        await writer.drain()
        sent += len(chunk)
        await asyncio.sleep(0.001)
    status, problem = await answer
    assert (status, problem["code"]) == (413, "body_too_large")
    assert sent < 50 * cap, sent
    writer.close()
    # A body within the cap still works.
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        ok = await http.post(
            "/api/schools",
            json={"name": "x" * 100},
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        )
    assert ok.status_code == 201


async def test_a_stalled_body_is_refused(hub: InProcessHub) -> None:
    reader, writer = await open_raw(hub)
    writer.write(post_head("/api/schools", 1000, ADMIN_KEY) + b'{"name": ')
    await writer.drain()
    status, problem = await read_response(reader)
    assert (status, problem["code"]) == (408, "body_timeout")
    writer.close()


async def test_half_sent_requests_are_closed_and_one_address_is_capped(
    hub: InProcessHub,
) -> None:
    admin = AdminApi(hub.url)
    setup = await admin.lesson(classrooms=1)
    lecturer = await lecturer_teaching(hub.url, setup.lecturer_token, 160, 120)
    watcher = LessonClient(hub.url, await admin.device_token(setup.credentials[0]))
    attackers: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        await watcher.connect({})
        decoder = FrameDecoder("VP8")
        before = await latest_counter(watcher, decoder)
        for _ in range(PER_ADDRESS + 30):
            reader, writer = await open_raw(hub, ATTACKER)
            writer.write(b"GET /api/schools HTTP/1.1\r\nHost: hub\r\nX-Slow: ")  # never ends
            attackers.append((reader, writer))
        await asyncio.gather(*(w.drain() for _, w in attackers))

        async def closed(reader: asyncio.StreamReader) -> bool:
            try:
                return await asyncio.wait_for(reader.read(1), 30) == b""
            except ConnectionError:
                return True

        # Over the cap: closed at once; the others at the header deadline. Meanwhile the
        # lesson's own address is not limited and its requests are answered.
        async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
            assert (await http.get("/healthz")).status_code == 200
        results = await asyncio.gather(*(closed(r) for r, _ in attackers))
        assert all(results), results.count(False)
        assert hub.guard.refused >= 30 and hub.guard.timed_out >= PER_ADDRESS
        # The lesson's WebSockets outlived the header deadline (they are not half-sent
        # requests) and frames kept flowing.
        assert lecturer.closed is None and watcher.closed is None
        after = await latest_counter(watcher, decoder)
        assert after > before
        # The address is free again.
        reader, writer = await open_raw(hub, ATTACKER)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 200")
        writer.close()
        # A keep-alive connection that stops halfway through its second request is closed too.
        reader, writer = await open_raw(hub)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        attackers.append((reader, writer))  # closed below, as the attackers are
        writer.write(b"GET /healthz HTTP/1.1\r\nHo")
        await eventually(lambda: closed(reader), 30)
    finally:
        for _, writer in attackers:
            writer.close()
        await watcher.close()
        await lecturer.close()
        await admin.close()
