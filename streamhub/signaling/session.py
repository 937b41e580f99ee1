"""A joined participant's signaling session: every message checked against its grant."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from streamhub.errors import Forbidden, NegotiationError, NotFound, ProtocolError, RateLimited
from streamhub.lesson.participant import Participant
from streamhub.lesson.room import LECTURER_FIXED_SLOTS, Room
from streamhub.media.forwarder import OutTrack
from streamhub.media.ice import (
    CandidatePolicy,
    announce_address,
    rtc_configuration,
)
from streamhub.media.peer import HubPeer
from streamhub.protocol import (
    MAX_LECTURER_TILES,
    PUBLISH_SLOTS,
    SLOT_KIND,
    Ack,
    Answer,
    AnswerQuestion,
    AudioOnly,
    Chat,
    ClearReply,
    CloseQuestion,
    ErrorCode,
    IceCandidate,
    Join,
    Leave,
    Listen,
    LowerHand,
    Mark,
    Message,
    MuteRequest,
    MuteRequested,
    Offer,
    OpenQuestion,
    Pong,
    QuickReply,
    RaiseHand,
    Request,
    RevealQuestion,
    Role,
    ScreenShare,
    SetMuted,
    Slot,
    StageOff,
    StageOn,
    StatsReport,
    layout_for,
)
from streamhub.services import Services
from streamhub.signaling.joined import joined_reply
from streamhub.signaling.limits import lesson_chat_budget

logger = logging.getLogger(__name__)


class Transport(Protocol):
    """What a session needs of its socket (``streamhub.signaling.connection.Connection``): a
    port, so the session never imports the connection that makes it."""

    def post(self, message: Message) -> None:
        """Queue a message to the participant (bounded; a reader that cannot keep up is
        closed as slow)."""
        ...

    def shutdown(self, code: ErrorCode, reason: str) -> None:
        """End the session with this code."""
        ...


def _count_media_lines(sdp: str) -> int:
    return sum(1 for line in sdp.splitlines() if line.startswith("m="))


class Session:
    def __init__(self, connection: Transport, services: Services) -> None:
        self.connection = connection
        self.services = services
        self.registry = services.lessons
        self.room: Room | None = None
        self.participant: Participant | None = None
        self.peer: HubPeer | None = None
        self._left = False

    @property
    def log_context(self) -> dict[str, Any]:
        return {
            "lesson": self.room.lesson.id if self.room else None,
            "participant": self.participant.id if self.participant else None,
        }

    # ------------------------------------------------------------ join / leave

    async def join(self, message: Join) -> None:
        grant, room = await self.registry.admit(message)
        settings = self.services.settings
        pid = self.registry.new_participant_id(grant)
        name = grant.name or message.name or grant.role.value
        participant = Participant(
            id=pid,
            grant=grant,
            name=name,
            post=self.connection.post,
            close=self.connection.shutdown,
        )
        codec = room.video_codec or settings.media.video_codecs[0]
        self.peer = HubPeer(
            label=pid,
            configuration=rtc_configuration(settings.ice),
            video_mime=f"video/{codec}",
            keyframe_interval_s=settings.media.keyframe_interval_ms / 1000,
            on_failed=lambda: self.connection.shutdown(
                ErrorCode.MEDIA_LOST, "media connection lost"
            ),
            candidates=CandidatePolicy.from_settings(settings.ice),
        )
        participant.peer = self.peer
        self.room, self.participant = room, participant
        await self.registry.enter(room, participant)
        self.connection.post(joined_reply(room, participant, settings, message.id))
        room.catch_up(participant)
        logger.info("joined as %s", grant.role.value, extra=self.log_context)

    async def leave(self, reason: str) -> None:
        if self._left:
            return
        self._left = True
        if self.room is not None and self.participant is not None:
            await self.registry.leave(self.room, self.participant, reason)
            for sink in self.participant.sinks.values():
                if isinstance(sink, OutTrack):
                    sink.stop()
        if self.peer is not None:
            await self.peer.close()
        logger.info("left (%s)", reason, extra=self.log_context)

    # ------------------------------------------------------------ dispatch

    async def handle(self, message: Request) -> None:
        if isinstance(message, Join):
            raise ProtocolError("this socket has joined already", code=ErrorCode.ALREADY_JOINED)
        handler = _HANDLERS.get(type(message))
        if handler is None:
            kind = type(message).model_fields["type"].default
            raise ProtocolError(f"{kind} is not accepted here", code=ErrorCode.BAD_STATE)
        await handler(self, message)
        if message.id is not None and not isinstance(message, Offer):
            self.connection.post(Ack(id=message.id))

    @property
    def me(self) -> Participant:
        assert self.participant is not None
        return self.participant

    @property
    def here(self) -> Room:
        assert self.room is not None
        return self.room

    def _require_role(self, *roles: Role) -> None:
        if self.me.role not in roles:
            raise Forbidden(f"a {self.me.role.value} may not do this")

    def _member(self, pid: str, role: Role | None = Role.CLASSROOM) -> Participant:
        member = self.here.members.get(pid)
        if member is None or member.hidden or (role is not None and member.role is not role):
            raise NotFound(f"no such participant {pid}", code=ErrorCode.NOT_FOUND)
        return member

    # ------------------------------------------------------------ media negotiation

    async def on_offer(self, message: Offer) -> None:
        assert self.peer is not None
        me, room = self.me, self.here
        count = _count_media_lines(message.sdp)
        if me.role is Role.LECTURER:
            tiles = (count - LECTURER_FIXED_SLOTS) // 2
            if (
                count < LECTURER_FIXED_SLOTS
                or (count - LECTURER_FIXED_SLOTS) % 2
                or tiles > MAX_LECTURER_TILES
            ):
                raise NegotiationError(f"a lecturer offer needs 3 + 2n m-lines, got {count}")
            layout = layout_for(me.role, tiles)
        else:
            tiles = 0
            layout = layout_for(me.role)
        self._check_grants(message.sdp, layout)

        def out_track(index: int, slot: Slot) -> OutTrack:
            sink = OutTrack(
                SLOT_KIND[slot],
                f"{me.id}/{slot.value}#{index}",
                self.services.settings.media.subscriber_queue_frames,
            )
            pending[index] = sink
            return sink

        # New sinks join the participant together with the layout that indexes them: the room
        # may route other members while this negotiation is in flight.
        pending: dict[int, OutTrack] = {}
        answer, slots, mids = await self.peer.negotiate(message.sdp, layout, out_track)
        ice = self.services.settings.ice
        answer = announce_address(answer, ice.addresses, ice.announced_address)
        me.layout = layout
        me.sinks.update(pending)
        me.mids = mids
        me.sources.update(self.peer.sources)
        if me.role is Role.LECTURER:
            room.lecturer_negotiated(tiles)
        room.route()
        self.connection.post(
            Answer(
                id=message.id,
                sdp=answer,
                slots=slots,
                tiles=room.tile_map(me) if me.role is Role.LECTURER else {},
            )
        )

    def _check_grants(self, sdp: str, layout: list[Slot]) -> None:
        grant = self.me.grant
        directions: list[str] = []
        for line in sdp.splitlines():
            if line.startswith("m="):
                directions.append("sendrecv")
            elif directions and line.strip() in (
                "a=sendonly",
                "a=recvonly",
                "a=sendrecv",
                "a=inactive",
            ):
                directions[-1] = line.strip()[2:]
        for slot, direction in zip(layout, directions, strict=False):
            if (
                slot in PUBLISH_SLOTS
                and direction in ("sendonly", "sendrecv")
                and not grant.can_publish
            ):
                raise Forbidden("this token may not publish media")
            if (
                slot not in PUBLISH_SLOTS
                and direction in ("recvonly", "sendrecv")
                and not grant.can_subscribe
            ):
                raise Forbidden("this token may not receive media")

    async def on_ice_candidate(self, message: IceCandidate) -> None:
        assert self.peer is not None
        await self.peer.add_ice_candidate(
            message.candidate, message.sdp_mid, message.sdp_mline_index
        )

    async def on_leave(self, message: Leave) -> None:
        if message.id is not None:
            self.connection.post(Ack(id=message.id))
        self.connection.shutdown(ErrorCode.LEFT, "left")

    async def on_pong(self, message: Pong) -> None:
        return None

    # ------------------------------------------------------------ classroom controls

    async def on_raise_hand(self, message: RaiseHand) -> None:
        self._require_role(Role.CLASSROOM)
        self.here.raise_hand(self.me)

    async def on_lower_hand(self, message: LowerHand) -> None:
        if message.participant is None or message.participant == self.me.id:
            self._require_role(Role.CLASSROOM)
            self.here.lower_hand(self.me)
            return
        self._require_role(Role.LECTURER)
        self.here.lower_hand(self._member(message.participant))

    async def on_stage_on(self, message: StageOn) -> None:
        self._require_role(Role.LECTURER)
        self.here.set_stage(self._member(message.participant))

    async def on_stage_off(self, message: StageOff) -> None:
        self._require_role(Role.LECTURER)
        self.here.set_stage(None)

    async def on_screen_share(self, message: ScreenShare) -> None:
        self._require_role(Role.LECTURER)
        self.here.set_screen_sharing(message.on)

    async def on_chat(self, message: Chat) -> None:
        self._require_role(Role.LECTURER, Role.CLASSROOM)
        room = self.here
        if room.chat_budget is None:
            room.chat_budget = lesson_chat_budget(self.services.settings.signaling)
        if not room.chat_budget.take():
            # The lesson's chat is busy, not this member's fault: refused, no strike.
            raise RateLimited("the lesson's chat is busy; try again in a moment")
        room.chat(self.me, message.text)

    async def on_mute_request(self, message: MuteRequest) -> None:
        self._require_role(Role.LECTURER)
        target = self._member(message.participant)
        target.post(MuteRequested(muted=message.muted, by=self.me.id))
        # The hub stops forwarding at once, whatever the classroom's software does.
        self.here.set_muted(target, message.muted)

    async def on_set_muted(self, message: SetMuted) -> None:
        self._require_role(Role.LECTURER, Role.CLASSROOM)
        self.here.set_muted(self.me, message.muted)

    async def on_listen(self, message: Listen) -> None:
        self._require_role(Role.LECTURER)
        target = self._member(message.participant) if message.participant else None
        self.here.listen(target)

    async def on_audio_only(self, message: AudioOnly) -> None:
        self.me.audio_only = message.enabled
        self.here.route()
        self.registry.note_audio_only(self.here, self.me)

    async def on_stats(self, message: StatsReport) -> None:
        self.me.reported = message

    # ------------------------------------------------------------ answering back

    async def on_quick_reply(self, message: QuickReply) -> None:
        self._require_role(Role.CLASSROOM)
        self.here.quick_reply(self.me, message.kind)

    async def on_clear_reply(self, message: ClearReply) -> None:
        self._require_role(Role.LECTURER)
        self.here.clear_reply(self._member(message.participant), message.kind)

    async def on_open_question(self, message: OpenQuestion) -> None:
        self._require_role(Role.LECTURER)
        self.here.open_question(self.me, message)

    async def on_answer_question(self, message: AnswerQuestion) -> None:
        # A classroom answers for itself only: the message names no classroom, the hub knows
        # whose connection this is.
        self._require_role(Role.CLASSROOM)
        self.here.answer_question(self.me, message)

    async def on_reveal_question(self, message: RevealQuestion) -> None:
        self._require_role(Role.LECTURER)
        self.here.reveal_question(self.me, message.question, message.correct)

    async def on_close_question(self, message: CloseQuestion) -> None:
        self._require_role(Role.LECTURER)
        self.here.close_question(self.me, message.question)

    async def on_mark(self, message: Mark) -> None:
        self._require_role(Role.LECTURER)
        self.here.mark(self.me, message.label)


# Each request a joined participant may send, by its message class (join is the connection's).
_HANDLERS: dict[type[Request], Callable[[Session, Any], Awaitable[None]]] = {
    Offer: Session.on_offer,
    IceCandidate: Session.on_ice_candidate,
    Leave: Session.on_leave,
    Pong: Session.on_pong,
    RaiseHand: Session.on_raise_hand,
    LowerHand: Session.on_lower_hand,
    StageOn: Session.on_stage_on,
    StageOff: Session.on_stage_off,
    ScreenShare: Session.on_screen_share,
    Chat: Session.on_chat,
    MuteRequest: Session.on_mute_request,
    SetMuted: Session.on_set_muted,
    Listen: Session.on_listen,
    AudioOnly: Session.on_audio_only,
    StatsReport: Session.on_stats,
    QuickReply: Session.on_quick_reply,
    ClearReply: Session.on_clear_reply,
    OpenQuestion: Session.on_open_question,
    AnswerQuestion: Session.on_answer_question,
    RevealQuestion: Session.on_reveal_question,
    CloseQuestion: Session.on_close_question,
    Mark: Session.on_mark,
}
