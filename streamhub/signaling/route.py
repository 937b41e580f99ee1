"""The `/ws` endpoint, with the Origin check that CORS middleware does not do for WebSockets."""

from __future__ import annotations

import logging

from fastapi import APIRouter, WebSocket

from streamhub.http.cors import allowed_origins
from streamhub.protocol import CLOSE_CODES, ErrorCode
from streamhub.services import Services
from streamhub.signaling.connection import Connection

logger = logging.getLogger(__name__)


def origin_allowed(origin: str | None, services: Services) -> bool:
    # Native clients (agent, recorder) send no Origin; browsers always do.
    if origin is None:
        return True
    return origin in allowed_origins(services.settings)


def build_signaling_router() -> APIRouter:
    router = APIRouter()

    @router.websocket("/ws")
    async def signaling(websocket: WebSocket) -> None:
        services: Services = websocket.app.state.services
        origin = websocket.headers.get("origin")
        if not origin_allowed(origin, services):
            logger.warning("refused WebSocket from origin %s", origin[:100] if origin else None)
            await websocket.close(
                code=CLOSE_CODES[ErrorCode.FORBIDDEN], reason="origin not allowed"
            )
            return
        await Connection(websocket, services).run()

    return router
