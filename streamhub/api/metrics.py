"""Prometheus metrics of this hub node (``GET /metrics``; definitions in streamhub.metrics).

Unauthenticated, like /healthz: expose it on the internal network only (scraper, not browsers).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from streamhub.api.auth import ServicesDep

router = APIRouter(tags=["operations"])


# An async route on purpose: the live collector reads the rooms in the event loop's thread.
@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, svc: ServicesDep) -> Response:
    body, content_type = svc.metrics.render(request.headers.get("accept"))
    return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})
