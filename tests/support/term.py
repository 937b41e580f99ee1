"""A small term of lessons for the attendance-report tests: schools, classrooms and lessons made
through the API, the lessons' live spans and their sessions written into the catalog as the hub
would have written them (with times in the past, which no live test could wait for)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from streamhub.catalog.models import Attendance, AudioOnlyInterval, Lesson
from tests.support.hub import AdminApi, InProcessHub

# 08:00 on 1 September in Shanghai is 00:00 UTC: the first lesson starts on 1 September there,
# on 31 August in UTC; a report from 1 September (county time) includes it.
T0 = datetime(2026, 9, 1, 0, 0, tzinfo=UTC) - timedelta(hours=7, minutes=30)


def at(minutes: float, day: int = 0) -> datetime:
    return T0 + timedelta(days=day, minutes=minutes)


class Term:
    """A small term written through the API, its lessons' live spans and sessions as the
    hub would have written them (times set: the report is about the past)."""

    def __init__(self, hub: InProcessHub, admin: AdminApi) -> None:
        self.hub, self.admin = hub, admin
        self.rooms: dict[str, int] = {}

    async def classrooms(self) -> None:
        hill = await self.admin.post("/api/schools", {"name": "山区小学"})
        lake = await self.admin.post("/api/schools", {"name": "Lake School"})
        self.schools = {"山区小学": hill["id"], "Lake School": lake["id"]}
        for school, name in ((hill, "一班"), (hill, "二班"), (lake, "三班")):
            room = await self.admin.post(
                "/api/classrooms", {"name": name, "school_id": school["id"]}
            )
            self.rooms[name] = room["id"]

    async def lesson(self, lecturer: str, day: int, invited: list[str], ended: bool = True) -> int:
        lesson = await self.admin.post(
            "/api/lessons",
            {
                "title": "分数",
                "lecturer_name": lecturer,
                "scheduled_start": at(0, day).isoformat(),
                "scheduled_end": at(45, day).isoformat(),
                "classroom_ids": [self.rooms[n] for n in invited],
            },
        )
        if ended:
            async with self.hub.services.catalog.session() as session, session.begin():
                await session.execute(
                    update(Lesson)
                    .where(Lesson.id == lesson["id"])
                    .values(status="ended", started_at=at(0, day), ended_at=at(45, day))
                )
        return int(lesson["id"])

    async def came(
        self,
        lesson_id: int,
        room: str,
        day: int,
        joined: float,
        left: float,
        quality: float = 1.0,
        audio_only: tuple[float, float] | None = None,
    ) -> None:
        async with self.hub.services.catalog.session() as session, session.begin():
            row = Attendance(
                lesson_id=lesson_id,
                participant_id=f"classroom-{room}-{joined}",
                role="classroom",
                name=room,
                classroom_id=self.rooms[room],
                joined_at=at(joined, day),
                left_at=at(left, day),
                last_seen_at=at(left, day),
                quality=quality,
            )
            session.add(row)
            await session.flush()
            if audio_only is not None:
                start, stop = audio_only
                session.add(
                    AudioOnlyInterval(
                        attendance_id=row.id, started_at=at(start, day), ended_at=at(stop, day)
                    )
                )
