"""Link quality: the one place its thresholds live.

The hub judges every participant's link from what it measures and what the participant
reports (loss, round trip, received frames per second, bitrate) and tells the lecturer a
plain verdict with its reasons; the classroom agent uses the same numbers for the word on
its projector and for its own decision to ask for audio only. Change a threshold here and
every one of them follows.

| measure                        | fair when       | poor when       |
|--------------------------------|-----------------|-----------------|
| packet loss                    | > 2 %           | > 8 %           |
| round trip                     | > 300 ms        | > 600 ms        |
| received frames per second     | < 15            | < 5             |
| video bitrate (while video)    |                 | < 30 kbit/s     |
| receiving audio only           |                 | always          |

A classroom agent asks for audio only after 5 s of loss above 10 % and for video again after
10 s of loss under 5 % (``AUDIO_ONLY_LOSS``, ``AUDIO_ONLY_AFTER_S``, ``VIDEO_AGAIN_AFTER_S``).

This module imports nothing but the standard library: the agent and the hub both use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Quality = Literal["good", "fair", "poor", "unknown"]
# Why a link is not good, most serious first; the pages turn each into words.
Reason = Literal["audio_only", "high_loss", "slow_round_trip", "low_fps", "low_bitrate"]


@dataclass(frozen=True)
class Thresholds:
    fair_loss: float = 0.02
    poor_loss: float = 0.08
    fair_rtt_ms: float = 300.0
    poor_rtt_ms: float = 600.0
    fair_fps: float = 15.0
    poor_fps: float = 5.0
    # Below this, video that flows is a slide show (and the agent counts video as stalled).
    min_video_kbps: float = 30.0
    # The agent's audio-only decision (classroom_agent.quality.AudioOnlyPolicy).
    audio_only_loss: float = 0.10
    audio_only_after_s: float = 5.0
    video_again_after_s: float = 10.0


THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class Verdict:
    quality: Quality
    reasons: list[Reason] = field(default_factory=list)


def judge(
    loss: float | None,
    rtt_ms: float | None = None,
    fps: float | None = None,
    video_kbps: float | None = None,
    audio_only: bool = False,
    limits: Thresholds = THRESHOLDS,
) -> Verdict:
    """The verdict on one link. ``None`` is "not measured": it never makes a link worse, and
    a link with nothing measured at all is ``unknown``."""
    if audio_only:
        # The room chose sound over pictures because the link could not carry both.
        return Verdict("poor", ["audio_only"])
    if loss is None and rtt_ms is None and fps is None:
        return Verdict("unknown")
    poor: list[Reason] = []
    fair: list[Reason] = []
    if loss is not None:
        if loss > limits.poor_loss:
            poor.append("high_loss")
        elif loss > limits.fair_loss:
            fair.append("high_loss")
    if rtt_ms is not None:
        if rtt_ms > limits.poor_rtt_ms:
            poor.append("slow_round_trip")
        elif rtt_ms > limits.fair_rtt_ms:
            fair.append("slow_round_trip")
    if fps is not None and fps > 0:
        # No frames at all is no camera (the tile says so), not a poor link.
        if fps < limits.poor_fps:
            poor.append("low_fps")
        elif fps < limits.fair_fps:
            fair.append("low_fps")
    if video_kbps is not None and fps and 0 < video_kbps < limits.min_video_kbps:
        poor.append("low_bitrate")
    if poor:
        return Verdict("poor", poor + fair)
    if fair:
        return Verdict("fair", fair)
    return Verdict("good")
