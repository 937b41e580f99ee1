"""Liveness (the process answers) and readiness (its dependencies answer)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from streamhub.api.auth import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(svc: ServicesDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        await svc.catalog.ping()
        checks["catalog"] = "ok"
    except Exception as exc:  # any failure means not ready; the reason is reported
        checks["catalog"] = f"failed: {type(exc).__name__}"
    if svc.settings.redis_url:
        try:
            await svc.lessons.live.ping()
            checks["live_state"] = "ok"
        except Exception as exc:  # live lessons go on; new ones cannot be placed
            checks["live_state"] = f"failed: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    body = {"status": "ready" if ready else "not_ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)
