"""The hub's ASGI application: create_app(settings) builds everything, no import-time globals."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from recorder.service import RecorderService
from streamhub.api import build_router
from streamhub.api.problems import install_problem_handlers
from streamhub.auth.secrets import load_secrets
from streamhub.auth.tokens import TokenIssuer
from streamhub.catalog.store import Catalog
from streamhub.config import Settings
from streamhub.lesson.registry import LessonRegistry
from streamhub.live import open_live_state
from streamhub.metrics import HubMetrics
from streamhub.services import Services
from streamhub.signaling.route import build_signaling_router
from streamhub.web import mount_web

logger = logging.getLogger(__name__)


def create_app(
    settings: Settings, on_ready: Callable[[Services], Awaitable[None]] | None = None
) -> FastAPI:
    """The hub; ``on_ready`` runs once everything is started (the CLI prints links there)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.effective_recordings_dir.mkdir(parents=True, exist_ok=True)
        secrets = load_secrets(settings)
        tokens = TokenIssuer(secrets.jwt_secret, settings.auth.access_token_ttl_s)
        catalog = await Catalog.open(settings)
        metrics = HubMetrics(settings.node_id)
        live = open_live_state(settings, settings.effective_node_url)
        lessons = LessonRegistry(settings, catalog, tokens, metrics, live)
        metrics.watch_rooms(lambda: lessons.rooms.values())
        metrics.watch_overload(
            lambda: lessons.overload.lag.typical_s, lambda: len(lessons.overload.shed)
        )
        services = Services(settings, secrets, tokens, catalog, lessons, metrics)
        app.state.services = services
        await lessons.start()
        recorder = RecorderService(settings, catalog, tokens, lessons)
        app.state.recorder = recorder
        await recorder.start()
        if on_ready is not None:
            await on_ready(services)
        logger.info("hub ready at %s", settings.effective_public_url)
        try:
            yield
        finally:
            await recorder.close()
            await lessons.close()
            await catalog.close()

    app = FastAPI(
        title="StreamHub",
        version="0.1.0",
        summary="Live dual-teacher classroom streaming hub",
        lifespan=lifespan,
        docs_url="/docs",
    )
    install_problem_handlers(app)
    app.include_router(build_router())
    app.include_router(build_signaling_router())
    mount_web(app, Path(__file__).resolve().parent.parent / "web")
    return app
