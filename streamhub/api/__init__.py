"""The HTTP API (FastAPI; OpenAPI at /docs). One module per resource."""

from __future__ import annotations

from fastapi import APIRouter

from streamhub.api import (
    accounts,
    archive,
    calendar,
    capsules,
    device,
    feed,
    fleet,
    health,
    lessons,
    metrics,
    network,
    recordings,
    replay,
    reports,
    roster,
    rtmp,
    schools,
    session,
    timetable,
    tokens,
    vocabulary,
    whip,
)


def build_router() -> APIRouter:
    router = APIRouter()
    for module in (
        health,
        session,
        accounts,
        schools,
        lessons,
        roster,
        tokens,
        device,
        recordings,
        capsules,
        replay,
        reports,
        metrics,
        fleet,
        feed,
        whip,
        rtmp,
        timetable,
        calendar,
        vocabulary,
        archive,
    ):
        router.include_router(module.router)
    for extra in (network.device_router, network.token_router, network.admin_router):
        router.include_router(extra)
    return router
