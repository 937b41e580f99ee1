"""The HTTP API (FastAPI; OpenAPI at /docs). One module per resource."""

from __future__ import annotations

from fastapi import APIRouter

from streamhub.api import device, health, lessons, metrics, recordings, schools, tokens


def build_router() -> APIRouter:
    router = APIRouter()
    for module in (health, schools, lessons, tokens, device, recordings, metrics):
        router.include_router(module.router)
    return router
