"""The hub's own recorder (a LocalSession) against the real hub: its event queue is bounded."""

from __future__ import annotations

from pathlib import Path

from streamhub.protocol import HandRaised, LessonEnded
from streamhub.signaling.local import EVENTS_MAX, LocalSession
from tests.support.hub import AdminApi, InProcessHub


async def test_a_recorder_that_stops_reading_events_is_closed_not_buffered_forever(
    tmp_path: Path,
) -> None:
    async with InProcessHub(tmp_path / "hub", recorder={"enabled": False}) as hub:
        api = AdminApi(hub.url)
        try:
            lesson = await api.lesson(classrooms=0)
            token = (await api.post(f"/api/lessons/{lesson.lesson_id}/recorder-token"))["token"]
        finally:
            await api.close()
        registry = hub.services.lessons
        local = LocalSession(registry, hub.settings, token)
        await local.connect()
        room = registry.rooms[lesson.lesson_id]
        (member,) = [m for m in room.members.values() if m.hidden]
        # The room posts faster than the recorder reads (here: it never gets a turn).
        for n in range(EVENTS_MAX + 100):
            member.post(HandRaised(participant=f"c{n}", hands=[f"c{n}"]))
        member.post(LessonEnded())  # after the overflow: not queued any more
        seen = [event async for event in local.events()]
        assert len(seen) == EVENTS_MAX
        assert seen[0] == HandRaised(participant="c0", hands=["c0"]), "in order, the oldest kept"
        assert all(track.readyState == "ended" for track in local.tracks.values())
        await local.close()
        assert member.id not in room.members
