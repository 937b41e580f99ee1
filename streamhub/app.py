"""The hub's ASGI application: create_app(settings) builds everything, no import-time globals."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from starlette.types import ASGIApp, Scope

from streamhub.access_log import AccessLog
from streamhub.api import build_router
from streamhub.api.archive import RetentionJob
from streamhub.api.network import BANDWIDTH_PROBE_PATHS, MAX_PROBE_BYTES
from streamhub.api.problems import install_problem_handlers
from streamhub.api.session import SIGN_IN_MAX_BYTES, SIGN_IN_PATHS
from streamhub.api.timetable import IMPORT_PATH
from streamhub.auth.secrets import load_secrets
from streamhub.auth.tokens import TokenIssuer
from streamhub.catalog.store import Catalog
from streamhub.config import Settings
from streamhub.feed.events import Feed
from streamhub.http.body import BodyGuard, check_bearer
from streamhub.http.cors import WhipCors
from streamhub.http.headers import SecurityHeaders, content_security_policy
from streamhub.https import install_https_redirect
from streamhub.lesson.extension import LessonExtension
from streamhub.lesson.registry import LessonRegistry
from streamhub.live import open_live_state
from streamhub.media import aiortc_hooks
from streamhub.media.probe import IceProbes
from streamhub.media.turn_check import check_turn_servers
from streamhub.metrics import HubMetrics
from streamhub.rtmp.bridge import RtmpBridge
from streamhub.services import Services
from streamhub.signaling.route import build_signaling_router
from streamhub.signaling.whip import WhipSessions
from streamhub.timetable.sheets import MAX_FILE_BYTES
from streamhub.web import mount_web

logger = logging.getLogger(__name__)

# A plug-in (the recorder: ``recorder.plugin``) made from the hub's services once they run.
ExtensionFactory = Callable[[Services], LessonExtension]


class HubApp(FastAPI):
    """FastAPI with middleware *outside* its error handling: the security headers reach even a
    500 page, and the body guard refuses before any of FastAPI's machinery runs."""

    outer: list[Callable[[ASGIApp], ASGIApp]]

    def build_middleware_stack(self) -> ASGIApp:
        app = super().build_middleware_stack()
        for wrap in getattr(self, "outer", []):
            app = wrap(app)
        return app


def create_app(
    settings: Settings,
    on_ready: Callable[[Services], Awaitable[None]] | None = None,
    extensions: Sequence[ExtensionFactory] = (),
) -> FastAPI:
    """The hub; ``on_ready`` runs once everything is started (the CLI prints links there).
    ``extensions`` are its plug-ins, composed by the caller (``streamhub serve`` records)."""

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
        lessons.on_member_left.append(services.presence.member_left)
        lessons.on_lesson_ended.append(services.presence.lesson_ended)
        services.capsule_cuts = asyncio.Semaphore(settings.capsules.cuts_at_once)
        services.access_log = AccessLog(
            catalog, settings.archive.access_log_queue, settings.archive.access_log_batch
        )
        services.access_log.start()
        retention = RetentionJob(services)
        retention.start()
        app.state.services = services
        # The hub's media settings hold for its life: a client in this process that asked for
        # other host addresses would raise instead of moving the hub's.
        hooks = aiortc_hooks.install(settings.ice.addresses, udp_port_range=settings.ice.port_range)
        services.feed = Feed(settings, catalog, lessons)
        services.feed.start()
        await lessons.start()
        services.whip = WhipSessions(services)
        if settings.rtmp.enabled:
            services.rtmp = RtmpBridge(services)
            await services.rtmp.start()
        plugins = await _start_extensions(extensions, services)
        app.state.extensions = plugins
        app.state.ice_probes = IceProbes(settings.ice)
        turn_check = asyncio.get_running_loop().create_task(
            check_turn_servers(settings), name="turn-check"
        )
        if on_ready is not None:
            await on_ready(services)
        logger.info("hub ready at %s", settings.effective_public_url)
        try:
            yield
        finally:
            turn_check.cancel()
            await asyncio.gather(turn_check, return_exceptions=True)
            await retention.close()
            await app.state.ice_probes.close()
            if services.rtmp is not None:
                await services.rtmp.close()
            await services.whip.close()
            for plugin in reversed(plugins):
                await plugin.close()
            await lessons.close()
            await services.feed.close()
            await services.access_log.close()
            await catalog.close()
            hooks.release()

    def authenticate(scope: Scope, token: str) -> None:
        services: Services = app.state.services
        # A lesson grant or a person's session (the routes check which one they take).
        check_bearer(token, str(scope["path"]), services.secrets.admin_key, services.tokens.read)

    app = HubApp(
        title="StreamHub",
        version="0.1.0",
        summary="Live dual-teacher classroom streaming hub",
        lifespan=lifespan,
        # /docs is served from web/docs.html with Swagger UI's own files (streamhub/web.py):
        # FastAPI's page loads them from a CDN with an inline script, which the CSP forbids.
        docs_url=None,
        redoc_url=None,
    )
    http = settings.http
    app.outer = [
        lambda inner: BodyGuard(
            inner,
            http.max_body_bytes,
            http.body_timeout_s,
            authenticate,
            path_limits={
                **{path: MAX_PROBE_BYTES for path in BANDWIDTH_PROBE_PATHS},
                IMPORT_PATH: MAX_FILE_BYTES,  # a timetable file
            },
            # Signing in: a login and a password, or a link's secret.
            anonymous_paths={path: SIGN_IN_MAX_BYTES for path in SIGN_IN_PATHS},
        ),
        # Outside the body guard: its refusals reach a browser WHIP client readable.
        lambda inner: WhipCors(inner, settings),
        lambda inner: SecurityHeaders(
            inner, content_security_policy(settings.signaling.allowed_origins)
        ),
    ]
    install_problem_handlers(app)
    install_https_redirect(app, settings)
    app.include_router(build_router())
    app.include_router(build_signaling_router())
    mount_web(app, Path(__file__).resolve().parent.parent / "web")
    return app


async def _start_extensions(
    factories: Sequence[ExtensionFactory], services: Services
) -> list[LessonExtension]:
    lessons = services.lessons
    plugins = []
    for factory in factories:
        plugin = factory(services)
        lessons.on_lesson_started.append(plugin.lesson_started)
        lessons.on_lesson_ended.append(plugin.lesson_ended)
        lessons.on_lesson_ended_elsewhere.append(plugin.lesson_ended_elsewhere)
        await plugin.start()
        plugins.append(plugin)
    return plugins
