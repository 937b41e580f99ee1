"""Exponential backoff with full jitter, capped so a restarted hub is rejoined quickly."""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, base_s: float = 0.5, cap_s: float = 5.0, factor: float = 2.0) -> None:
        self.base_s, self.cap_s, self.factor = base_s, cap_s, factor
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap_s, self.base_s * self.factor**self.attempt)
        self.attempt += 1
        # Half fixed, half random: never zero (no tight loop), still spread across classrooms.
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.attempt = 0
