"""A county's catalog written in bulk for the benchmarks (bench/reports.py,
bench/admin_pages.py): schools, classrooms, lessons over a term with their invitations, and
for the lessons that took place the sessions (some late, some dropped and back, some left
early) and stretches in audio only a hub would have written. Seeded from a fixed number, so
two runs write the same county."""

from __future__ import annotations

import random
import secrets
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402

from streamhub.catalog.models import (  # noqa: E402
    Attendance,
    AudioOnlyInterval,
    Classroom,
    Lesson,
    School,
    lesson_invites,
)
from streamhub.catalog.store import Catalog  # noqa: E402
from streamhub.config import Settings  # noqa: E402

SUBJECTS = ("语文", "数学", "英语", "科学", "音乐", "美术")
CHUNK = 2000


@dataclass(frozen=True)
class County:
    schools: int = 80
    classrooms: int = 200
    lessons: int = 3000
    lecturers: int = 40
    invites: tuple[int, int] = (3, 8)  # classrooms per lesson
    term_start: datetime = datetime(2026, 9, 1, tzinfo=UTC)
    term_days: int = 126
    # The share of lessons that took place (ended), the rest still to come.
    held: float = 1.0
    seed: int = 16


@dataclass(frozen=True)
class Seeded:
    schools: int
    classrooms: int
    lessons: int
    invitations: int
    sessions: int
    audio_only: int


async def seed_county(settings: Settings, county: County) -> Seeded:
    """Migrate the catalog of ``settings`` and write the county into it (ids from 1: an empty
    catalog)."""
    rng = random.Random(county.seed)
    catalog = await Catalog.open(settings)
    now = datetime.now(UTC)
    schools = [
        {"id": i, "name": f"第{i}小学", "region": f"乡镇{(i - 1) % 12 + 1}", "created_at": now}
        for i in range(1, county.schools + 1)
    ]
    classrooms = [
        {
            "id": i,
            "school_id": (i - 1) % county.schools + 1,
            "name": f"{(i - 1) // county.schools + 1}年级{i}班",
            "region": "",
            "created_at": now,
            "row_key": secrets.token_hex(16),
        }
        for i in range(1, county.classrooms + 1)
    ]
    lecturers = [f"老师{i:02d}" for i in range(1, county.lecturers + 1)]
    lessons: list[dict[str, Any]] = []
    invites: list[dict[str, Any]] = []
    sessions: list[dict[str, Any]] = []
    spans: list[dict[str, Any]] = []
    held_until = int(county.lessons * county.held)
    for lesson_id in range(1, county.lessons + 1):
        day = (lesson_id - 1) * county.term_days // county.lessons
        start = county.term_start + timedelta(days=day, hours=rng.choice((0, 1, 2, 5, 6)))
        end = start + timedelta(minutes=45)
        held = lesson_id <= held_until
        lessons.append(
            {
                "id": lesson_id,
                "title": f"{rng.choice(SUBJECTS)} 第{lesson_id}课",
                "subject": rng.choice(SUBJECTS),
                "lecturer_name": rng.choice(lecturers),
                "scheduled_start": start,
                "scheduled_end": end,
                "status": "ended" if held else "scheduled",
                "join_code": secrets.token_hex(5).upper(),
                "started_at": start if held else None,
                "ended_at": end if held else None,
                "created_at": now,
                "row_key": secrets.token_hex(16),
                "open_to_all": False,
                "series": None,
            }
        )
        invited = rng.sample(range(1, county.classrooms + 1), rng.randint(*county.invites))
        invites.extend({"lesson_id": lesson_id, "classroom_id": c} for c in invited)
        if held:
            for classroom_id in invited:
                _sessions(rng, lesson_id, classroom_id, start, sessions, spans)
    async with catalog.session() as session, session.begin():
        for model, rows in (
            (School, schools),
            (Classroom, classrooms),
            (Lesson, lessons),
            (lesson_invites, invites),
            (Attendance, sessions),
            (AudioOnlyInterval, spans),
        ):
            table = getattr(model, "__table__", model)
            for i in range(0, len(rows), CHUNK):
                await session.execute(insert(table), rows[i : i + CHUNK])
        if catalog.engine.dialect.name == "postgresql":
            # Ids were given: move the sequences past them for the rows the hub adds later.
            for table in ("schools", "classrooms", "lessons", "attendance", "audio_only_intervals"):
                await session.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT coalesce(max(id), 1) FROM {table}))"
                    )
                )
    await catalog.close()
    return Seeded(
        len(schools), len(classrooms), len(lessons), len(invites), len(sessions), len(spans)
    )


def _sessions(
    rng: random.Random,
    lesson_id: int,
    classroom_id: int,
    start: datetime,
    sessions: list[dict[str, Any]],
    spans: list[dict[str, Any]],
) -> None:
    """One invited classroom in a lesson that took place: 8 % absent, else one session (late,
    leaving early or dropping and coming back now and then), 10 % with a stretch in audio only."""
    if rng.random() < 0.08:
        return
    joined = rng.choice((0, 0, 0, 1, 2, 7))  # minutes after the start; 7 is late
    left = rng.choice((45, 45, 45, 45, 33))  # 33 left early
    stays = [(joined, left)]
    if rng.random() < 0.15:  # dropped and back a minute later
        cut = rng.randint(joined + 5, left - 5)
        stays = [(joined, cut), (cut + 1, left)]
    for number, (a, b) in enumerate(stays):
        attendance_id = len(sessions) + 1
        sessions.append(
            {
                "id": attendance_id,
                "lesson_id": lesson_id,
                "participant_id": f"classroom-{classroom_id}-{lesson_id}-{number}",
                "role": "classroom",
                "name": f"教室{classroom_id}",
                "classroom_id": classroom_id,
                "joined_at": start + timedelta(minutes=a),
                "left_at": start + timedelta(minutes=b),
                "quality": round(rng.uniform(0.2, 1.0), 2),
                "last_seen_at": start + timedelta(minutes=b),
                "credential_id": None,
            }
        )
        if number == 0 and rng.random() < 0.10:
            spans.append(
                {
                    "attendance_id": attendance_id,
                    "started_at": start + timedelta(minutes=a + 2),
                    "ended_at": start + timedelta(minutes=a + 2 + rng.randint(1, 10)),
                }
            )
