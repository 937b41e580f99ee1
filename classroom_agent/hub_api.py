"""The hub's HTTP API for classroom PCs: the timetable and the token exchange."""

from __future__ import annotations

import logging
import platform
import ssl
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from classroom_agent.errors import CredentialRevoked, HubUnavailable, NoLiveLesson
from streamhub import __version__
from streamhub.protocol import DeviceHealth

logger = logging.getLogger(__name__)


def user_agent() -> str:
    """What the admins' fleet board shows of this PC: the agent's version and the system."""
    system = f"{platform.system()} {platform.release()}".strip() or "unknown system"
    return f"classroom-agent/{__version__} ({system}; Python {platform.python_version()})"


@dataclass(frozen=True)
class LessonInfo:
    id: int
    title: str
    status: str
    join_code: str
    scheduled_start: datetime
    lecturer_name: str = ""

    @property
    def live(self) -> bool:
        return self.status == "live"


@dataclass(frozen=True)
class LessonToken:
    token: str
    lesson_id: int
    lesson_code: str
    lesson_title: str


class DeviceApi:
    """``/api/device/*`` with the device credential; typed errors for every failure."""

    def __init__(
        self,
        hub_url: str,
        credential: str,
        timeout_s: float = 5.0,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.http = httpx.AsyncClient(
            base_url=hub_url,
            headers={"Authorization": f"Bearer {credential}", "User-Agent": user_agent()},
            timeout=timeout_s,
            verify=verify,
        )
        self.requests = 0

    async def close(self) -> None:
        await self.http.aclose()

    async def lessons(self, devices: DeviceHealth | None = None) -> list[LessonInfo]:
        """This classroom's live and upcoming lessons, live first, then soonest first. The
        devices ride along: the lecturer's roster shows a room without camera before the
        lesson starts."""
        params = devices.model_dump() if devices is not None else None
        body = await self._call("GET", "/api/device/lessons", params=params)
        return [
            LessonInfo(
                id=int(x["id"]),
                title=str(x["title"]),
                status=str(x["status"]),
                join_code=str(x["join_code"]),
                scheduled_start=datetime.fromisoformat(x["scheduled_start"]),
                lecturer_name=str(x.get("lecturer_name") or ""),
            )
            for x in body.get("lessons", [])
        ]

    async def token(self, lesson_code: str | None) -> LessonToken:
        body = await self._call("POST", "/api/device/token", json={"lesson_code": lesson_code})
        return LessonToken(
            token=str(body["token"]),
            lesson_id=int(body["lesson_id"]),
            lesson_code=str(body["lesson_code"]),
            lesson_title=str(body["lesson_title"]),
        )

    async def _call(
        self, method: str, path: str, json: Any = None, params: dict[str, str] | None = None
    ) -> Any:
        self.requests += 1
        try:
            response = await self.http.request(method, path, json=json, params=params)
        except httpx.HTTPError as exc:
            raise HubUnavailable(f"{method} {path}: {exc!r}") from exc
        if response.status_code < 300:
            try:
                return response.json()
            except ValueError as exc:
                # A school network's captive portal or a proxy's page answers 200 with HTML:
                # that is no hub, and the agent waits for the real one as for any outage.
                kind = response.headers.get("content-type", "?")[:60]
                raise HubUnavailable(f"{method} {path}: not the hub's answer ({kind})") from exc
        code, detail = _problem(response)
        if response.status_code == 401:
            raise CredentialRevoked(f"the hub refused the device credential ({code}): {detail}")
        if response.status_code in (404, 409) and code in (
            "no_live_lesson",
            "lesson_not_live",
            "not_found",
        ):
            raise NoLiveLesson(detail)
        if response.status_code >= 500 or response.status_code == 429:
            raise HubUnavailable(f"{method} {path}: {response.status_code} {code}")
        # 403 not_invited, 422 and the like: the same request would fail again; treat as
        # "no lesson for us" so the caller waits instead of looping on it.
        raise NoLiveLesson(f"{response.status_code} {code}: {detail}")


def _problem(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "unknown", response.text[:200]
    if not isinstance(body, dict):
        return "unknown", str(body)[:200]
    return str(body.get("code", "unknown")), str(body.get("detail") or body.get("title") or "")
