"""`streamhub serve --demo`: a ready-to-try lesson on a fresh machine.

Creates (once per data folder) a demo school, a classroom and a lesson that is live now, and
returns fresh links: the lecturer page and the command that joins a classroom agent. The ids
are kept in ``<data_dir>/demo.json`` so restarts reuse them."""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from streamhub.api.lessons import lecturer_link_for
from streamhub.catalog.models import utcnow
from streamhub.errors import NotFound
from streamhub.services import Services


@dataclass(frozen=True)
class DemoLinks:
    lesson_code: str
    lecturer_url: str
    agent_command: str
    classroom_url: str


def _agent_executable() -> str:
    candidate = Path(sys.executable).parent / "classroom-agent"
    return str(candidate) if candidate.exists() else "classroom-agent"


def _agent_install() -> str:
    """The step that installs what the agent needs (window, sound, echo canceller), quick when
    it is there already: from a checkout `make agent`, else pip with the `agent` extra."""
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "Makefile").is_file() and (checkout / "pyproject.toml").is_file():
        return f"make -C {shlex.quote(str(checkout))} agent"
    pip = Path(sys.executable).parent / "pip"
    return f"{shlex.quote(str(pip))} install 'streamhub[agent]'"


async def seed_demo(svc: Services) -> DemoLinks:
    catalog = svc.catalog
    state_path = svc.settings.data_dir / "demo.json"
    state: dict[str, int] = {}
    if state_path.exists():
        state = json.loads(state_path.read_text(encoding="utf-8"))
    try:
        classroom = await catalog.get_classroom(state["classroom_id"])
    except (KeyError, NotFound):
        school = await catalog.create_school("Demo County School", "Demo region")
        classroom = await catalog.create_classroom(school.id, "Demo classroom 1", "Demo region")
    try:
        lesson = await catalog.get_lesson(state["lesson_id"])
        if lesson.status == "ended":
            raise NotFound("the demo lesson ended")
    except (KeyError, NotFound):
        now = utcnow()
        lesson = await catalog.create_lesson(
            title="Demo lesson: fractions",
            subject="Mathematics",
            lecturer_name="Demo lecturer",
            scheduled_start=now,
            scheduled_end=now + timedelta(hours=8),
            classroom_ids=[classroom.id],
        )
    if lesson.status == "scheduled":
        lesson = await catalog.set_lesson_status(lesson.id, "live")
        await svc.lessons.start_lesson(catalog.info(lesson))
    # A credential is shown once: the previous demo one is revoked and a new one issued.
    if "credential_id" in state:
        try:
            await catalog.revoke_credential(state["credential_id"])
        except NotFound:
            pass
    issued = await catalog.issue_credential(classroom.id, "demo")
    state = {"classroom_id": classroom.id, "lesson_id": lesson.id, "credential_id": issued.id}
    state_path.write_text(json.dumps(state), encoding="utf-8")
    state_path.chmod(0o600)

    lecturer = await lecturer_link_for(svc, lesson)
    base = svc.settings.effective_public_url
    agent = shlex.quote(_agent_executable())
    # Absolute: the command is pasted into a terminal in any folder.
    agent_config = shlex.quote(str((svc.settings.data_dir / "demo-agent.json").resolve()))
    return DemoLinks(
        lesson_code=lesson.join_code,
        lecturer_url=lecturer.url,
        agent_command=(
            f"{_agent_install()}"
            f" && {agent} --config {agent_config} enroll --hub {base} --credential {issued.secret}"
            f" && {agent} --config {agent_config} run"
        ),
        classroom_url=f"{base}/classroom/{lesson.join_code}#credential={issued.secret}",
    )
