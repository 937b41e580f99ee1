"""The ports a plug-in of the hub implements (the recorder is one): composed where the app is
assembled (``create_app(settings, extensions=[...])``), never imported by the hub itself.

A plug-in depends on the hub, never the reverse: it is told of each lesson's life here, and it
takes part in a lesson as a ``LessonMember``, a member with no WebRTC leg
(``streamhub.signaling.local.LocalSession``: frames straight from the forwarder).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

from streamhub.lesson.ports import LessonInfo
from streamhub.protocol import Joined, Slot


class LessonMember(Protocol):
    """A member that receives a lesson's frames and events. The client SDK's ``LessonClient``
    is one too (over WebRTC), so a plug-in's code runs in or out of the hub alike."""

    @property
    def tracks(self) -> Mapping[Slot, Any]: ...

    async def connect(self, publish: Mapping[Slot, Any] | None = None) -> Joined: ...

    def events(self) -> AsyncIterator[Any]: ...

    async def close(self) -> None: ...


class LessonExtension(Protocol):
    """A plug-in of the hub's lessons. ``start`` runs once the registry runs, with the lesson
    hooks already in place (what ``start`` brings live is seen); ``close`` before it closes."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def lesson_started(self, info: LessonInfo) -> None:
        """A lesson went live on this node."""
        ...

    async def lesson_ended(self, info: LessonInfo) -> None:
        """A lesson held on this node ended."""
        ...

    async def lesson_ended_elsewhere(self, lesson_id: int) -> None:
        """A lesson this node does not hold ended (on another node, or on one that died)."""
        ...
