"""Events the client SDK yields besides the hub's own protocol messages."""

from __future__ import annotations

from dataclasses import dataclass

from aiortc.mediastreams import MediaStreamTrack

from streamhub.protocol import Slot


@dataclass(frozen=True)
class TrackReceived:
    """A receive slot is ready; ``track.recv()`` yields encoded av.Packet."""

    slot: Slot
    track: MediaStreamTrack
    mid: str


@dataclass(frozen=True)
class ConnectionStateChanged:
    state: str


@dataclass(frozen=True)
class Closed:
    """The signaling connection closed; ``code`` is the WebSocket close code."""

    code: int | None
    reason: str
