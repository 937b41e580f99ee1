"""Path traversal and Range abuse against every route that names a recording of a real lesson.

Requests go out over a raw socket, byte for byte as written (an HTTP client would normalise
``..`` away), and a spy in front of the app records the raw path that reached it."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import pytest_asyncio

from tests.recorder.conftest import wait_recording
from tests.support.hub import ADMIN_KEY, AdminApi, InProcessHub
from tests.support.lecturer import lecturer_teaching

SHARED = pytest.mark.asyncio(loop_scope="module")
LESSON_S = 4.0
MIN_PAYLOADS = 500
REFUSED = {400, 404, 422}
# Every GET route under /api/recordings/{id}; DELETE is probed separately below.
THUMB = "thumbnail index"
ROUTES = ["", "/media", "/screen", "/stage", "/poster", "/download", "/manifest", "/thumbnails/0"]


class Spy:
    """ASGI middleware: the raw path and decoded path of every probe that reached the app."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: dict[str, tuple[bytes, str]] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            probe = dict(scope["headers"]).get(b"x-probe")
            if probe is not None:
                self.seen[probe.decode()] = (scope.get("raw_path") or b"", scope["path"])
        await self.app(scope, receive, send)


@dataclass
class Recorded:
    hub: InProcessHub
    spy: Spy
    rid: int
    record: dict[str, Any]
    folder: Path
    files: dict[str, bytes]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def recorded(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Recorded]:
    data_dir = tmp_path_factory.mktemp("downloads") / "hub"
    hub = InProcessHub(data_dir, recorder={"disk_floor_mb": 0, "thumbnail_every_s": 2.0})
    spy = Spy(hub.app)
    hub.server.config.app = spy  # uvicorn loads config.app when it starts serving
    async with hub:
        admin = AdminApi(hub.url)
        try:
            lesson = await admin.lesson(classrooms=1)
            lecturer = await lecturer_teaching(hub.url, lesson.lecturer_token)
            await asyncio.sleep(LESSON_S)
            await admin.post(f"/api/lessons/{lesson.lesson_id}/end")
            await lecturer.close()
            rec = await wait_recording(admin.http, lesson.lesson_id)
        finally:
            await admin.close()
        folder = next(hub.settings.effective_recordings_dir.iterdir())
        files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
        assert "lesson.mp4" in files and "poster.jpg" in files
        assert any(name.startswith("thumb-") for name in files)
        yield Recorded(hub, spy, rec["id"], rec, folder, files)


# ---------------------------------------------------------------- raw HTTP


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return bytes(out)


async def raw_request(
    port: int, target: bytes, headers: dict[str, str], method: bytes = b"GET"
) -> Reply:
    """One request with ``target`` sent verbatim; the connection closes after the reply."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items())
        writer.write(
            method
            + b" "
            + target
            + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            + head
            + b"\r\n"
        )
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    parsed = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    if parsed.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    elif "content-length" in parsed:
        body = body[: int(parsed["content-length"])]
    return Reply(status, parsed, body)


# ---------------------------------------------------------------- payloads


def traversal_payloads(rid: int, folder: Path, rng: random.Random) -> list[bytes]:
    """Recording ids (path segments, sent as written) that try to leave the recording."""
    dots = [
        "../",
        "..%2f",
        "..%2F",
        "%2e%2e/",
        "%2e%2e%2f",
        "%2E%2e%2F",
        "%2e%2E%2f",
        "%252e%252e%252f",
        "..%252f",
        "%25252e%25252e%25252f",
        "..\\",
        "..%5c",
        "%2e%2e%5c",
        "..%255c",
        "%c0%ae%c0%ae/",
        "%c0%ae%c0%ae%c0%af",
        "%e0%80%ae%e0%80%ae/",
        "%c0%2e%c0%2e%c0%5c",
        "\u2024\u2024/",
        "%e2%80%a4%e2%80%a4/",
        "\uff0e\uff0e\uff0f",
        "%ef%bc%8e%ef%bc%8e%ef%bc%8f",
        "\uff0e\uff0e/",
        "....//",
        "...//",
        "..;/",
        ".%00./",
        "..%00/",
        "%2e%2e%00/",
        "..%u2215",
        "%u002e%u002e%u2215",
        "%%32%65%%32%65/",
        ".%2e/",
        "%2e./",
    ]
    targets = [
        "etc/passwd",
        "etc/shadow",
        "proc/self/environ",
        "catalog.db",
        "recordings",
        f"recordings/{folder.name}/lesson.mp4",
        f"{folder.name}/manifest.json",
        "windows/win.ini",
        str(rid),
        "",
    ]
    generated = [d * depth + t for d in dots for depth in (1, 2, 5) for t in targets]
    absolute = [
        "/etc/passwd",
        "//etc/passwd",
        "%2fetc%2fpasswd",
        "%2Fetc%2Fpasswd",
        "%252fetc%252fpasswd",
        "\\etc\\passwd",
        "%5cetc%5cpasswd",
        "\uff0fetc\uff0fpasswd",
        "file:///etc/passwd",
        "file:%2f%2f%2fetc%2fpasswd",
        "C:%5cWindows%5cwin.ini",
        "C:\\Windows\\win.ini",
        quote(str(folder / "lesson.mp4"), safe=""),
        quote(str(folder), safe=""),
        quote(str(folder.parent.parent / "catalog.db"), safe=""),
        str(folder / "lesson.mp4").lstrip("/"),
    ]
    nul = [
        f"{rid}%00",
        f"{rid}%00.mp4",
        f"{rid}%00/../../etc/passwd",
        "%00",
        "%00../../etc/passwd",
        f"{rid}%2500",
        f"{rid}\x00",
    ]
    mixed = [
        f"{rid}/../{rid}",
        f"{rid}/../../{rid}",
        f"{rid}%2f..%2f{rid}",
        f"{rid}%2F%2E%2E%2F{rid}",
        f"./{rid}",
        f"%2e/{rid}",
        f"{rid}/.",
        f"{rid}/./",
        f"{rid};..",
        f"{rid}..",
        f"{rid}%2e%2e",
        f"{rid}.0",
        f"{rid}e0",
        f"+{rid}",
        f"-{rid}",
        f"%20{rid}",
        f"{rid}%20",
        f"0x{rid:x}",
        f"{rid}\uff0e\uff0e",
        f"\uff10{rid}",
        "\u0663",  # Arabic-Indic three: isdigit() but not ASCII
        "\u00b9",  # superscript one: isdigit() but int() refuses it
        "\uff11",  # fullwidth one
        "1" * 13,
        "9" * 40,
        "-1",
        "0",
        "1e3",
        "..",
        ".",
        "%2e",
        "%2e%2e",
        "~",
        "~root",
        "*",
        "%2a",
        "{id}",
        "%7bid%7d",
        "${IFS}",
        "NaN",
        "null",
    ]
    unique = list(dict.fromkeys(generated + absolute + nul + mixed))
    rng.shuffle(unique)
    # Raw non-ASCII text is sent as its UTF-8 bytes, never re-encoded.
    return [text.encode("utf-8") for text in unique]


def redirect_target(location: bytes) -> bytes:
    """The path and query of a Location header, as sent by the server."""
    return b"/" + location.split(b"://", 1)[-1].split(b"/", 1)[1]


def may_succeed(path: str, rid: int, suffix: str) -> bool:
    """Whether the path the app saw (percent-decoded) is this route of this recording."""
    if suffix == THUMB:
        # A thumbnail index in plain ASCII digits is a thumbnail of this recording.
        index = path.removeprefix(f"/api/recordings/{rid}/thumbnails/")
        return index != path and index.isascii() and index.isdigit()
    return path == f"/api/recordings/{rid}{suffix}"


def genuine(reply: Reply, rec: Recorded) -> bool:
    """A 2xx body is one of the recording's own files or its own JSON."""
    if reply.body in rec.files.values():
        return True
    if reply.headers.get("content-type", "").startswith("application/json"):
        data = json.loads(reply.body)
        return data.get("id") == rec.rid or (
            "thumbnails" in data and data.get("duration_s") is not None
        )
    return False


@SHARED
async def test_traversal_payloads_never_leave_the_recording(recorded: Recorded) -> None:
    rec = recorded
    rng = random.Random(20261124)
    payloads = traversal_payloads(rec.rid, rec.folder, rng)
    assert len(payloads) >= MIN_PAYLOADS, len(payloads)
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    base = b"/api/recordings/"
    rid = str(rec.rid).encode()
    jobs: list[tuple[bytes, str | None]] = []  # (target, the route it may legitimately be)
    for p in payloads:
        for suffix in ROUTES:
            jobs.append((base + p + suffix.encode(), suffix))
        jobs.append((base + rid + b"/thumbnails/" + p, THUMB))
        jobs.append((base + rid + b"/media/" + p, None))
    tickets = [
        b"?ticket=a&ticket=b",
        b"?ticket=&ticket=",
        b"?ticket=..%2f..%2fetc%2fpasswd",
        b"?ticket=%00",
        b"?ticket=" + b"x" * 5000,
        b"?ticket=a&ticket=../../etc/passwd&ticket=%252e%252e%252f",
        b"?ticket[]=a&ticket[]=b",
        b"?ticket=\xc0\xae\xc0\xae",
    ]
    for query in tickets:
        for suffix in ROUTES:
            jobs.append((base + rid + suffix.encode() + query, suffix))

    gate = asyncio.Semaphore(16)
    replies: dict[int, Reply] = {}
    followed: dict[int, Reply] = {}
    started = time.monotonic()

    async def one(n: int, target: bytes) -> None:
        async with gate:
            replies[n] = await raw_request(rec.hub.port, target, {**auth, "X-Probe": str(n)})
            if replies[n].status in (307, 308):
                # Starlette's trailing-slash redirect: follow it, byte for byte.
                location = replies[n].headers["location"].encode()
                followed[n] = await raw_request(
                    rec.hub.port, redirect_target(location), {**auth, "X-Probe": f"{n}r"}
                )

    await asyncio.gather(*(one(n, t) for n, (t, _) in enumerate(jobs)))
    elapsed = time.monotonic() - started

    statuses: dict[int, int] = {}
    failures: list[str] = []
    reached = same_raw = served = redirected = 0

    def judge(
        target: bytes, suffix: str | None, reply: Reply, probe: str, via: bytes = b""
    ) -> None:
        nonlocal reached, same_raw, served
        seen = rec.spy.seen.get(probe)
        if seen is not None:
            reached += 1
            # What reached the app is what was sent: nothing normalised `..` on the way.
            sent_path = target.split(b"?", 1)[0]
            same_raw += seen[0] == sent_path
            if seen[0] != sent_path:
                failures.append(f"{target!r}: the app saw raw_path {seen[0]!r}")
        if reply.status >= 500:
            failures.append(f"{target!r}: {reply.status} {reply.body[:200]!r}")
        elif 200 <= reply.status < 300:
            served += 1
            legit = (
                suffix is not None and seen is not None and may_succeed(seen[1], rec.rid, suffix)
            )
            if not legit or not genuine(reply, rec):
                failures.append(
                    f"{target!r} (via {via!r}): {reply.status} served {reply.body[:40]!r}"
                )
        elif reply.status not in REFUSED:
            failures.append(f"{target!r}: unexpected {reply.status} {reply.headers}")

    for n, (target, suffix) in enumerate(jobs):
        reply = replies[n]
        statuses[reply.status] = statuses.get(reply.status, 0) + 1
        if reply.status in (307, 308):
            redirected += 1
            location = reply.headers["location"]
            # Same origin, still under the recordings; and where it leads is refused too.
            if not location.startswith("http://127.0.0.1/api/recordings/"):
                failures.append(f"{target!r}: redirected off the recordings to {location}")
            judge(redirect_target(location.encode()), suffix, followed[n], f"{n}r", target)
        else:
            judge(target, suffix, reply, str(n))
    parser_refused = len(jobs) - reached
    print(
        f"\ntraversal: {len(payloads)} payloads, {len(jobs)} requests in {elapsed:.1f}s; "
        f"{reached} reached the app ({same_raw} with the raw path as sent), "
        f"{parser_refused} refused by the HTTP parser, {redirected} trailing-slash redirects "
        f"followed, {served} served genuine recording content; "
        f"statuses {dict(sorted(statuses.items()))}"
    )
    assert not failures, f"{len(failures)} bad replies, e.g.:\n" + "\n".join(failures[:20])
    assert reached >= 0.8 * len(jobs), "most probes must reach the app, not just the parser"
    assert same_raw == reached


@SHARED
async def test_delete_with_traversal_ids_deletes_nothing(recorded: Recorded) -> None:
    rec = recorded
    payloads = [
        p
        for p in traversal_payloads(rec.rid, rec.folder, random.Random(7))
        if str(rec.rid).encode() not in p and b"%3" not in p.lower()
    ]
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    statuses: dict[int, int] = {}
    for p in payloads:
        reply = await raw_request(rec.hub.port, b"/api/recordings/" + p, auth, method=b"DELETE")
        statuses[reply.status] = statuses.get(reply.status, 0) + 1
        if reply.status in (307, 308):
            location = reply.headers["location"].encode()
            assert location.startswith(b"http://127.0.0.1/api/recordings/"), location
            reply = await raw_request(
                rec.hub.port, redirect_target(location), auth, method=b"DELETE"
            )
        assert reply.status in REFUSED, (p, reply.status, reply.body[:200])
    print(f"\ndelete: {len(payloads)} traversal ids, statuses {dict(sorted(statuses.items()))}")
    assert rec.folder.is_dir() and (rec.folder / "lesson.mp4").is_file()
    assert rec.folder.parent.parent.joinpath("catalog.db").is_file()
    async with httpx.AsyncClient(base_url=rec.hub.url, headers=auth, timeout=10) as http:
        assert (await http.get(f"/api/recordings/{rec.rid}")).status_code == 200


@SHARED
async def test_ranges_one_is_exact_and_a_thousand_are_cheap(recorded: Recorded) -> None:
    rec = recorded
    data = rec.files["lesson.mp4"]
    size = len(data)
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(base_url=rec.hub.url, headers=auth, timeout=10) as http:
        for path in (f"/api/recordings/{rec.rid}/media", f"/api/recordings/{rec.rid}/download"):
            one = await http.get(path, headers={"Range": "bytes=1000-4999"})
            assert one.status_code == 206, one.status_code
            assert one.content == data[1000:5000]
            assert one.headers["content-range"] == f"bytes 1000-4999/{size}"
            tail = await http.get(path, headers={"Range": f"bytes={size - 10}-"})
            assert tail.status_code == 206 and tail.content == data[-10:]

        cases = {
            "1000 disjoint": ",".join(f"{i * 2}-{i * 2}" for i in range(1000)),
            "1000 overlapping whole-file": ",".join(["0-"] * 1000),
            "1000 suffixes": ",".join([f"-{size}"] * 1000),
            "100 overlapping whole-file": ",".join(["0-"] * 100),
            "100 disjoint": ",".join(f"{i * 10}-{i * 10 + 4}" for i in range(100)),
        }
        for name, spec in cases.items():
            started = time.monotonic()
            response = await http.get(
                f"/api/recordings/{rec.rid}/media", headers={"Range": f"bytes={spec}"}
            )
            took = time.monotonic() - started
            print(
                f"range {name}: {response.status_code}, {len(response.content)} bytes "
                f"(file {size}) in {took * 1000:.0f} ms"
            )
            assert response.status_code < 500
            if name.startswith("1000"):
                assert response.status_code in (400, 416) or took < 2.0
            else:
                assert took < 2.0
            # Overlapping ranges are never an amplifier: at most the file plus part headers.
            assert len(response.content) <= size + 200 * spec.count(",") + 200
        bad = await http.get(
            f"/api/recordings/{rec.rid}/media", headers={"Range": f"bytes={size + 10}-"}
        )
        assert bad.status_code == 416
