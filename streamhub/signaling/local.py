"""A lesson member inside the hub process: the hub's own recorder.

It joins through the registry with its token like any participant (same checks, hidden from the
roster, routed by the room), but takes its slots' encoded frames straight from the forwarder.
Going through a peer connection to itself would packetize, encrypt, send over loopback, decrypt
and reassemble every frame twice in the one process. It offers the parts of
``streamhub.client.LessonClient`` a recorder uses: ``connect``, ``tracks``, ``events``,
``close``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from streamhub.lesson.participant import Participant
from streamhub.media.forwarder import OutTrack
from streamhub.protocol import SLOT_KIND, ErrorCode, Join, Joined, Message, Slot, layout_for
from streamhub.queues import EventQueue
from streamhub.signaling.joined import joined_reply

if TYPE_CHECKING:
    from streamhub.config import Settings
    from streamhub.lesson.registry import LessonRegistry
    from streamhub.lesson.room import Room

logger = logging.getLogger(__name__)

# Events waiting for the recorder, as many as a socket's outbox holds (chat lines and stats
# make room first).
EVENTS_MAX = 512


class LocalSession:
    def __init__(
        self, registry: LessonRegistry, settings: Settings, token: str, name: str = "Recorder"
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.token = token
        self.name = name
        self.tracks: dict[Slot, OutTrack] = {}
        self.joined: Joined | None = None
        self._room: Room | None = None
        self._participant: Participant | None = None
        self._events: EventQueue[Message] = EventQueue(EVENTS_MAX)
        self._ended = False  # no more events: closed by the hub or by us
        self._closed = False

    async def connect(self, publish: Mapping[Slot, Any] | None = None) -> Joined:
        if publish:
            raise ValueError("a local session only subscribes")
        join = Join(token=self.token, name=self.name)
        grant, room = await self.registry.admit(join)
        participant = Participant(
            id=self.registry.new_participant_id(grant),
            grant=grant,
            name=grant.name or self.name,
            post=self._post,
            close=self._closed_by_hub,
        )
        await self.registry.enter(room, participant)
        self._room, self._participant = room, participant
        layout = layout_for(grant.role)
        queue_frames = self.settings.media.subscriber_queue_frames
        sinks = {
            index: OutTrack(SLOT_KIND[slot], f"{participant.id}/{slot.value}#{index}", queue_frames)
            for index, slot in enumerate(layout)
        }
        participant.layout = layout
        participant.sinks.update(sinks)
        self.tracks = {layout[index]: sink for index, sink in sinks.items()}
        room.route()
        self.joined = joined_reply(room, participant, self.settings, None)
        return self.joined

    def _post(self, message: Message) -> None:
        if self._ended:
            return
        if not self._events.put(message):
            # As the hub does with a socket whose reader cannot keep up: it leaves; whoever
            # runs it (the recorder service) closes it, as after any close by the hub.
            self._closed_by_hub(ErrorCode.SLOW_CONSUMER, "event queue overflow")

    def _closed_by_hub(self, code: ErrorCode, reason: str) -> None:
        if self._ended:
            return
        logger.info("local session closed by the hub: %s (%s)", code, reason)
        self._end_tracks()
        self._ended = True
        self._events.finish()

    def _end_tracks(self) -> None:
        for track in self.tracks.values():
            track.stop()

    async def events(self) -> AsyncIterator[Message]:
        """The room's messages to this member, in order; ends when the hub closes it."""
        while (message := await self._events.get()) is not None:
            yield message

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._end_tracks()
        room, participant = self._room, self._participant
        if room is not None and participant is not None and participant.id in room.members:
            await self.registry.leave(room, participant, "left")
        self._ended = True
        self._events.finish()
