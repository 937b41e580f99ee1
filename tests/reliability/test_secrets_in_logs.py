"""No secret ever reaches the hub's log: admin key, access tokens, device credentials, tickets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from streamhub.client import ClientError, LessonClient
from streamhub.protocol import Slot
from tests.recorder.conftest import wait_recording
from tests.support.hub import ADMIN_KEY, JWT_SECRET, AdminApi, HubProcess
from tests.support.lecturer import lecturer_teaching


async def test_tokens_and_credentials_never_appear_in_the_log(tmp_path: Path) -> None:
    hub = HubProcess(
        tmp_path / "hub",
        extra_env={"STREAMHUB_LOG_LEVEL": "DEBUG", "STREAMHUB_RECORDER__THUMBNAIL_EVERY_S": "2"},
    )
    await asyncio.to_thread(hub.start)
    admin = AdminApi(hub.url)
    secrets: list[str] = [ADMIN_KEY, JWT_SECRET]
    try:
        lesson = await admin.lesson(classrooms=2)
        secrets += [lesson.lecturer_token, *lesson.credentials]
        lecturer = await lecturer_teaching(hub.url, lesson.lecturer_token, 160, 120)
        token = await admin.device_token(lesson.credentials[0])
        secrets.append(token)
        classroom = LessonClient(hub.url, token)
        await classroom.connect({})
        await asyncio.wait_for(classroom.tracks[Slot.LECTURER_VIDEO].recv(), 5)
        # Failures are logged too: a revoked credential, a tampered token.
        listing = await admin.http.get(
            f"/api/classrooms/{lesson.classroom_ids[1]}/device-credentials"
        )
        await admin.http.delete(f"/api/device-credentials/{listing.json()[0]['id']}")
        async with httpx.AsyncClient(base_url=hub.url) as anon:
            refused = await anon.post(
                "/api/device/token",
                json={"lesson_code": None},
                headers={"Authorization": f"Bearer {lesson.credentials[1]}"},
            )
            assert refused.status_code == 401
        tampered = token[:-4] + "AAAA"
        try:
            await LessonClient(hub.url, tampered).connect({})
        except ClientError as exc:
            assert exc.code == "token_invalid"
        secrets.append(tampered)
        await asyncio.sleep(3)
        await admin.post(f"/api/lessons/{lesson.lesson_id}/end")
        await classroom.close()
        await lecturer.close()
        recording = await wait_recording(admin.http, lesson.lesson_id)
        ticket = recording["media_url"].split("ticket=")[1]
        secrets.append(ticket)
        async with httpx.AsyncClient(base_url=hub.url) as anon:
            assert (await anon.get(recording["media_url"])).status_code == 200
    finally:
        await admin.close()
        await asyncio.to_thread(hub.stop)
    assert hub.log_path is not None
    log = hub.log_path.read_text(errors="replace")
    assert "lesson live" in log, "the log is being written"
    leaked = [s[:12] + "…" for s in secrets if s in log]
    print(f"secrets checked against {len(log.splitlines())} log lines: {len(secrets)}")
    assert leaked == []
