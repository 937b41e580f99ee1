"""What connection checks need from the hub: TURN credentials and media facts, an ICE probe
of the media ports, a bandwidth probe, and (from classroom PCs) the doctor's result, which
admins read per classroom.

Classroom PCs call the ``/api/device/...`` routes with their device credential; the lecturer
page calls the ``/api/network/...`` ones with its access token. Both share the handlers.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, StringConstraints

from streamhub.api.access import classroom_access
from streamhub.api.auth import Admins, CallerDep, DeviceDep, ServicesDep
from streamhub.api.schemas import NO_NUL, Body, IdPath
from streamhub.catalog.models import ConnectionCheck
from streamhub.errors import ErrorCode, StreamhubError
from streamhub.media.ice import client_ice_servers
from streamhub.media.probe import IceProbes
from streamhub.protocol import IceServer

device_router = APIRouter(prefix="/api/device", tags=["classroom PCs"])
token_router = APIRouter(prefix="/api/network", tags=["connection checks"])
admin_router = APIRouter(prefix="/api", tags=["classrooms"])

# A bandwidth probe moves at most this much either way (a 2 s probe at 64 Mbit/s).
MAX_PROBE_BYTES = 16 * 1024 * 1024
# The probe's upload routes: the hub's body cap (http.max_body_bytes) lets these carry a probe.
BANDWIDTH_PROBE_PATHS = ("/api/device/bandwidth", "/api/network/bandwidth")
_CHUNK = os.urandom(64 * 1024)  # random: a compressing proxy cannot shrink it


class TooLarge(StreamhubError):
    """The upload is larger than a bandwidth probe may be."""

    code = ErrorCode.TOO_LARGE
    status = 413


class NetworkOut(BaseModel):
    ice_servers: list[IceServer]
    # What the firewall in front of the hub must let through (for messages, not for ICE).
    udp_port_range: tuple[int, int] | None
    host_addresses: list[str]
    server_time: float


class ProbeIn(Body):
    sdp: Annotated[str, StringConstraints(max_length=16 * 1024)]


class ProbeOut(BaseModel):
    sdp: str


class UploadOut(BaseModel):
    bytes: int
    seconds: float


Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=600, pattern=NO_NUL)]


class CheckLine(Body):
    check: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40, pattern=NO_NUL)
    ]
    status: Literal["ok", "warn", "fail", "skip"]
    detail: Text = ""


class ConnectionCheckIn(Body):
    ok: bool
    summary: Text
    lines: list[CheckLine] = Field(max_length=40)
    agent: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=120, pattern=NO_NUL)
    ] = ""


class ConnectionCheckOut(BaseModel):
    id: int
    classroom_id: int
    checked_at: datetime
    ok: bool
    summary: str
    lines: list[CheckLine]
    agent: str


def _network(svc: ServicesDep, who: str) -> NetworkOut:
    ice = svc.settings.ice
    return NetworkOut(
        ice_servers=client_ice_servers(ice, who),
        udp_port_range=ice.port_range,
        host_addresses=[*ice.addresses, *filter(None, [ice.announced_address])],
        server_time=time.time(),
    )


def _probes(request: Request) -> IceProbes:
    return request.app.state.ice_probes  # type: ignore[no-any-return]


ProbesDep = Annotated[IceProbes, Depends(_probes)]
Size = Annotated[int, Query(ge=1, le=MAX_PROBE_BYTES)]


def _download(size: int) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        left = size
        while left > 0:
            chunk = _CHUNK[: min(left, len(_CHUNK))]
            left -= len(chunk)
            yield chunk

    return StreamingResponse(
        body(),
        media_type="application/octet-stream",
        headers={"Cache-Control": "no-store, no-transform", "Content-Length": str(size)},
    )


async def _upload(request: Request) -> UploadOut:
    started = time.monotonic()
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > MAX_PROBE_BYTES:
            raise TooLarge(f"a bandwidth probe sends at most {MAX_PROBE_BYTES} bytes")
    return UploadOut(bytes=received, seconds=time.monotonic() - started)


# ---------------------------------------------------------------- classroom PCs


@device_router.get("/network")
async def device_network(svc: ServicesDep, credential: DeviceDep) -> NetworkOut:
    """TURN servers with fresh credentials, and the hub's media addresses and ports."""
    return _network(svc, f"classroom-{credential.classroom_id}")


@device_router.post("/ice-probe")
async def device_ice_probe(body: ProbeIn, probes: ProbesDep, credential: DeviceDep) -> ProbeOut:
    """Answer a one-data-channel offer on the hub's media ports (closed within 20 s)."""
    return ProbeOut(sdp=await probes.answer(body.sdp))


@device_router.get("/bandwidth")
async def device_download(size: Size, credential: DeviceDep) -> StreamingResponse:
    """``size`` incompressible bytes, for a download speed test."""
    return _download(size)


@device_router.post("/bandwidth")
async def device_upload(request: Request, credential: DeviceDep) -> UploadOut:
    """Swallow the request body (at most 16 MiB) and say how long it took to arrive."""
    return await _upload(request)


@device_router.post("/connection-check", status_code=201)
async def device_connection_check(
    body: ConnectionCheckIn, svc: ServicesDep, credential: DeviceDep
) -> ConnectionCheckOut:
    """Store this PC's `classroom-agent doctor` result for its classroom's admins."""
    row = await svc.catalog.add_connection_check(
        credential.classroom_id,
        credential.id,
        body.ok,
        body.summary,
        json.dumps({"lines": [x.model_dump() for x in body.lines], "agent": body.agent}),
    )
    return _check_out(row)


# ---------------------------------------------------------------- the lecturer page


@token_router.get("/ice-servers")
async def network_ice_servers(svc: ServicesDep, who: CallerDep) -> NetworkOut:
    """TURN servers with fresh credentials, for the page's own connection check."""
    name = who.grant.sub if who.grant is not None else "admin"
    return _network(svc, name)


@token_router.post("/ice-probe")
async def network_ice_probe(body: ProbeIn, probes: ProbesDep, who: CallerDep) -> ProbeOut:
    """Answer a one-data-channel offer on the hub's media ports (closed within 20 s)."""
    return ProbeOut(sdp=await probes.answer(body.sdp))


@token_router.get("/bandwidth")
async def network_download(size: Size, who: CallerDep) -> StreamingResponse:
    """``size`` incompressible bytes, for a download speed test."""
    return _download(size)


@token_router.post("/bandwidth")
async def network_upload(request: Request, who: CallerDep) -> UploadOut:
    """Swallow the request body (at most 16 MiB) and say how long it took to arrive."""
    return await _upload(request)


# ---------------------------------------------------------------- admins


def _check_out(row: ConnectionCheck) -> ConnectionCheckOut:
    stored = json.loads(row.report or "{}")
    return ConnectionCheckOut(
        id=row.id,
        classroom_id=row.classroom_id,
        checked_at=row.checked_at,
        ok=row.ok,
        summary=row.summary,
        lines=[CheckLine.model_validate(x) for x in stored.get("lines", [])],
        agent=str(stored.get("agent", "")),
    )


@admin_router.get("/classrooms/{classroom_id}/connection-checks", dependencies=[Admins])
async def classroom_connection_checks(
    classroom_id: IdPath,
    svc: ServicesDep,
    who: CallerDep,
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
) -> list[ConnectionCheckOut]:
    """The classroom PCs' latest connection checks (`classroom-agent doctor`), newest first."""
    await classroom_access(svc, who, classroom_id, read=False)
    return [_check_out(r) for r in await svc.catalog.connection_checks(classroom_id, limit)]
