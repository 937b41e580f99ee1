"""Key frame requests (PLI) to a publisher: at once for a subscriber that waits, coalesced for
repairs, so one bad link cannot flood the lecturer."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

# A PLI whose key frame has not come after this long is taken as lost: the next request sends.
IN_FLIGHT_TIMEOUT_S = 1.0


class KeyframeRequester:
    """Key frame requests to one publisher.

    - ``request(urgent=True)``: a subscriber joined, its slot switched or its video resumed; it
      shows nothing until a key frame comes, so a PLI goes out at once, unless one is already
      in flight (sent, its key frame not seen yet): that key frame serves every subscriber
      waiting for one, so requests are coalesced only then.
    - ``request()``: a repair (a subscriber lost packets or fell behind, or asked itself): at most
      one PLI per ``interval_s``, coalesced.
    - ``keyframe_arrived()``: the publisher's key frame is here; nothing is in flight any more.
    """

    def __init__(
        self,
        send: Callable[[], Awaitable[bool]],
        interval_s: float = 0.5,
        on_sent: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send = send
        self._interval_s = interval_s
        self._on_sent = on_sent
        self._clock = clock
        self._last_sent = -1e9
        self._in_flight_since: float | None = None
        self._pending: asyncio.Task[None] | None = None
        self._pending_at = 0.0  # when the pending task will send
        self._closed = False
        self.requested = 0
        self.sent = 0
        self.coalesced = 0
        self._counted = (0, 0)

    @property
    def in_flight(self) -> bool:
        since = self._in_flight_since
        return since is not None and self._clock() - since < IN_FLIGHT_TIMEOUT_S

    def request(self, urgent: bool = False) -> None:
        if self._closed:
            return
        self.requested += 1
        now = self._clock()
        if self.in_flight:
            self.coalesced += 1
            return
        at = now if urgent else max(now, self._last_sent + self._interval_s)
        if self._pending is not None:
            if self._pending_at <= at:
                self.coalesced += 1
                return
            # An urgent request overtakes a repair that waits for its interval.
            self._pending.cancel()
        self._pending_at = at
        self._pending = asyncio.get_running_loop().create_task(self._send_at(at - now))

    def keyframe_arrived(self) -> None:
        self._in_flight_since = None

    def take_counts(self) -> tuple[int, int]:
        """(requested, sent) since the previous call, for metrics counters that only go up."""
        requested, sent = self.requested - self._counted[0], self.sent - self._counted[1]
        self._counted = (self.requested, self.sent)
        return requested, sent

    async def _send_at(self, delay: float) -> None:
        try:
            if delay > 0:
                await asyncio.sleep(delay)
            self._pending = None
            now = self._clock()
            self._last_sent = now
            if await self._send():
                self._in_flight_since = now
                self.sent += 1
                if self._on_sent is not None:
                    self._on_sent()
            else:
                # No SSRC seen yet: the first key frame is on its way anyway; a repair may ask
                # again soon.
                self._last_sent = now - self._interval_s / 2
        except asyncio.CancelledError:
            raise
        except (ConnectionError, asyncio.InvalidStateError):
            pass
        except Exception:
            logger.exception("keyframe request failed")
        finally:
            if self._pending is asyncio.current_task():
                self._pending = None

    async def close(self) -> None:
        self._closed = True
        task, self._pending = self._pending, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
