"""What the classroom sends.

--video-source camera[:auto|N|NAME] (the default: the PC's camera) | testpattern | file:PATH
| none, and --audio-source mic[:auto|NAME] (the default: the PC's microphone) | tone |
file:PATH | none. The synthetic ones are for tests and benchmarks.

Devices (camera.Camera, microphone.Microphone) live as long as the agent; tracks are made
per session, because aiortc stops a sender's track when its connection closes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import av
from aiortc.mediastreams import MediaStreamTrack

from classroom_agent.camera import Camera
from classroom_agent.microphone import Microphone
from streamhub.client.synthetic import PatternVideoTrack, ToneAudioTrack

logger = logging.getLogger(__name__)

VIDEO_KINDS = ("camera", "testpattern", "file", "none")
AUDIO_KINDS = ("mic", "tone", "file", "none")


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # camera | testpattern | file | mic | tone | none
    arg: str = ""

    @classmethod
    def parse(cls, text: str) -> SourceSpec:
        kind, _, arg = text.partition(":")
        if kind not in (*VIDEO_KINDS, *AUDIO_KINDS):
            raise ValueError(f"unknown source {text!r}")
        if kind == "file" and not arg:
            raise ValueError("file: needs a path (file:PATH)")
        if kind in ("camera", "mic"):
            return cls(kind, arg or "auto")
        return cls(kind, arg)

    @classmethod
    def video(cls, text: str) -> SourceSpec:
        return cls._of(text, VIDEO_KINDS, "video")

    @classmethod
    def audio(cls, text: str) -> SourceSpec:
        return cls._of(text, AUDIO_KINDS, "audio")

    @classmethod
    def _of(cls, text: str, kinds: tuple[str, ...], what: str) -> SourceSpec:
        spec = cls.parse(text)
        if spec.kind not in kinds:
            raise ValueError(f"{text!r} is not a {what} source ({', '.join(kinds)})")
        return spec

    @property
    def synthetic(self) -> bool:
        return self.kind in ("testpattern", "tone", "file")

    def __str__(self) -> str:
        return f"{self.kind}:{self.arg}" if self.arg else self.kind


def _file_track(path: str, kind: str) -> MediaStreamTrack | None:
    from aiortc.contrib.media import MediaPlayer

    try:
        player = MediaPlayer(path, loop=True)
    except (av.FFmpegError, OSError) as exc:
        logger.warning("cannot open %s: %s", path, exc)
        return None
    track = player.video if kind == "video" else player.audio
    if track is None:
        logger.warning("%s has no %s stream", path, kind)
    return track


def video_track(spec: SourceSpec, camera: Camera | None) -> MediaStreamTrack | None:
    """This session's video track, or None (logged) when there is none to send."""
    if spec.kind == "testpattern":
        return PatternVideoTrack(640, 480, 30)
    if spec.kind == "camera" and camera is not None:
        return camera.track()
    if spec.kind == "file":
        return _file_track(spec.arg, "video")
    return None


def audio_track(spec: SourceSpec, microphone: Microphone | None) -> MediaStreamTrack | None:
    """This session's microphone track, or None (logged) when there is none to send."""
    if spec.kind == "tone":
        return ToneAudioTrack(440.0, 0.1)
    if spec.kind == "mic" and microphone is not None:
        return microphone.track()
    if spec.kind == "file":
        return _file_track(spec.arg, "audio")
    return None
