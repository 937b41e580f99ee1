from __future__ import annotations

import os
import sys
from pathlib import Path

from classroom_agent.agent import AgentOptions
from classroom_agent.media_sources import SourceSpec
from classroom_agent.session import SessionOptions
from tests.support.hub import AdminApi

ROOT = Path(__file__).resolve().parents[2]


SYNTHETIC = ("--video-source", "testpattern", "--audio-source", "tone")
HEADLESS = ("--display", "none", "--audio-output", "none")


def fast_options(**overrides: object) -> AgentOptions:
    """Synthetic media, headless, quick polling and short timers."""
    options = AgentOptions(
        video_source=SourceSpec("testpattern"),
        audio_source=SourceSpec("tone"),
        display="none",
        audio_output="none",
        poll_interval_s=0.3,
        session=SessionOptions(stats_interval_s=1.0, sample_interval_s=0.5),
    )
    for key, value in overrides.items():
        setattr(options, key, value)
    return options


def agent_command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "classroom_agent", "--config", str(config), *args]


def agent_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


async def revoke(admin: AdminApi, classroom_id: int) -> None:
    listing = await admin.http.get(f"/api/classrooms/{classroom_id}/device-credentials")
    for row in listing.json():
        response = await admin.http.delete(f"/api/device-credentials/{row['id']}")
        assert response.status_code == 200, response.text
