"""Keyframe requests to a publisher, coalesced so one bad link cannot flood the lecturer."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


class KeyframeRequester:
    """At most one PLI per ``interval_s``; a request inside the interval is sent at its end."""

    def __init__(
        self,
        send: Callable[[], Awaitable[bool]],
        interval_s: float = 0.5,
        on_sent: Callable[[], None] | None = None,
    ) -> None:
        self._send = send
        self._interval_s = interval_s
        self._on_sent = on_sent
        self._last_sent = -1e9
        self._pending: asyncio.Task[None] | None = None
        self._waiting = False  # the pending task has not sent yet
        self._again = False
        self._closed = False
        self.requested = 0
        self.sent = 0
        self.coalesced = 0
        self._counted = (0, 0)

    def request(self) -> None:
        if self._closed:
            return
        self.requested += 1
        if self._pending is not None:
            self.coalesced += 1
            if not self._waiting:
                # The pending PLI is already on the wire: its key frame may pass before this
                # requester's subscriber is attached, so one more follows after the interval.
                self._again = True
            return
        self._schedule()

    def _schedule(self) -> None:
        wait = self._last_sent + self._interval_s - time.monotonic()
        self._waiting = True
        self._pending = asyncio.get_running_loop().create_task(self._send_after(max(0.0, wait)))

    def take_counts(self) -> tuple[int, int]:
        """(requested, sent) since the previous call, for metrics counters that only go up."""
        requested, sent = self.requested - self._counted[0], self.sent - self._counted[1]
        self._counted = (self.requested, self.sent)
        return requested, sent

    async def _send_after(self, delay: float) -> None:
        try:
            if delay:
                await asyncio.sleep(delay)
            self._waiting = False
            self._last_sent = time.monotonic()
            if await self._send():
                self.sent += 1
                if self._on_sent is not None:
                    self._on_sent()
            else:
                # No SSRC seen yet: the first keyframe is on its way anyway, but ask again soon.
                self._last_sent = time.monotonic() - self._interval_s / 2
        except (ConnectionError, asyncio.InvalidStateError):
            pass
        except Exception:
            logger.exception("keyframe request failed")
        finally:
            self._pending = None
            if self._again and not self._closed:
                self._again = False
                self._schedule()

    async def close(self) -> None:
        self._closed = True
        task, self._pending = self._pending, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
