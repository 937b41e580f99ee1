"""The signaling protocol: every WebSocket message as a pydantic model.

This module is the protocol's single source of truth (spec: docs/protocol.md). It imports no
web framework, so the classroom agent and tools can use it cheaply.

Negotiation rule (no glare): only the client ever sends an SDP offer. When the hub needs a
change (the lecturer's view of classrooms grows), it sends ``renegotiate`` and the client
offers again once its signaling state is stable. The m-lines of every offer follow the
role's fixed layout (``layout_for``), so a slot is known by its position.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from streamhub.errors import ErrorCode as ErrorCode  # the protocol's codes live with the errors
from streamhub.errors import ProtocolError

PROTOCOL_VERSION: Final = 1
# A lecturer's offer grows by two m-lines (~3 KB) per classroom tile it shows.
MAX_LECTURER_TILES = 64
MAX_SDP_CHARS = 262_144
MAX_TEXT = 2_000

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
RequestId = Annotated[str, Field(min_length=1, max_length=64)]


class Role(StrEnum):
    ADMIN = "admin"
    LECTURER = "lecturer"
    CLASSROOM = "classroom"
    RECORDER = "recorder"
    STAFF = "staff"


class Slot(StrEnum):
    """A fixed media slot of a connection, named from the hub's side of the wire."""

    # Published by the participant (the hub receives them).
    CAMERA = "camera"
    MICROPHONE = "microphone"
    SCREEN = "screen"
    # Received by the participant (the hub sends them).
    LECTURER_VIDEO = "lecturer.video"
    LECTURER_AUDIO = "lecturer.audio"
    SCREEN_VIDEO = "screen.video"
    STAGE_VIDEO = "stage.video"
    STAGE_AUDIO = "stage.audio"
    TILE_VIDEO = "tile.video"
    TILE_AUDIO = "tile.audio"


PUBLISH_SLOTS = frozenset({Slot.CAMERA, Slot.MICROPHONE, Slot.SCREEN})
SLOT_KIND = {
    Slot.CAMERA: "video",
    Slot.MICROPHONE: "audio",
    Slot.SCREEN: "video",
    Slot.LECTURER_VIDEO: "video",
    Slot.LECTURER_AUDIO: "audio",
    Slot.SCREEN_VIDEO: "video",
    Slot.STAGE_VIDEO: "video",
    Slot.STAGE_AUDIO: "audio",
    Slot.TILE_VIDEO: "video",
    Slot.TILE_AUDIO: "audio",
}


def layout_for(role: Role, tiles: int = 0) -> list[Slot]:
    """The m-line order of an offer from a participant of this role.

    The lecturer sees each classroom in a tile: a (video, audio) pair appended per tile.
    """
    if role is Role.LECTURER:
        return [Slot.CAMERA, Slot.MICROPHONE, Slot.SCREEN] + [
            Slot.TILE_VIDEO,
            Slot.TILE_AUDIO,
        ] * tiles
    receive = [
        Slot.LECTURER_VIDEO,
        Slot.LECTURER_AUDIO,
        Slot.SCREEN_VIDEO,
        Slot.STAGE_VIDEO,
        Slot.STAGE_AUDIO,
    ]
    if role is Role.CLASSROOM:
        return [Slot.CAMERA, Slot.MICROPHONE, *receive]
    if role is Role.RECORDER:
        return receive
    return []


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Request(Message):
    """A client message; with an ``id`` it gets an ``ack`` or an ``error`` carrying that id."""

    id: RequestId | None = None


# ---------------------------------------------------------------- client -> hub


class Join(Request):
    type: Literal["join"] = "join"
    v: Literal[1] = PROTOCOL_VERSION
    token: str = Field(min_length=10, max_length=4096)
    codecs: list[Annotated[str, Field(max_length=16)]] = Field(
        default_factory=lambda: ["VP8", "opus"], max_length=16
    )
    name: str | None = Field(default=None, max_length=120)
    # The lesson the client means to join; when given it must match the token's lesson.
    lesson: int | None = Field(default=None, ge=1)


class Offer(Request):
    type: Literal["offer"] = "offer"
    sdp: str = Field(min_length=1, max_length=MAX_SDP_CHARS)


class IceCandidate(Request):
    type: Literal["ice_candidate"] = "ice_candidate"
    candidate: str = Field(max_length=1024)
    sdp_mid: str | None = Field(default=None, max_length=32)
    sdp_mline_index: int | None = Field(default=None, ge=0, le=1024)


class Leave(Request):
    type: Literal["leave"] = "leave"


class RaiseHand(Request):
    type: Literal["raise_hand"] = "raise_hand"


class LowerHand(Request):
    type: Literal["lower_hand"] = "lower_hand"
    # The lecturer may lower a classroom's hand; a classroom lowers its own.
    participant: Id | None = None


class StageOn(Request):
    type: Literal["stage_on"] = "stage_on"
    participant: Id


class StageOff(Request):
    type: Literal["stage_off"] = "stage_off"


class ScreenShare(Request):
    type: Literal["screen_share"] = "screen_share"
    on: bool


class Chat(Request):
    type: Literal["chat"] = "chat"
    text: str = Field(min_length=1, max_length=MAX_TEXT)


class MuteRequest(Request):
    """The lecturer asks a classroom to mute (or allows it to unmute)."""

    type: Literal["mute_request"] = "mute_request"
    participant: Id
    muted: bool = True


class SetMuted(Request):
    """A participant reports its own microphone state."""

    type: Literal["set_muted"] = "set_muted"
    muted: bool


class Listen(Request):
    """The lecturer chooses which classroom tile it hears (None: all tiles silent)."""

    type: Literal["listen"] = "listen"
    participant: Id | None = None


class AudioOnly(Request):
    """A participant on a poor link asks to receive audio only (or video again)."""

    type: Literal["audio_only"] = "audio_only"
    enabled: bool


DeviceState = Literal["ok", "off", "missing"]


class DeviceHealth(Message):
    """A classroom PC's devices as its agent sees them: ``missing`` is a device that could not
    be opened or stopped working (the agent keeps retrying it), ``off`` one turned off on
    purpose (``--display none``). The lecturer's tile shows every ``missing`` one."""

    camera: DeviceState = "ok"
    microphone: DeviceState = "ok"
    speaker: DeviceState = "ok"
    display: DeviceState = "ok"


class StatsReport(Request):
    type: Literal["stats"] = "stats"
    fps: float | None = Field(default=None, ge=0, le=1000)
    bitrate_kbps: float | None = Field(default=None, ge=0, le=1e6)
    loss: float | None = Field(default=None, ge=0, le=1)
    rtt_ms: float | None = Field(default=None, ge=0, le=1e6)
    freezes: int | None = Field(default=None, ge=0, le=1_000_000)
    devices: DeviceHealth | None = None


class Pong(Request):
    type: Literal["pong"] = "pong"


# A classroom's quick replies to the lecturer, one tap or key each (the assistant teacher's).
ReplyKind = Literal["cant_hear", "cant_see", "slower", "done", "help"]
REPLY_KINDS: Final[tuple[str, ...]] = ("cant_hear", "cant_see", "slower", "done", "help")
QuestionKind = Literal["choice", "true_false", "number"]
CHOICE_LETTERS: Final = "ABCDEF"
TRUE_FALSE: Final[tuple[str, ...]] = ("true", "false")
MAX_ROOM_COUNT = 10_000  # pupils in one room answering one option: far above any real room
MAX_NUMBER = 1e12
MAX_QUESTION_TEXT = 500
MAX_MARK_TEXT = 120


class QuickReply(Request):
    """A classroom tells the lecturer: can't hear, can't see, slower, done, need help."""

    type: Literal["quick_reply"] = "quick_reply"
    kind: ReplyKind


class ClearReply(Request):
    """The lecturer acknowledges a classroom's quick replies (one kind, or all of them)."""

    type: Literal["clear_reply"] = "clear_reply"
    participant: Id
    kind: ReplyKind | None = None


class OpenQuestion(Request):
    """The lecturer asks every classroom a question (an open one is closed first)."""

    type: Literal["open_question"] = "open_question"
    text: str = Field(default="", max_length=MAX_QUESTION_TEXT)
    kind: QuestionKind = "choice"
    # Choice questions only: how many options, A.. (2-6).
    options: int = Field(default=4, ge=2, le=len(CHOICE_LETTERS))
    time_limit_s: int | None = Field(default=None, ge=5, le=3600)
    # Whether a classroom may answer again (its new answer replaces the old one).
    allow_change: bool = False


class AnswerQuestion(Request):
    """A classroom answers for its room: counts per option, or its one agreed answer (a
    choice letter, ``true``/``false``, or a number for a number question)."""

    type: Literal["answer_question"] = "answer_question"
    question: int = Field(ge=1)
    counts: (
        dict[
            Annotated[str, Field(min_length=1, max_length=5)],
            Annotated[int, Field(ge=0, le=MAX_ROOM_COUNT)],
        ]
        | None
    ) = Field(default=None, max_length=len(CHOICE_LETTERS))
    choice: str | None = Field(default=None, min_length=1, max_length=5)
    value: float | None = Field(default=None, ge=-MAX_NUMBER, le=MAX_NUMBER, allow_inf_nan=False)

    @model_validator(mode="after")
    def _one_way(self) -> AnswerQuestion:
        given = sum(x is not None for x in (self.counts, self.choice, self.value))
        if given != 1:
            raise ValueError("give exactly one of counts, choice, value")
        if self.counts is not None and not any(self.counts.values()):
            raise ValueError("counts must not all be zero")
        return self


class RevealQuestion(Request):
    """The lecturer shows every projector the correct answer."""

    type: Literal["reveal_question"] = "reveal_question"
    question: int = Field(ge=1)
    # A choice letter, ``true``/``false``, or a number written out (a number question).
    correct: str = Field(min_length=1, max_length=32)


class CloseQuestion(Request):
    type: Literal["close_question"] = "close_question"
    question: int = Field(ge=1)


class Mark(Request):
    """The lecturer marks this moment of the lesson: a named chapter of its recording."""

    type: Literal["mark"] = "mark"
    label: str = Field(default="", max_length=MAX_MARK_TEXT)


ClientMessage = Annotated[
    Join
    | Offer
    | IceCandidate
    | Leave
    | RaiseHand
    | LowerHand
    | StageOn
    | StageOff
    | ScreenShare
    | Chat
    | MuteRequest
    | SetMuted
    | Listen
    | AudioOnly
    | StatsReport
    | Pong
    | QuickReply
    | ClearReply
    | OpenQuestion
    | AnswerQuestion
    | RevealQuestion
    | CloseQuestion
    | Mark,
    Field(discriminator="type"),
]
CLIENT_TYPES = frozenset(
    m.model_fields["type"].default
    for m in (
        Join, Offer, IceCandidate, Leave, RaiseHand, LowerHand, StageOn, StageOff,
        ScreenShare, Chat, MuteRequest, SetMuted, Listen, AudioOnly, StatsReport, Pong,
        QuickReply, ClearReply, OpenQuestion, AnswerQuestion, RevealQuestion, CloseQuestion,
        Mark,
    )
)  # fmt: skip

# ---------------------------------------------------------------- hub -> client


class IceServer(Message):
    urls: list[str]
    username: str | None = None
    credential: str | None = None


class ParticipantInfo(Message):
    id: Id
    role: Role
    name: str
    classroom_id: int | None = None
    hand_raised: bool = False
    muted: bool = False
    on_stage: bool = False
    # Receiving audio only (a poor link); the lecturer's tile shows it.
    audio_only: bool = False
    # The devices last reported by a classroom agent (None: never reported, e.g. a browser).
    devices: DeviceHealth | None = None
    # A lecturer's media over WHIP (OBS, a lecture-capture box): "camera" (camera and
    # microphone) or "screen"; while it is here the lecturer page's own are not forwarded.
    whip: Literal["camera", "screen"] | None = None
    # The lecturer's camera and microphone pushed over RTMP (a lecture-capture box, the RTMP
    # bridge); like a WHIP camera, the page's own are then not forwarded.
    rtmp: bool = False


class QuestionInfo(Message):
    """A question as every member sees it (``number`` counts the lesson's questions)."""

    id: int
    number: int
    text: str
    kind: QuestionKind
    options: list[str]
    opened_at: float
    closes_at: float | None = None
    # Seconds left of the time limit when this was sent: projectors count down from it on their
    # own clock (a classroom PC's clock may be minutes off the hub's, so closes_at is not used).
    time_left_s: float | None = None
    allow_change: bool = False
    correct: str | None = None
    closed: bool = False


class RoomAnswer(Message):
    """One classroom's answer, as the lecturer sees it."""

    participant: Id
    name: str
    classroom_id: int | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    # The room's one agreed answer (instead of counts).
    choice: str | None = None
    value: float | None = None
    at: float


class Joined(Message):
    type: Literal["joined"] = "joined"
    id: RequestId | None = None
    participant: ParticipantInfo
    lesson_id: int
    lesson_title: str
    participants: list[ParticipantInfo]
    hands: list[Id]
    stage: Id | None
    screen_sharing: bool
    ice_servers: list[IceServer]
    video_codec: str
    layout: list[Slot]
    recording: bool = False
    recording_note: str | None = None
    # The question open now (a classroom joining late answers it too).
    question: QuestionInfo | None = None
    # How long a quick reply stays on the lecturer's tile unless acknowledged.
    reply_clear_s: float = 60.0


class Answer(Message):
    type: Literal["answer"] = "answer"
    id: RequestId | None = None
    sdp: str
    # mid -> slot, and for tiles the classroom shown in it
    slots: dict[str, Slot]
    tiles: dict[str, Id | None] = Field(default_factory=dict)


class ServerIceCandidate(Message):
    type: Literal["ice_candidate"] = "ice_candidate"
    candidate: str
    sdp_mid: str | None = None
    sdp_mline_index: int | None = None


class Renegotiate(Message):
    """The hub needs a new offer, with this many lecturer tiles."""

    type: Literal["renegotiate"] = "renegotiate"
    tiles: int = Field(ge=0)


class TilesChanged(Message):
    """Which classroom each of the lecturer's tile m-lines shows now (mid -> participant)."""

    type: Literal["tiles"] = "tiles"
    tiles: dict[str, Id | None]


class ParticipantJoined(Message):
    type: Literal["participant_joined"] = "participant_joined"
    participant: ParticipantInfo


class ParticipantLeft(Message):
    type: Literal["participant_left"] = "participant_left"
    participant: Id
    reason: str = "left"


class HandRaised(Message):
    type: Literal["hand_raised"] = "hand_raised"
    participant: Id
    hands: list[Id]


class HandLowered(Message):
    type: Literal["hand_lowered"] = "hand_lowered"
    participant: Id
    hands: list[Id]


class StageChanged(Message):
    type: Literal["stage_changed"] = "stage_changed"
    participant: Id | None
    # Classrooms are not told of each other's comings and goings: the name rides along.
    name: str | None = None


class ScreenShareChanged(Message):
    type: Literal["screen_share_changed"] = "screen_share_changed"
    on: bool


class ChatMessage(Message):
    type: Literal["chat"] = "chat"
    sender: Id
    sender_name: str
    text: str
    at: float


class MuteRequested(Message):
    type: Literal["mute_requested"] = "mute_requested"
    muted: bool
    by: Id


class MutedChanged(Message):
    type: Literal["muted_changed"] = "muted_changed"
    participant: Id
    muted: bool


class ParticipantStats(Message):
    participant: Id
    bitrate_in_kbps: float = 0.0
    bitrate_out_kbps: float = 0.0
    packet_loss: float = 0.0
    rtt_ms: float | None = None
    fps: float | None = None
    quality: Literal["good", "fair", "poor", "unknown"] = "unknown"
    devices: DeviceHealth | None = None
    # Why the verdict is not good, most serious first (streamhub.quality.Reason).
    reasons: list[str] = Field(default_factory=list)
    audio_only: bool = False
    # What the participant says it receives (a classroom agent's or page's own report).
    received_fps: float | None = None
    received_kbps: float | None = None


class StatsSummary(Message):
    type: Literal["stats_summary"] = "stats_summary"
    participants: list[ParticipantStats]


class RecordingChanged(Message):
    type: Literal["recording_changed"] = "recording_changed"
    recording: bool
    reason: str | None = None


class AudioOnlyChanged(Message):
    """The hub turned a participant's video off (or on again) by itself, e.g. under overload."""

    type: Literal["audio_only_changed"] = "audio_only_changed"
    participant: Id
    enabled: bool
    reason: str


class QuickReplied(Message):
    """A classroom's quick reply: to the lecturer (and recorder), and back to the classroom."""

    type: Literal["quick_reply"] = "quick_reply"
    participant: Id
    kind: ReplyKind
    at: float
    # This classroom's quick replies in the lesson so far, all kinds.
    count: int


class ReplyCleared(Message):
    type: Literal["reply_cleared"] = "reply_cleared"
    participant: Id
    kind: ReplyKind | None = None


class QuestionOpened(Message):
    type: Literal["question_opened"] = "question_opened"
    question: QuestionInfo


class QuestionAnswers(Message):
    """Every classroom's answer so far and the totals per option (lecturer, recorder); a
    classroom is sent its own entry back."""

    type: Literal["question_answers"] = "question_answers"
    question: int
    answers: list[RoomAnswer]
    totals: dict[str, int]


class QuestionRevealed(Message):
    type: Literal["question_revealed"] = "question_revealed"
    question: int
    correct: str


class QuestionClosed(Message):
    type: Literal["question_closed"] = "question_closed"
    question: int


class Marked(Message):
    type: Literal["marked"] = "marked"
    label: str
    at: float


class LessonEnded(Message):
    type: Literal["lesson_ended"] = "lesson_ended"


class Ack(Message):
    type: Literal["ack"] = "ack"
    id: RequestId


class Ping(Message):
    type: Literal["ping"] = "ping"


class Error(Message):
    type: Literal["error"] = "error"
    id: RequestId | None = None
    code: ErrorCode
    message: str
    # With code "redirect": the hub node that holds the lesson; join there instead.
    url: str | None = None


# The WebSocket close code of a session that ends with each code (docs/protocol.md has the
# table; tests/signaling/test_codes.py holds the two together). 1011 for codes that never end
# a session by themselves or only through an unexpected failure.
_CLOSE_GROUPS: dict[int, tuple[ErrorCode, ...]] = {
    1000: (ErrorCode.LEFT,),
    1001: (ErrorCode.SHUTDOWN,),
    4307: (ErrorCode.REDIRECT,),
    4401: (
        ErrorCode.UNAUTHORIZED,
        ErrorCode.TOKEN_MISSING,
        ErrorCode.TOKEN_INVALID,
        ErrorCode.TOKEN_EXPIRED,
        ErrorCode.TOKEN_REVOKED,
        ErrorCode.TOKEN_STALE,
        ErrorCode.CREDENTIAL_INVALID,
        ErrorCode.CREDENTIAL_REVOKED,
    ),
    4403: (ErrorCode.FORBIDDEN, ErrorCode.WRONG_LESSON, ErrorCode.NOT_INVITED),
    4404: (ErrorCode.LESSON_NOT_LIVE,),
    4408: (ErrorCode.JOIN_TIMEOUT, ErrorCode.HEARTBEAT_TIMEOUT),
    4409: (ErrorCode.REPLACED,),
    4410: (ErrorCode.LESSON_ENDED,),
    4413: (ErrorCode.TOO_LARGE,),
    4415: (ErrorCode.NO_USABLE_CODEC,),
    4429: (ErrorCode.RATE_LIMITED, ErrorCode.SLOW_CONSUMER),
    # Not final: the client joins again with a fresh token (a classroom exchanges its
    # credential anew; a lecturer link that itself expired is then refused at the join).
    4440: (ErrorCode.SESSION_EXPIRED,),
    4499: (ErrorCode.MEDIA_LOST, ErrorCode.MEDIA_TIMEOUT),
    4503: (ErrorCode.LESSON_FULL, ErrorCode.NODE_FULL),
}
INTERNAL_CLOSE = 1011
CLOSE_CODES: dict[ErrorCode, int] = {code: INTERNAL_CLOSE for code in ErrorCode} | {
    code: close for close, codes in _CLOSE_GROUPS.items() for code in codes
}


ServerMessage = Annotated[
    Joined
    | Answer
    | ServerIceCandidate
    | Renegotiate
    | TilesChanged
    | ParticipantJoined
    | ParticipantLeft
    | HandRaised
    | HandLowered
    | StageChanged
    | ScreenShareChanged
    | ChatMessage
    | MuteRequested
    | MutedChanged
    | StatsSummary
    | RecordingChanged
    | AudioOnlyChanged
    | QuickReplied
    | ReplyCleared
    | QuestionOpened
    | QuestionAnswers
    | QuestionRevealed
    | QuestionClosed
    | Marked
    | LessonEnded
    | Ack
    | Ping
    | Error,
    Field(discriminator="type"),
]

_client_adapter: TypeAdapter[Any] = TypeAdapter(ClientMessage)
_server_adapter: TypeAdapter[Any] = TypeAdapter(ServerMessage)


class MessageError(ProtocolError):
    """A message that could not be read; ``code`` is an ErrorCode, ``request_id`` if known."""

    def __init__(self, code: ErrorCode, message: str, request_id: str | None = None) -> None:
        super().__init__(message, code=code)
        self.request_id = request_id


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Last-wins resolution of duplicate keys lets a crafted message carry two "type"s.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise MessageError(ErrorCode.DUPLICATE_KEY, f"duplicate key {key!r}")
        result[key] = value
    return result


def _load_object(raw: str | bytes, max_bytes: int) -> dict[str, Any]:
    if len(raw) > max_bytes:
        raise MessageError(ErrorCode.TOO_LARGE, f"message exceeds {max_bytes} bytes")
    try:
        data = json.loads(raw, object_pairs_hook=_reject_duplicates)
    except MessageError:
        raise
    except (ValueError, RecursionError) as exc:
        raise MessageError(ErrorCode.BAD_JSON, "message is not valid JSON") from exc
    if not isinstance(data, dict):
        raise MessageError(ErrorCode.INVALID_MESSAGE, "message must be a JSON object")
    return data


def _request_id(data: dict[str, Any]) -> str | None:
    value = data.get("id")
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None


def _validate(adapter: TypeAdapter[Any], data: dict[str, Any], known: frozenset[str] | None) -> Any:
    kind = data.get("type")
    request_id = _request_id(data)
    if not isinstance(kind, str):
        raise MessageError(ErrorCode.INVALID_MESSAGE, "message has no string 'type'", request_id)
    if known is not None and kind not in known:
        raise MessageError(
            ErrorCode.UNKNOWN_TYPE, f"unknown message type {kind[:40]!r}", request_id
        )
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "message"
        raise MessageError(
            ErrorCode.INVALID_MESSAGE, f"{kind}: {where}: {first['msg']}", request_id
        ) from None


def parse_client_message(raw: str | bytes, max_bytes: int = 65536) -> Any:
    """Parse one client message; raise MessageError (never anything else) when it is bad."""
    data = _load_object(raw, max_bytes)
    version = data.get("v")
    if data.get("type") == "join" and type(version) is int and version != PROTOCOL_VERSION:
        # A newer (or older) client is told so, not that its message is malformed.
        raise MessageError(
            ErrorCode.UNSUPPORTED_VERSION,
            f"protocol version {version} is not supported; this hub speaks {PROTOCOL_VERSION}",
            _request_id(data),
        )
    return _validate(_client_adapter, data, CLIENT_TYPES)


_CODES = frozenset(code.value for code in ErrorCode)
MAX_UNKNOWN_FIELDS = 16  # a bound on the retries, not a limit any real message reaches


def parse_server_message(raw: str | bytes, max_bytes: int = 1 << 22) -> Any:
    """Parse one hub message (used by the client SDK).

    A classroom PC's agent is updated long after its hub: fields a newer hub adds are left
    out (a tolerant reader), and only what this version knows is checked. The hub stays strict
    with what clients send."""
    data = _load_object(raw, max_bytes)
    if data.get("type") == "error" and data.get("code") not in _CODES:
        # A code a newer hub added: still an error reply, of a kind this version cannot name.
        data["code"] = ErrorCode.UNKNOWN.value
    for _ in range(MAX_UNKNOWN_FIELDS):
        try:
            return _server_adapter.validate_python(data)
        except ValidationError as exc:
            unknown = [e["loc"][1:] for e in exc.errors() if e["type"] == "extra_forbidden"]
            if not unknown or not all(_drop(data, path) for path in unknown):
                break
    return _validate(_server_adapter, data, None)


def _drop(data: Any, path: tuple[int | str, ...]) -> bool:
    """Remove the field at ``path`` (as pydantic locates it) from ``data``."""
    try:
        for key in path[:-1]:
            data = data[key]
        del data[path[-1]]
    except (KeyError, IndexError, TypeError):
        return False
    return True


def dump(message: Message) -> str:
    # An error's url is only meaningful for a redirect: leave it out otherwise.
    exclude = {"url"} if isinstance(message, Error) and message.url is None else None
    return message.model_dump_json(exclude_none=False, exclude=exclude)
