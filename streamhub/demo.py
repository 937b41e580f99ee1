"""`streamhub serve --demo`: a ready-to-try lesson on a fresh machine.

Creates (once per data folder) a demo school with two classrooms, one for a classroom agent and
one for a browser classroom, each with its own device credential (one credential in two places
would have each join push the other out), and a lesson that invites both and is live now.

What it made is kept in ``<data_dir>/demo.json`` (readable by its owner only: it holds the two
credentials), so a restart reuses the classrooms and their credentials: an agent enrolled
earlier keeps working. ``reset`` revokes them and issues new ones. A demo lesson that has ended
is followed by a new one at the next start."""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from streamhub.api.lessons import lecturer_link_for
from streamhub.catalog.models import Classroom, Grade, Lesson, Subject, utcnow
from streamhub.errors import NotFound, Unauthorized
from streamhub.services import Services

logger = logging.getLogger(__name__)

STATE_FILE = "demo.json"
# The two classrooms: the key in the state file, the classroom's name, the credential's label.
AGENT = ("agent", "Demo classroom 1 (agent)", "demo agent")
BROWSER = ("browser", "Demo classroom 2 (browser)", "demo browser classroom")


@dataclass(frozen=True)
class DemoClassroom:
    name: str
    credential: str
    # Issued at this start (the first one, or --demo-reset), rather than kept from before.
    new: bool


@dataclass(frozen=True)
class DemoLinks:
    lesson_id: int
    lesson_code: str
    lesson_title: str
    lecturer_url: str
    agent_command: str
    classroom_url: str
    agent_classroom: DemoClassroom
    browser_classroom: DemoClassroom
    state_file: Path


def _agent_executable() -> str:
    candidate = Path(sys.executable).parent / "classroom-agent"
    return str(candidate) if candidate.exists() else "classroom-agent"


def _agent_install() -> str:
    """The step that installs what the agent needs (window, sound, echo canceller), quick when
    it is there already: from a checkout `make agent`, else pip with the `agent` extra."""
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "Makefile").is_file() and (checkout / "pyproject.toml").is_file():
        return f"make -s -C {shlex.quote(str(checkout))} agent"
    pip = Path(sys.executable).parent / "pip"
    return f"{shlex.quote(str(pip))} install 'streamhub[agent]'"


def _read_state(path: Path) -> dict[str, Any]:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        logger.warning("demo: %s is unreadable; making a new demo", path)
        return {}
    if not isinstance(state, dict):
        return {}
    if "classroom_id" in state and "classrooms" not in state:
        # The one-classroom demo of earlier versions: its classroom becomes the agent's; its
        # credential was never stored, so it is revoked and a new one issued.
        state["classrooms"] = {
            AGENT[0]: {
                "id": state.pop("classroom_id"),
                "credential_id": state.pop("credential_id", None),
            }
        }
    return state


def _write_state(path: Path, state: dict[str, Any]) -> None:
    """Written whole and owner-only from the first byte: it holds two credentials."""
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(state, out, indent=1)
    temporary.chmod(0o600)
    os.replace(temporary, path)


async def _school_id(svc: Services, state: dict[str, Any]) -> int:
    catalog = svc.catalog
    for entry in state.get("classrooms", {}).values():
        try:
            return (await catalog.get_classroom(int(entry["id"]))).school_id
        except (KeyError, TypeError, ValueError, NotFound):
            continue
    try:
        return (await catalog.get_school(int(state["school_id"]))).id
    except (KeyError, TypeError, ValueError, NotFound):
        return (await catalog.create_school("Demo County School", "Demo region")).id


async def _classroom(
    svc: Services, school_id: int, entry: dict[str, Any], spec: tuple[str, str, str], reset: bool
) -> tuple[Classroom, DemoClassroom, dict[str, Any]]:
    """The demo classroom of ``spec`` and its credential: kept when still valid, else (or on
    reset) the old one revoked and a new one issued."""
    catalog = svc.catalog
    _, name, label = spec
    try:
        classroom = await catalog.get_classroom(int(entry["id"]))
    except (KeyError, TypeError, ValueError, NotFound):
        classroom = await catalog.create_classroom(school_id, name, "Demo region")
        entry = {}
    secret = entry.get("credential")
    if not reset and isinstance(secret, str):
        try:
            row = await catalog.verify_credential(secret)
        except Unauthorized:
            pass
        else:
            if row.classroom_id == classroom.id:
                kept = DemoClassroom(classroom.name, secret, new=False)
                return classroom, kept, entry
    if isinstance(entry.get("credential_id"), int):
        try:
            await catalog.revoke_credential(entry["credential_id"])
        except NotFound:
            pass
    issued = await catalog.issue_credential(classroom.id, label)
    entry = {"id": classroom.id, "credential_id": issued.id, "credential": issued.secret}
    return classroom, DemoClassroom(classroom.name, issued.secret, new=True), entry


async def _demo_subject(svc: Services) -> Subject | Grade:
    """The demo's subject, from the county's list (added the first time)."""
    for row in await svc.catalog.vocabulary("subject"):
        if row.name == "Mathematics":
            return row
    return await svc.catalog.add_vocabulary("subject", "Mathematics")


async def _lesson(svc: Services, lesson_id: object, classroom_ids: list[int]) -> Lesson:
    """The demo lesson, live and inviting both classrooms; a new one if it ended."""
    catalog = svc.catalog
    lesson: Lesson | None = None
    if isinstance(lesson_id, int):
        try:
            lesson = await catalog.get_lesson(lesson_id)
        except NotFound:
            lesson = None
    if lesson is None or lesson.status == "ended":
        now = utcnow()
        subject = await _demo_subject(svc)
        lesson = await catalog.create_lesson(
            title="Demo lesson: fractions",
            subject=subject.name,
            subject_id=subject.id,
            lecturer_name="Demo lecturer",
            scheduled_start=now,
            scheduled_end=now + timedelta(hours=8),
            classroom_ids=classroom_ids,
        )
    elif sorted(c.id for c in lesson.classrooms) != sorted(classroom_ids):
        lesson = await catalog.update_lesson(lesson.id, {"classroom_ids": classroom_ids})
    if lesson.status == "scheduled":
        lesson = await catalog.set_lesson_status(lesson.id, "live")
        # Claimed like any lesson going live: with several workers, the one that claims holds it.
        await svc.lessons.go_live(catalog.info(lesson))
    return lesson


async def seed_demo(svc: Services, reset: bool = False) -> DemoLinks:
    state_path = (svc.settings.data_dir / STATE_FILE).resolve()
    state = _read_state(state_path)
    school_id = await _school_id(svc, state)
    entries = state.get("classrooms", {})
    rooms: dict[str, tuple[Classroom, DemoClassroom, dict[str, Any]]] = {}
    for spec in (AGENT, BROWSER):
        rooms[spec[0]] = await _classroom(svc, school_id, entries.get(spec[0], {}), spec, reset)
    classroom_ids = [room[0].id for room in rooms.values()]
    lesson = await _lesson(svc, state.get("lesson_id"), classroom_ids)
    _write_state(
        state_path,
        {
            "school_id": school_id,
            "lesson_id": lesson.id,
            "classrooms": {key: room[2] for key, room in rooms.items()},
        },
    )

    lecturer = await lecturer_link_for(svc, lesson)
    base = svc.settings.effective_public_url
    agent = shlex.quote(_agent_executable())
    # Absolute: the command is pasted into a terminal in any folder.
    agent_config = shlex.quote(str((svc.settings.data_dir / "demo-agent.json").resolve()))
    agent_room = rooms[AGENT[0]][1]
    browser_room = rooms[BROWSER[0]][1]
    return DemoLinks(
        lesson_id=lesson.id,
        lesson_code=lesson.join_code,
        lesson_title=lesson.title,
        lecturer_url=lecturer.url,
        agent_command=(
            f"{_agent_install()}"
            f" && {agent} --config {agent_config} enroll --hub {base}"
            f" --credential {agent_room.credential}"
            f" && {agent} --config {agent_config} run"
        ),
        classroom_url=f"{base}/classroom/{lesson.join_code}#credential={browser_room.credential}",
        agent_classroom=agent_room,
        browser_classroom=browser_room,
        state_file=state_path,
    )
