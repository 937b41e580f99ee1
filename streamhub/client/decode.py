"""Decoding for clients that need pixels or samples (display, playback, probes).

Received tracks yield encoded packets (the hub's tap is process-wide); decode once, here.
"""

from __future__ import annotations

from typing import Any

import av
from av.audio.codeccontext import AudioCodecContext
from av.codec.context import CodecContext
from av.video.codeccontext import VideoCodecContext

_DECODERS = {"vp8": "vp8", "h264": "h264", "opus": "libopus"}


class FrameDecoder:
    def __init__(self, codec_name: str) -> None:
        name = _DECODERS.get(codec_name.lower())
        if name is None:
            raise ValueError(f"no decoder for {codec_name}")
        context = CodecContext.create(name, "r")
        assert isinstance(context, AudioCodecContext | VideoCodecContext)
        if isinstance(context, AudioCodecContext):
            context.sample_rate = 48000
            context.layout = "stereo"
        self.context = context

    @classmethod
    def for_kind(cls, kind: str, video_codec: str = "VP8") -> FrameDecoder:
        return cls(video_codec if kind == "video" else "opus")

    def decode(self, packet: av.Packet[Any]) -> list[av.frame.Frame]:
        """Decode one packet (CPU work: call it from an executor on a busy loop)."""
        try:
            return list(self.context.decode(packet))
        except av.FFmpegError:
            return []
