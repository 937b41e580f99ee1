"""What a member is told on joining, for a socket's session and an in-process member alike
(its own module: ``local.py`` needs it without the socket session's machinery)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamhub.media.ice import client_ice_servers
from streamhub.protocol import Joined, RequestId, Role, layout_for

if TYPE_CHECKING:
    from streamhub.config import Settings
    from streamhub.lesson.participant import Participant
    from streamhub.lesson.room import Room


def joined_reply(
    room: Room, participant: Participant, settings: Settings, request_id: RequestId | None
) -> Joined:
    """What a participant is told on joining: the lesson as it stands and its slot layout."""
    tiles = len(room.classrooms()) if participant.role is Role.LECTURER else 0
    return Joined(
        id=request_id,
        participant=participant.info(room.stage),
        lesson_id=room.lesson.id,
        lesson_title=room.lesson.title,
        participants=room.roster_for(participant),
        hands=list(room.hands),
        stage=room.stage,
        screen_sharing=room.screen_on,
        ice_servers=client_ice_servers(settings.ice, participant.id),
        video_codec=room.video_codec or settings.media.video_codecs[0],
        layout=layout_for(participant.role, tiles),
        recording=room.recording,
        recording_note=room.recording_note,
        question=room.open_question_info,
        reply_clear_s=settings.signaling.reply_clear_s,
    )
