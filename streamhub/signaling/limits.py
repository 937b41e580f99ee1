"""Rate limits and the outbox of one signaling connection.

Messages are limited per kind: chat (large, fanned out to every member) far below control
messages (hands, stage, mute), and a lesson has a chat budget of its own. A refused message is a
strike; strikes decay, so only a sustained flood closes the connection. The outbox keeps
control messages ahead of chat: a member that reads slowly loses old chat lines, never a stage
change, and is disconnected only when even its control messages pile up.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from enum import Enum

from streamhub.config import SignalingSettings
from streamhub.protocol import (
    AnswerQuestion,
    AudioOnly,
    Chat,
    ClearReply,
    CloseQuestion,
    Leave,
    Listen,
    LowerHand,
    Mark,
    Message,
    MuteRequest,
    OpenQuestion,
    QuickReply,
    RaiseHand,
    RevealQuestion,
    ScreenShare,
    SetMuted,
    StageOff,
    StageOn,
)
from streamhub.queues import BULK


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.capacity = float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Strikes:
    """Refused messages, decaying at ``decay`` per second; ``add`` says when over ``limit``."""

    def __init__(self, limit: int, decay: float) -> None:
        self.limit = limit
        self.decay = decay
        self.count = 0.0
        self.stamp = time.monotonic()

    def add(self) -> bool:
        now = time.monotonic()
        self.count = max(0.0, self.count - (now - self.stamp) * self.decay) + 1
        self.stamp = now
        return self.count > self.limit


class Kind(Enum):
    CHAT = "chat"
    CONTROL = "control"
    OTHER = "other"  # offers, candidates, stats, pongs: the connection's general limit only


_CONTROL = (
    RaiseHand, LowerHand, StageOn, StageOff, ScreenShare, MuteRequest, SetMuted, Listen,
    AudioOnly, Leave, QuickReply, ClearReply, OpenQuestion, AnswerQuestion, RevealQuestion,
    CloseQuestion, Mark,
)  # fmt: skip


def kind_of(message: object) -> Kind:
    if isinstance(message, Chat):
        return Kind.CHAT
    if isinstance(message, _CONTROL):
        return Kind.CONTROL
    return Kind.OTHER


class KindLimits:
    """One bucket per limited kind of client message."""

    def __init__(self, settings: SignalingSettings) -> None:
        self.buckets = {
            Kind.CHAT: TokenBucket(settings.chat_per_second, settings.chat_burst),
            Kind.CONTROL: TokenBucket(settings.control_per_second, settings.control_burst),
        }

    def take(self, message: object) -> bool:
        bucket = self.buckets.get(kind_of(message))
        return bucket is None or bucket.take()


def lesson_chat_budget(settings: SignalingSettings) -> TokenBucket:
    return TokenBucket(settings.lesson_chat_per_second, settings.lesson_chat_burst)


class Outbox:
    """Serialized messages waiting for the socket: a control lane, bounded, whose overflow
    means the member cannot keep up at all; and a bulk lane (chat, stats), smaller, that drops
    its oldest entries instead. The writer always takes the control lane first."""

    def __init__(self, control_size: int, bulk_size: int) -> None:
        self.control: deque[str | None] = deque()
        self.bulk: deque[str] = deque()
        self.control_size = control_size
        self.bulk_size = bulk_size
        self.dropped = 0
        self._ready = asyncio.Event()

    def put(self, text: str, message: Message) -> bool:
        """Queue a message; False when the control lane is full."""
        if isinstance(message, BULK):
            if len(self.bulk) >= self.bulk_size:
                self.bulk.popleft()
                self.dropped += 1
            self.bulk.append(text)
        else:
            if len(self.control) >= self.control_size:
                return False
            self.control.append(text)
        self._ready.set()
        return True

    def finish(self) -> None:
        """What is queued in the control lane still goes out, then the writer stops."""
        self.control.append(None)
        self._ready.set()

    async def get(self) -> str | None:
        while not self.control and not self.bulk:
            self._ready.clear()
            await self._ready.wait()
        if self.control:
            return self.control.popleft()
        return self.bulk.popleft()
