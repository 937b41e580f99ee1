"""StreamHub's exception tree.

Each error carries a stable machine-readable ``code``; HTTP responses map it to problem+json
in ``streamhub.api.problems`` and the signaling socket to a typed ``error`` message in
``streamhub.signaling.connection``: one place each.
"""

from __future__ import annotations


class StreamhubError(Exception):
    """Base of every error StreamHub raises on purpose."""

    code = "internal"
    status = 500

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(StreamhubError):
    """The configuration is invalid."""

    code = "config_invalid"


class BadRequest(StreamhubError):
    """The request is malformed."""

    code = "bad_request"
    status = 400


class Unauthorized(StreamhubError):
    """A valid token is required."""

    code = "unauthorized"
    status = 401


class Forbidden(StreamhubError):
    """The token does not grant this."""

    code = "forbidden"
    status = 403


class NotFound(StreamhubError):
    """No such resource."""

    code = "not_found"
    status = 404


class Conflict(StreamhubError):
    """The resource is not in a state that allows this."""

    code = "conflict"
    status = 409


class Redirect(StreamhubError):
    """Another hub node holds this lesson's media: connect there."""

    code = "redirect"
    status = 307

    def __init__(self, url: str) -> None:
        super().__init__(f"this lesson is served by {url}")
        self.url = url


class RateLimited(StreamhubError):
    """Too many requests; slow down."""

    code = "rate_limited"
    status = 429


class Unavailable(StreamhubError):
    """A dependency is unavailable."""

    code = "unavailable"
    status = 503


class ProtocolError(BadRequest):
    """A signaling message broke the protocol."""

    code = "protocol_error"


class NegotiationError(BadRequest):
    """An SDP offer or answer could not be used."""

    code = "negotiation_failed"
