"""The StreamHub client SDK: join a lesson, publish tracks, receive tracks and events."""

from streamhub.client.events import Closed, ConnectionStateChanged, TrackReceived
from streamhub.client.session import ClientError, LessonClient, signaling_url

__all__ = [
    "ClientError",
    "Closed",
    "ConnectionStateChanged",
    "LessonClient",
    "TrackReceived",
    "signaling_url",
]
