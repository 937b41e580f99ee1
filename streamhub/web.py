"""Serves the pages in web/ (plain HTML, CSS and JavaScript modules; nothing to build)."""

from __future__ import annotations

from pathlib import Path

import swagger_ui
from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

PAGES = {"lesson": "lesson.html", "classroom": "classroom.html"}


def mount_web(app: FastAPI, root: Path) -> None:
    if not root.is_dir():
        return

    @app.get("/", include_in_schema=False)
    async def index() -> RedirectResponse:
        return RedirectResponse("/library")

    @app.get("/lesson/{code}", include_in_schema=False)
    async def lecturer_page(code: str) -> FileResponse:
        return FileResponse(root / "lesson.html")

    @app.get("/classroom/{code}", include_in_schema=False)
    async def classroom_page(code: str) -> FileResponse:
        return FileResponse(root / "classroom.html")

    @app.get("/library", include_in_schema=False)
    async def library_page() -> FileResponse:
        return FileResponse(root / "library.html")

    @app.get("/capsules", include_in_schema=False)
    async def capsule_shelf_page() -> FileResponse:
        return FileResponse(root / "capsules.html")

    @app.get("/admin", include_in_schema=False)
    async def admin_page() -> FileResponse:
        return FileResponse(root / "admin.html")

    @app.get("/docs", include_in_schema=False)
    async def api_docs() -> FileResponse:
        return FileResponse(root / "docs.html")

    assets = Path(swagger_ui.__file__).resolve().parent / "static"
    app.mount("/docs/assets", StaticFiles(directory=assets), name="docs-assets")
    app.mount("/static", StaticFiles(directory=root), name="static")
