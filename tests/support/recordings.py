"""A lesson's recording as the API lists it, and waiting for it to reach a state."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from streamhub.client import LessonClient
from streamhub.protocol import RecordingChanged


async def recording_of(http: httpx.AsyncClient, lesson_id: int) -> dict[str, Any] | None:
    page = (await http.get("/api/recordings", params={"limit": 200})).json()
    return next((r for r in page["items"] if r["lesson_id"] == lesson_id), None)


async def wait_recording(
    http: httpx.AsyncClient,
    lesson_id: int,
    state: str = "ready",
    timeout: float = 60.0,
    note: str = "",
) -> dict[str, Any]:
    """The lesson's recording once it reaches ``state`` (with ``note`` in its note); failing
    at once if it fails instead."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await recording_of(http, lesson_id)
        if last is not None:
            if last["state"] == state and note in last["note"]:
                return last
            assert last["state"] != "failed", last
        await asyncio.sleep(0.3)
    raise AssertionError(f"recording not {state} within {timeout}s: {last}")


async def recording_stopped(lecturer: LessonClient, timeout: float = 60.0) -> RecordingChanged:
    """The next `recording_changed` that tells the lesson recording stopped."""
    changed = await lecturer.next_event(RecordingChanged, timeout=timeout)
    while changed.recording:
        changed = await lecturer.next_event(RecordingChanged, timeout=timeout)
    return changed
