"""Enroll, run: the agent joins a lesson when it goes live, records it, leaves when it ends."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av

from classroom_agent.status import read_status, state_path
from streamhub.client import LessonClient
from streamhub.client.synthetic import PatternVideoTrack, ToneAudioTrack
from streamhub.protocol import Slot
from tests.agent.conftest import HEADLESS, ROOT, SYNTHETIC, agent_command, agent_env
from tests.support.hub import AdminApi, InProcessHub
from tests.support.wait import eventually


def log_size(path: Path) -> int:
    return path.stat().st_size


def state(config: Path) -> str | None:
    data = read_status(state_path(config))
    return data["state"] if data else None


async def test_run_joins_live_lesson_records_it_and_leaves_when_it_ends(
    hub: InProcessHub, admin: AdminApi, tmp_path: Path
) -> None:
    lesson = await admin.lesson(classrooms=1, start=False, title="Fractions")
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    await admin.post(
        "/api/lessons",
        {
            "title": "Algebra",
            "subject": "Mathematics",
            "lecturer_name": "Ms Li",
            "scheduled_start": tomorrow.isoformat(),
            "scheduled_end": (tomorrow + timedelta(hours=1)).isoformat(),
            "classroom_ids": lesson.classroom_ids,
        },
    )
    config = tmp_path / "agent" / "agent.json"
    enroll = await asyncio.create_subprocess_exec(
        *agent_command(config, "enroll", "--hub", hub.url, "--credential", lesson.credentials[0]),
        env=agent_env(),
        cwd=ROOT,
    )
    assert await enroll.wait() == 0
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert json.loads(config.read_text())["credential"] == lesson.credentials[0]

    recording = tmp_path / "received.mkv"
    log = (tmp_path / "agent.out").open("wb")
    run = ["run", *SYNTHETIC, *HEADLESS, "--poll-interval", "0.3"]
    run += ["--record-received", str(recording)]
    agent = await asyncio.create_subprocess_exec(
        *agent_command(config, *run),
        env=agent_env(),
        cwd=ROOT,
        stdout=log,
        stderr=asyncio.subprocess.STDOUT,
    )
    lecturer = LessonClient(hub.url, lesson.lecturer_token)
    try:

        def message() -> str:
            return str((read_status(state_path(config)) or {}).get("message", ""))

        # Waiting, and showing the next lesson once its poll has found it.
        await eventually(
            lambda: state(config) == "waiting" and "next lesson: Algebra at" in message(),
            timeout=20,
        )

        await admin.post(f"/api/lessons/{lesson.lesson_id}/start")
        await lecturer.connect(
            {Slot.CAMERA: PatternVideoTrack(320, 240), Slot.MICROPHONE: ToneAudioTrack()}
        )
        await eventually(lambda: state(config) == "in_lesson", timeout=20)
        await eventually(lambda: recording.exists() and recording.stat().st_size > 30_000, 20)

        await admin.post(f"/api/lessons/{lesson.lesson_id}/end")
        # It leaves because the lesson ended; its next poll may already show the next lesson.
        await eventually(
            lambda: (
                state(config) == "waiting"
                and (message() == "lesson ended" or message().startswith("next lesson: Algebra"))
            ),
            timeout=15,
        )
    finally:
        await lecturer.close()
        if agent.returncode is None:
            agent.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(agent.wait(), 20)
        log.close()
    assert code == 0, (tmp_path / "agent.out").read_text()[-3000:]
    assert state(config) == "stopped"

    with av.open(str(recording)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        assert video.codec_context.name == "vp8"
        assert audio.codec_context.name in ("opus", "libopus")
        pictures = [f for p in container.demux(video) for f in p.decode()]
    assert len(pictures) >= 30
    assert {(f.width, f.height) for f in pictures} == {(320, 240)}
    with av.open(str(recording)) as container:
        samples = [f for p in container.demux(container.streams.audio[0]) for f in p.decode()]
    assert len(samples) >= 50
    assert log_size(config.with_name("agent.log")) > 0
    # It froze its start-up heap (streamhub.heap): the media libraries' objects among it.
    settled = re.search(r"heap settled: (\d+) objects", config.with_name("agent.log").read_text())
    assert settled is not None and int(settled.group(1)) > 50_000
