"""Link quality: receive meters and the audio-only decision with hysteresis. The thresholds
are the hub's (streamhub.quality): the room asks for audio only on the link the lecturer's
tile calls poor."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from streamhub.quality import THRESHOLDS


@dataclass
class Meter:
    """Counts received packets and bytes per kind; ``take`` returns rates since last take."""

    packets: dict[str, int] = field(default_factory=lambda: {"video": 0, "audio": 0})
    bytes: dict[str, int] = field(default_factory=lambda: {"video": 0, "audio": 0})
    _mark: float = field(default_factory=time.monotonic)
    _last: dict[str, tuple[int, int]] = field(default_factory=dict)

    def count(self, kind: str, size: int) -> None:
        self.packets[kind] += 1
        self.bytes[kind] += size

    def take(self) -> dict[str, tuple[float, float]]:
        """kind -> (packets per second, kbps) since the previous call."""
        now = time.monotonic()
        span = max(now - self._mark, 1e-3)
        rates = {}
        for kind in self.packets:
            packets, size = self._last.get(kind, (0, 0))
            rates[kind] = (
                (self.packets[kind] - packets) / span,
                (self.bytes[kind] - size) * 8 / 1000 / span,
            )
            self._last[kind] = (self.packets[kind], self.bytes[kind])
        self._mark = now
        return rates


class AudioOnlyPolicy:
    """Ask for audio only after ``poor_for_s`` of loss above ``max_loss`` (or of a very low
    video bitrate once video has flowed); ask for video again after ``good_for_s`` of low loss.
    """

    def __init__(
        self,
        max_loss: float = THRESHOLDS.audio_only_loss,
        min_video_kbps: float = THRESHOLDS.min_video_kbps,
        poor_for_s: float = THRESHOLDS.audio_only_after_s,
        good_for_s: float = THRESHOLDS.video_again_after_s,
    ) -> None:
        self.max_loss = max_loss
        self.min_video_kbps = min_video_kbps
        self.poor_for_s = poor_for_s
        self.good_for_s = good_for_s
        self.audio_only = False
        self.video_seen = False
        self._since: float | None = None

    def update(self, now: float, loss: float | None, video_kbps: float) -> bool | None:
        """Feed one sample; return the new audio-only wish when it changes, else None."""
        if video_kbps > self.min_video_kbps:
            self.video_seen = True
        lossy = loss is not None and loss > self.max_loss
        if self.audio_only:
            bad = loss is not None and loss > self.max_loss / 2
        else:
            # Video that stalls on a clean link is a stream problem, not a poor link: going
            # audio-only would only stop the key frame that unsticks it.
            starved = self.video_seen and video_kbps < self.min_video_kbps
            bad = lossy or (starved and loss is not None and loss > self.max_loss / 5)
        # "bad" while receiving video means switch; "not bad" while audio-only means recover.
        wants_change = bad != self.audio_only
        if not wants_change:
            self._since = None
            return None
        if self._since is None:
            self._since = now
        hold = self.good_for_s if self.audio_only else self.poor_for_s
        if now - self._since < hold:
            return None
        self._since = None
        self.audio_only = not self.audio_only
        if not self.audio_only:
            self.video_seen = False  # video must flow again before its bitrate counts
        return self.audio_only
