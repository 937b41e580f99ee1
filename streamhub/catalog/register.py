"""A lesson's register read from the catalog: the invited classrooms, the sessions, the lesson's
live span, and each classroom's school (``streamhub.lesson.attendance.register`` has the rules)."""

from __future__ import annotations

from dataclasses import dataclass

from streamhub.catalog.models import utcnow
from streamhub.catalog.store import Catalog
from streamhub.errors import NotFound
from streamhub.lesson.attendance import ClassroomPresence, register


@dataclass(frozen=True)
class RegisterLine:
    presence: ClassroomPresence
    school: str


async def lesson_register(
    catalog: Catalog, lesson_id: int, late_after_s: float, left_early_s: float
) -> list[RegisterLine]:
    lesson = await catalog.get_lesson(lesson_id)
    rows = await catalog.attendance(lesson_id)
    lines = register(
        [(c.id, c.name) for c in lesson.classrooms],
        rows,
        lesson.started_at,
        lesson.ended_at,
        utcnow(),
        late_after_s,
        left_early_s,
        await catalog.audio_only(lesson_id),
    )
    schools = {c.id: c.school.name for c in lesson.classrooms}
    out = []
    for line in lines:
        if line.classroom_id not in schools:
            try:
                schools[line.classroom_id] = (
                    await catalog.get_classroom(line.classroom_id)
                ).school.name
            except NotFound:  # deleted since: its attendance stays
                schools[line.classroom_id] = ""
        out.append(RegisterLine(line, schools[line.classroom_id]))
    return out
