"""StreamHub's exception tree and its codes.

Each error carries a stable machine-readable ``code``, an ``ErrorCode``; HTTP responses map it
to problem+json in ``streamhub.api.problems`` and the signaling socket to a typed ``error``
message and a close code (``streamhub.protocol.CLOSE_CODES``): one place each. The codes are
documented, with their close codes, in docs/protocol.md (a test holds the two together).
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Every code an error, a problem+json body or a closed session carries."""

    # A signaling message that could not be used.
    BAD_JSON = "bad_json"
    DUPLICATE_KEY = "duplicate_key"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_MESSAGE = "invalid_message"
    UNSUPPORTED_VERSION = "unsupported_version"
    TOO_LARGE = "too_large"
    RATE_LIMITED = "rate_limited"
    NOT_JOINED = "not_joined"
    ALREADY_JOINED = "already_joined"
    BAD_STATE = "bad_state"
    BAD_REQUEST = "bad_request"
    PROTOCOL_ERROR = "protocol_error"
    NOT_FOUND = "not_found"
    INTERNAL = "internal"
    # A classroom's answer to the lecturer's question.
    QUESTION_CLOSED = "question_closed"
    ALREADY_ANSWERED = "already_answered"
    # Who may join, and where.
    UNAUTHORIZED = "unauthorized"
    TOKEN_MISSING = "token_missing"
    TOKEN_INVALID = "token_invalid"
    TOKEN_EXPIRED = "token_expired"
    TOKEN_REVOKED = "token_revoked"
    TOKEN_STALE = "token_stale"
    CREDENTIAL_INVALID = "credential_invalid"
    CREDENTIAL_REVOKED = "credential_revoked"
    SESSION_EXPIRED = "session_expired"
    # People's accounts (HTTP only).
    SIGN_IN_FAILED = "sign_in_failed"
    ACCOUNT_DISABLED = "account_disabled"
    FORBIDDEN = "forbidden"
    WRONG_LESSON = "wrong_lesson"
    NOT_INVITED = "not_invited"
    LESSON_NOT_LIVE = "lesson_not_live"
    NO_LIVE_LESSON = "no_live_lesson"
    LESSON_FULL = "lesson_full"
    NODE_FULL = "node_full"
    TOO_MANY_RECORDERS = "too_many_recorders"
    REDIRECT = "redirect"
    # Media.
    NEGOTIATION_FAILED = "negotiation_failed"
    NO_USABLE_CODEC = "no_usable_codec"
    CANDIDATE_REFUSED = "candidate_refused"
    MEDIA_TIMEOUT = "media_timeout"
    MEDIA_LOST = "media_lost"
    # Why the hub ended a session (close reasons; never in an ``error`` reply).
    JOIN_TIMEOUT = "join_timeout"
    HEARTBEAT_TIMEOUT = "heartbeat_timeout"
    REPLACED = "replaced"
    LESSON_ENDED = "lesson_ended"
    SLOW_CONSUMER = "slow_consumer"
    SHUTDOWN = "shutdown"
    LEFT = "left"
    # HTTP only (problem+json).
    CONFLICT = "conflict"
    LESSON_LIVE = "lesson_live"
    BAD_SCHEDULE = "bad_schedule"
    RECORDING_RECORDING = "recording_recording"
    RECORDING_STOPPED = "recording_stopped"
    RECORDING_FINALIZING = "recording_finalizing"
    BAD_OFFER = "bad_offer"
    PROBES_BUSY = "probes_busy"
    UNAVAILABLE = "unavailable"
    VALIDATION_FAILED = "validation_failed"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    BODY_TIMEOUT = "body_timeout"
    BODY_TOO_LARGE = "body_too_large"
    # WHIP (HTTP only).
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    NOT_ACCEPTABLE = "not_acceptable"
    PRECONDITION_FAILED = "precondition_failed"
    ICE_RESTART_UNSUPPORTED = "ice_restart_unsupported"
    ORIGIN_NOT_ALLOWED = "origin_not_allowed"
    WHIP_BUSY = "whip_busy"
    WHIP_ENDED = "whip_ended"
    LECTURER_SLOTS_TAKEN = "lecturer_slots_taken"
    WHIP_SESSION_NOT_FOUND = "whip_session_not_found"
    # The RTMP bridge (HTTP only: a refused push hears it in RTMP's own onStatus).
    RTMP_DISABLED = "rtmp_disabled"
    # The timetable's import (HTTP only): the file, then its rows.
    TIMETABLE_UNREADABLE = "timetable_unreadable"
    TIMETABLE_TOO_LARGE = "timetable_too_large"
    TIMETABLE_INVALID = "timetable_invalid"
    # Subjects and grades (HTTP only): a lesson given one the county does not have, or retired.
    UNKNOWN_SUBJECT = "unknown_subject"
    UNKNOWN_GRADE = "unknown_grade"
    NAME_TAKEN = "name_taken"
    # This school has turned downloads of its recordings and capsules off.
    DOWNLOADS_OFF = "downloads_off"
    # A retention policy for this school and subject exists already.
    POLICY_EXISTS = "policy_exists"
    # The process itself.
    CONFIG_INVALID = "config_invalid"
    # The client SDK's own (streamhub.client): never sent by the hub.
    CLOSED = "closed"
    NOT_CONNECTED = "not_connected"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    UNEXPECTED_REPLY = "unexpected_reply"
    # What the client SDK reads in place of a code its version does not know (a newer hub's).
    UNKNOWN = "unknown"


class StreamhubError(Exception):
    """Base of every error StreamHub raises on purpose."""

    code: ErrorCode = ErrorCode.INTERNAL
    status = 500

    def __init__(self, message: str = "", *, code: ErrorCode | None = None) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(StreamhubError):
    """The configuration is invalid."""

    code = ErrorCode.CONFIG_INVALID


class BadRequest(StreamhubError):
    """The request is malformed."""

    code = ErrorCode.BAD_REQUEST
    status = 400


class Unauthorized(StreamhubError):
    """A valid token is required."""

    code = ErrorCode.UNAUTHORIZED
    status = 401


class Forbidden(StreamhubError):
    """The token does not grant this."""

    code = ErrorCode.FORBIDDEN
    status = 403


class NotFound(StreamhubError):
    """No such resource."""

    code = ErrorCode.NOT_FOUND
    status = 404


class Conflict(StreamhubError):
    """The resource is not in a state that allows this."""

    code = ErrorCode.CONFLICT
    status = 409


class Redirect(StreamhubError):
    """Another hub node holds this lesson's media: connect there."""

    code = ErrorCode.REDIRECT
    status = 307

    def __init__(self, url: str) -> None:
        super().__init__(f"this lesson is served by {url}")
        self.url = url


class RateLimited(StreamhubError):
    """Too many requests; slow down."""

    code = ErrorCode.RATE_LIMITED
    status = 429


class Unavailable(StreamhubError):
    """A dependency is unavailable."""

    code = ErrorCode.UNAVAILABLE
    status = 503


class ProtocolError(BadRequest):
    """A signaling message broke the protocol."""

    code = ErrorCode.PROTOCOL_ERROR


class NegotiationError(BadRequest):
    """An SDP offer or answer could not be used."""

    code = ErrorCode.NEGOTIATION_FAILED
