"""The lecturer's camera and microphone published over WHIP (RFC 9725): OBS, a lecture-capture
box or a browser WHIP client instead of the lecturer page.

A WHIP session is a lesson member whose signaling is three HTTP requests instead of a
WebSocket. It is admitted by the registry with the lecturer's link token, exactly as the
lecturer page is (token, lesson, revocation, lesson codec), and enters the room as a *feed*
(``Participant.feed``): it holds the lecturer's camera and microphone slots
(``Room.lecturer_media_holder``) and nothing else, so the lecturer page can stay open to
moderate. Its media go through the one ``HubPeer`` every participant has: encoded frames are
forwarded, never transcoded.

aiortc gathers every candidate before it answers, so the answer carries all of the hub's
candidates. The client may trickle its own (RFC 9725 section 4.3, an RFC 8840 SDP fragment in a
PATCH): they go to the peer under the same candidate policy as the offer's. ICE restarts are
not supported (aiortc cannot restart ICE): such a PATCH gets 422, as the RFC says when one of
the two is supported; the client DELETEs and POSTs again.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiortc.sdp import SessionDescription, candidate_from_sdp

from streamhub.errors import Conflict, NegotiationError, NotFound, StreamhubError
from streamhub.lesson.participant import Participant
from streamhub.lesson.registry import JoinRefused
from streamhub.media.forwarder import OutTrack
from streamhub.media.ice import CandidatePolicy, announce_address, rtc_configuration
from streamhub.media.peer import HubPeer, validate_offer
from streamhub.protocol import MAX_SDP_CHARS, ErrorCode, Join, Slot

if TYPE_CHECKING:
    from streamhub.auth.tokens import Grant
    from streamhub.hub_parts import HubParts
    from streamhub.lesson.room import Room

logger = logging.getLogger(__name__)

# Codec names as an offer's rtpmap lines spell them, as the registry's lesson codecs do.
VIDEO_CODECS = {"h264": "H264", "vp8": "VP8"}
# A publisher that has sent nothing for this long gives way to a new POST of the same link:
# OBS or a capture box restarting after a crash or a network drop posts again at once, while
# the hub would hold the old session until ICE consent expires (7 s) or, if it never
# connected, until ``signaling.peer_timeout_s``. One that is sending keeps its slots (409).
STALE_S = 3.0
# A trickled fragment carries a few candidates (a line is ~100 characters; the candidate policy
# takes ``ice.remote_candidates_max``, 32 by default, in all): anything longer is not one.
MAX_SDPFRAG_CHARS = 16_384
CANDIDATE_TYPES = {"host", "srflx", "prflx", "relay"}
_SDP_LINE = re.compile(r"^[a-z]=\S")


class NotAcceptable(StreamhubError):
    """The offer's media cannot be taken as the lecturer's camera and microphone."""

    code = ErrorCode.NOT_ACCEPTABLE
    status = 406


class PreconditionFailed(StreamhubError):
    """The request's If-Match names another ICE session than the current one."""

    code = ErrorCode.PRECONDITION_FAILED
    status = 412


class IceRestartUnsupported(StreamhubError):
    """An ICE restart: the hub supports trickle ICE but not ICE restarts (RFC 9725: 422)."""

    code = ErrorCode.ICE_RESTART_UNSUPPORTED
    status = 422


@dataclass(frozen=True)
class WhipOffer:
    """What the hub needs of a WHIP offer, read before anything is set up."""

    sdp: str
    layout: list[Slot]
    codecs: list[str]
    slot: Slot = Slot.CAMERA  # what the session holds: CAMERA (and microphone) or SCREEN
    # The ICE session the client offered: its credentials and its m-lines' mids, the first of
    # which is the one whose transport every m-line shares (the hub bundles everything).
    ice_ufrag: str = ""
    ice_pwd: str = ""
    mids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Trickle:
    """A trickled SDP fragment as read: candidate lines (without ``a=candidate:``) and whether
    it ends the client's candidates."""

    candidates: list[str]
    end: bool


def read_offer(sdp: str, slot: Slot = Slot.CAMERA) -> WhipOffer:
    """Parse an offer for ``slot`` (``CAMERA``: camera and microphone, ``SCREEN``: the screen);
    400 for SDP that is not SDP, 406 for media the lesson cannot take (RFC 9725: one audio
    and/or one video track, the screen one video track; no partially accepted answers)."""
    if len(sdp) > MAX_SDP_CHARS:
        raise NegotiationError(f"the offer exceeds {MAX_SDP_CHARS} characters")
    if not sdp.lstrip().startswith("v=0"):
        raise NegotiationError("the body is not an SDP offer (no v=0 line)")
    try:
        description = SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc's parser raises whatever the bytes provoke
        raise NegotiationError(f"unparseable SDP: {type(exc).__name__}") from None
    kinds = [m.kind for m in description.media]
    if not kinds:
        raise NotAcceptable("the offer has no media")
    if any(kind not in ("audio", "video") for kind in kinds):
        raise NotAcceptable("the offer may carry only audio and video")
    if kinds.count("audio") > 1 or kinds.count("video") > 1:
        raise NotAcceptable("the offer may carry one audio and one video track")
    if slot is Slot.SCREEN and kinds != ["video"]:
        raise NotAcceptable("a screen offer carries one video track and nothing else")
    video_slot = Slot.SCREEN if slot is Slot.SCREEN else Slot.CAMERA
    layout = [Slot.MICROPHONE if kind == "audio" else video_slot for kind in kinds]
    codecs = ["opus"]
    for m in description.media:
        if m.kind == "video":
            names = {c.mimeType.split("/", 1)[-1].lower() for c in m.rtp.codecs}
            codecs += [VIDEO_CODECS[name] for name in VIDEO_CODECS if name in names]
            if len(codecs) == 1:
                raise NotAcceptable("the offer's video is neither H.264 nor VP8")
        elif not any(c.mimeType.lower() == "audio/opus" for c in m.rtp.codecs):
            raise NotAcceptable("the offer's audio is not Opus")
    # DTLS, ICE credentials, mids, directions: checked before the offer can change anything
    # (start the lesson, fix its codec). The peer checks again against the lesson's codec.
    video = codecs[1] if len(codecs) > 1 else "VP8"
    validate_offer(sdp, layout, f"video/{video}")
    first = description.media[0]
    assert first.ice is not None  # validate_offer checked the credentials of every m-line
    return WhipOffer(
        sdp,
        layout,
        codecs,
        slot,
        ice_ufrag=first.ice.usernameFragment or "",
        ice_pwd=first.ice.password or "",
        mids=tuple(str(m.rtp.muxId) for m in description.media),
    )


def read_trickle(text: str, offer: WhipOffer) -> Trickle:
    """Read a PATCH's ``application/trickle-ice-sdpfrag`` body (RFC 8840) for the session of
    ``offer``: 400 for what is not such a fragment, or names an m-line the session does not
    have; 422 for another ICE session's credentials (an ICE restart). Nothing is applied."""
    if len(text) > MAX_SDPFRAG_CHARS:
        raise NegotiationError(f"the SDP fragment exceeds {MAX_SDPFRAG_CHARS} characters")
    ufrags: set[str] = set()
    passwords: set[str] = set()
    candidates: list[str] = []
    end = False
    m_lines = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if not _SDP_LINE.match(line):
            raise NegotiationError(f"line {number} of the fragment is not an SDP line")
        kind, _, value = line.partition("=")
        name, _, argument = value.partition(":")
        if kind == "m":
            m_lines += 1
            if m_lines > len(offer.mids):
                raise NegotiationError("the fragment has more m-lines than the session")
        elif kind != "a":
            continue  # c=, o=...: nothing ICE needs
        elif name == "mid" and argument not in offer.mids:
            raise NegotiationError(
                f"the fragment names an m-line the session has not: {argument[:32]!r}"
            )
        elif name == "ice-ufrag":
            ufrags.add(argument)
        elif name == "ice-pwd":
            passwords.add(argument)
        elif name == "end-of-candidates":
            end = True
        elif name == "candidate":
            candidate, ufrag = _read_candidate(argument, number)
            if ufrag is not None:
                ufrags.add(ufrag)
            candidates.append(candidate)
    if ufrags - {offer.ice_ufrag} or passwords - {offer.ice_pwd}:
        raise IceRestartUnsupported(
            "the fragment is for another ICE session (an ICE restart): not supported; "
            "DELETE the session and POST a new offer"
        )
    if not candidates and not end:
        raise NegotiationError("the fragment carries no candidate and no end-of-candidates")
    return Trickle(candidates, end)


def _read_candidate(value: str, number: int) -> tuple[str, str | None]:
    """A candidate attribute's value, checked as aiortc will read it; and its ``ufrag``
    extension (RFC 8840), if any."""
    bits = value.split()
    where = f"line {number}: malformed ICE candidate"
    if len(bits) < 8 or bits[6] != "typ" or bits[7] not in CANDIDATE_TYPES:
        raise NegotiationError(where)
    if bits[2].lower() not in ("udp", "tcp"):
        raise NegotiationError(f"{where} (transport {bits[2][:16]!r})")
    try:
        component, priority, port = int(bits[1]), int(bits[3]), int(bits[5])
        candidate_from_sdp(value)
    except (ValueError, IndexError, AssertionError):
        raise NegotiationError(where) from None
    if component < 1 or priority < 0 or not 0 <= port < 65536:
        raise NegotiationError(where)
    extensions = dict(zip(bits[8::2], bits[9::2], strict=False))
    return value, extensions.get("ufrag")


def _refuse_slot(_index: int, slot: Slot) -> OutTrack:
    # A feed's layout has only publishing slots; the peer never asks for a sink.
    raise NegotiationError(f"a WHIP session does not receive ({slot.value})")


@dataclass(eq=False)
class WhipSession:
    """One WHIP publisher in one lesson: its resource id, its member and its peer."""

    id: str
    lesson_id: int
    lesson_code: str
    etag: str
    slot: Slot
    offer: WhipOffer | None = None
    participant: Participant | None = None
    room: Room | None = None
    peer: HubPeer | None = None
    ended: bool = False
    created_at: float = field(default_factory=time.monotonic)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def stale(self, now: float) -> bool:
        """Nothing received for ``STALE_S``: its publisher is gone or stuck."""
        sources = self.peer.sources.values() if self.peer is not None else ()
        heard = [s.last_frame_at for s in sources if s.last_frame_at is not None]
        return now - max(heard, default=self.created_at) > STALE_S

    @property
    def log_context(self) -> dict[str, Any]:
        pid = self.participant.id if self.participant is not None else None
        return {"lesson": self.lesson_id, "participant": pid}


class WhipSessions:
    """Every WHIP session of this hub node, at most one per lesson and slot (camera, screen);
    owns their tasks."""

    def __init__(self, services: HubParts) -> None:
        self.services = services
        self.sessions: dict[str, WhipSession] = {}
        # (lesson, slot) with a session, or one being set up: a second POST is refused at once.
        self._lessons: dict[tuple[int, Slot], str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing: set[asyncio.Future[None]] = set()  # peers being closed

    # ------------------------------------------------------------ start

    async def publish(
        self, token: str, grant: Grant, code: str, offer: WhipOffer
    ) -> tuple[WhipSession, str]:
        """Admit the publisher, negotiate, enter the room; return the session and its answer."""
        assert grant.lesson is not None
        key = (grant.lesson, offer.slot)
        busy = Conflict(
            f"a WHIP session already publishes this lesson's {_held(offer.slot)}; DELETE it first",
            code=ErrorCode.WHIP_BUSY,
        )
        if key in self._lessons:
            current = self.sessions.get(self._lessons[key])
            if current is None or not current.stale(time.monotonic()):
                raise busy
            await self._end(current, ErrorCode.REPLACED, "replaced by a new WHIP session")
            if key in self._lessons:  # another POST came in meanwhile
                raise busy
        session = WhipSession(
            id=secrets.token_urlsafe(18),
            lesson_id=grant.lesson,
            lesson_code=code,
            etag=f'"{secrets.token_hex(8)}"',
            slot=offer.slot,
            offer=offer,
        )
        self._lessons[key] = session.id
        try:
            answer = await self._start(session, token, offer)
        except BaseException:
            self._lessons.pop(key, None)
            await self._teardown(session, "refused")
            raise
        if session.ended:
            # Closed by the hub while it was being set up (the lesson ended, the link revoked,
            # the media failed): whatever the set-up went on to make goes too.
            await self._teardown(session, "left")
            raise Conflict("the session ended as it started; try again", code=ErrorCode.WHIP_ENDED)
        self.sessions[session.id] = session
        logger.info("WHIP session %s publishing", session.id[:6], extra=session.log_context)
        return session, answer

    async def _start(self, session: WhipSession, token: str, offer: WhipOffer) -> str:
        services = self.services
        registry = services.lessons
        lesson = await services.catalog.get_lesson(session.lesson_id)
        if lesson.status == "scheduled":
            # As the lecturer page's "Go live": the lesson starts with its lecturer's media.
            lesson = await services.catalog.set_lesson_status(lesson.id, "live")
            await registry.go_live(services.catalog.info(lesson))
        held = registry.rooms.get(session.lesson_id)
        if held is not None:
            # The slots first: "the page publishes" says more than "the codec differs".
            self._check_slots_free(held, offer.slot)
        codec_before = held.video_codec if held is not None else None
        join = Join(token=token, codecs=offer.codecs, lesson=session.lesson_id)
        try:
            grant, room = await registry.admit(join)
        except JoinRefused as exc:
            if exc.code == ErrorCode.NO_USABLE_CODEC:
                raise NotAcceptable(exc.message, code=ErrorCode.NO_USABLE_CODEC) from None
            raise
        session.room = room
        try:
            self._check_slots_free(room, offer.slot)
            return await self._negotiate(session, room, grant, offer)
        except BaseException:
            if not any(not m.hidden for m in room.members.values()):
                # A refused publisher does not choose the lesson's codec for those to come.
                room.video_codec = codec_before
            raise

    @staticmethod
    def _check_slots_free(room: Room, slot: Slot) -> None:
        if slot is Slot.SCREEN:
            if room.screen_sharing:
                raise Conflict(
                    "the lecturer page is sharing its screen; stop sharing there first",
                    code=ErrorCode.LECTURER_SLOTS_TAKEN,
                )
            if room.screen_feed is not None:
                raise Conflict(
                    "a WHIP session already publishes this lesson's screen",
                    code=ErrorCode.WHIP_BUSY,
                )
            return
        lecturer = room.lecturer
        if lecturer is not None and (
            Slot.CAMERA in lecturer.sources or Slot.MICROPHONE in lecturer.sources
        ):
            raise Conflict(
                "the lecturer page already publishes the camera and microphone; "
                "leave the lesson there first",
                code=ErrorCode.LECTURER_SLOTS_TAKEN,
            )
        if room.feed is not None:
            who = "an RTMP push" if room.feed.ingest == "rtmp" else "a WHIP session"
            raise Conflict(f"{who} already publishes this lesson", code=ErrorCode.WHIP_BUSY)

    async def _negotiate(
        self, session: WhipSession, room: Room, grant: Grant, offer: WhipOffer
    ) -> str:
        settings = self.services.settings
        registry = self.services.lessons
        codec = room.video_codec or settings.media.video_codecs[0]
        # Its own identity: entering never replaces the lecturer page (same token, other sub);
        # revoking the link still ends it (same token row).
        suffix = "-whip" if offer.slot is Slot.CAMERA else "-whip-screen"
        feed_grant = grant.model_copy(update={"sub": f"{grant.sub}{suffix}"})
        pid = f"whip-{secrets.token_hex(5)}"
        participant = Participant(
            id=pid,
            grant=feed_grant,
            name=grant.name or "Lecturer",
            post=lambda _message: None,  # no signaling channel: room news is not for it
            close=lambda code, reason: self._spawn(
                self._end(session, code, reason), f"whip-end:{pid}"
            ),
            feed=offer.slot,
        )
        peer = HubPeer(
            label=pid,
            configuration=rtc_configuration(settings.ice),
            video_mime=f"video/{codec}",
            keyframe_interval_s=settings.media.keyframe_interval_ms / 1000,
            on_failed=lambda: participant.close(ErrorCode.MEDIA_LOST, "media connection lost"),
            candidates=CandidatePolicy.from_settings(settings.ice),
        )
        participant.peer = peer
        session.participant, session.peer = participant, peer
        # The peer is set up before the room hears of the member: a refused offer disturbs
        # nobody.
        answer, _slots, mids = await peer.negotiate(offer.sdp, offer.layout, _refuse_slot)
        ice = settings.ice
        answer = announce_address(answer, ice.addresses, ice.announced_address)
        # Checked again: another publisher may have come in while this one negotiated, or the
        # hub closed this one (its peer failed, the lesson ended).
        self._check_slots_free(room, offer.slot)
        if session.ended:
            raise Conflict("the session ended as it started; try again", code=ErrorCode.WHIP_ENDED)
        participant.layout = list(offer.layout)
        participant.mids = mids
        participant.sources.update(peer.sources)
        await registry.enter(room, participant)
        room.route()
        self._own(session, self._media_deadline(session), f"whip-media:{pid}")
        self._own(session, self._expire(session, grant.exp), f"whip-expiry:{pid}")
        return answer

    # ------------------------------------------------------------ lifetime

    async def _media_deadline(self, session: WhipSession) -> None:
        """Media that never connects would hold the lecturer's slots for nothing."""
        timeout = self.services.settings.signaling.peer_timeout_s
        await asyncio.sleep(timeout)
        if session.peer is not None and session.peer.connected_at is None:
            await self._end(
                session, ErrorCode.MEDIA_TIMEOUT, f"media did not connect within {timeout:g} s"
            )

    async def _expire(self, session: WhipSession, exp: int) -> None:
        await asyncio.sleep(max(0.0, exp - time.time()))
        await self._end(session, ErrorCode.SESSION_EXPIRED, "the lecturer link expired")

    def _own(self, session: WhipSession, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        session.tasks.add(task)
        self._tasks.add(task)
        task.add_done_callback(session.tasks.discard)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)

    # ------------------------------------------------------------ end

    def find(self, session_id: str, lesson_id: int, code: str) -> WhipSession:
        """The session at this URL for this token's lesson; 404 for any other (no hint)."""
        session = self.sessions.get(session_id)
        if session is None or session.lesson_id != lesson_id or session.lesson_code != code:
            raise NotFound("no such WHIP session", code=ErrorCode.WHIP_SESSION_NOT_FOUND)
        return session

    async def trickle(self, session: WhipSession, text: str) -> Trickle:
        """Add the client's trickled candidates to its peer. Those the candidate policy
        refuses are dropped, as they are from an offer (a client that sends its own checks
        is still found); end-of-candidates is not passed on, for the same reason."""
        assert session.offer is not None, "a published session keeps its offer"
        trickle = read_trickle(text, session.offer)
        peer = session.peer
        if session.ended or peer is None:
            raise NotFound("no such WHIP session", code=ErrorCode.WHIP_SESSION_NOT_FOUND)
        # The hub bundles every m-line on the first one's transport: aiortc adds a candidate
        # only to a transceiver that owns its transport.
        mid = session.offer.mids[0]
        refused: list[str] = []
        for candidate in trickle.candidates:
            try:
                await peer.add_ice_candidate(candidate, mid, 0)
            except NegotiationError as exc:
                if exc.code != ErrorCode.CANDIDATE_REFUSED:
                    raise
                refused.append(exc.message)
        if refused:
            logger.info(
                "WHIP session %s: %d trickled candidates refused (%s)",
                session.id[:6], len(refused), refused[0], extra=session.log_context,
            )  # fmt: skip
        return trickle

    async def delete(self, session: WhipSession) -> None:
        await self._end(session, ErrorCode.LEFT, "the WHIP client ended the session")

    async def _end(self, session: WhipSession, code: ErrorCode, reason: str) -> None:
        if session.ended:
            return
        session.ended = True
        logger.info(
            "WHIP session %s ended: %s (%s)", session.id[:6], code, reason,
            extra=session.log_context,
        )  # fmt: skip
        await self._teardown(session, code)

    async def _teardown(self, session: WhipSession, reason: str) -> None:
        session.ended = True
        self.sessions.pop(session.id, None)
        key = (session.lesson_id, session.slot)
        if self._lessons.get(key) == session.id:
            del self._lessons[key]
        current = asyncio.current_task()
        for task in list(session.tasks):
            if task is not current:
                task.cancel()
        room, participant = session.room, session.participant
        if room is not None and participant is not None and participant.id in room.members:
            await self.services.lessons.leave(room, participant, reason)
        if session.peer is not None:
            # Not cut short by a cancelled caller (the hub stopping cancels the task that ends
            # a session whose media never came): a peer half closed leaks its UDP sockets.
            closing = asyncio.ensure_future(session.peer.close())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
            await asyncio.shield(closing)

    async def close(self) -> None:
        """The hub stops: every session ends, every task is awaited."""
        for session in list(self.sessions.values()):
            await self._end(session, ErrorCode.SHUTDOWN, "the hub is shutting down")
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*self._closing, return_exceptions=True)


def _held(slot: Slot) -> str:
    return "screen" if slot is Slot.SCREEN else "camera and microphone"


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("task %s failed", task.get_name(), exc_info=task.exception())
