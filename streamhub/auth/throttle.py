"""Failed sign-ins, counted per (address, login) within a window: after too many, that pair
waits for the window to pass. Per pair, not per login, so that someone guessing a password
cannot lock its owner out. In memory: each hub node counts its own."""

from __future__ import annotations

import time
from collections import deque

# Pairs remembered at most (the oldest forgotten first): a flood of made-up logins cannot
# grow this without bound.
MAX_PAIRS = 10_000


class SignInThrottle:
    def __init__(self) -> None:
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def blocked(self, address: str, login: str, limit: int, window_s: float) -> bool:
        times = self._failures.get((address, login))
        if not times:
            return False
        cutoff = time.monotonic() - window_s
        while times and times[0] < cutoff:
            times.popleft()
        return len(times) >= limit

    def failed(self, address: str, login: str) -> None:
        key = (address, login)
        if key not in self._failures and len(self._failures) >= MAX_PAIRS:
            self._failures.pop(next(iter(self._failures)))
        self._failures.setdefault(key, deque(maxlen=1000)).append(time.monotonic())

    def succeeded(self, address: str, login: str) -> None:
        self._failures.pop((address, login), None)
