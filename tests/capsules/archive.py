"""A small lesson archive as finalize writes one: H.264 with a key frame every 2 s, Opus audio,
fast start; every frame carries its number (``read_counter``)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.frame import PictureType

from streamhub.capsules.cut import add_archive_encoder
from streamhub.client.synthetic import stamp_counter

FPS = 15
WIDTH, HEIGHT = 320, 240
RATE = 48000


def picture(n: int) -> np.ndarray:
    """Frame ``n`` as a lesson looks: a still background, a small square moving, the frame's
    number stamped (a picture that changes all over would make every frame an intra frame)."""
    image = np.full((HEIGHT, WIDTH, 3), 90, dtype=np.uint8)
    image[HEIGHT // 2 :, :, 1] = 140
    x = (n * 4) % (WIDTH - 24)
    image[HEIGHT // 2 : HEIGHT // 2 + 24, x : x + 24] = (220, 60, 60)
    stamp_counter(image, n)
    return image


def make_archive(
    path: Path,
    seconds: float = 10.0,
    keyframe_every_s: float = 2.0,
    onset_s: float = 0.0,
    archive_encoder: bool = False,
) -> Path:
    """The tone starts at ``onset_s`` (silence before it): where it lands in a clip shows
    whether sound and picture stayed together. ``archive_encoder``: the video is encoded as
    finalize encodes it (its parameter sets; slower), else by a quick libx264 of its own."""
    frames = int(seconds * FPS)
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        if archive_encoder:
            video = add_archive_encoder(out, (WIDTH, HEIGHT))
        else:
            video = out.add_stream("libx264", rate=FPS)
            video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
            video.codec_context.gop_size = int(keyframe_every_s * FPS)
            video.codec_context.max_b_frames = 0
            video.codec_context.options = {"preset": "ultrafast", "sc_threshold": "0"}
        audio = out.add_stream("libopus", rate=RATE, layout="stereo")
        samples = 960
        t_audio = 0
        for n in range(frames):
            frame = av.VideoFrame.from_ndarray(picture(n), format="rgb24")
            frame.pts, frame.time_base = n, Fraction(1, FPS)
            if archive_encoder:
                # As finalize does: 90 kHz timestamps, an IDR frame on every grid line.
                frame.pts, frame.time_base = round(n * 90000 / FPS), Fraction(1, 90000)
                key = n % round(keyframe_every_s * FPS) == 0
                frame.pict_type = PictureType.I if key else PictureType.NONE
            out.mux(video.encode(frame))
            while t_audio < (n + 1) * RATE // FPS:
                index = t_audio + np.arange(samples)
                tone = 0.2 * np.sin(2 * np.pi * 440 * index / RATE) * (index >= onset_s * RATE)
                pcm = np.tile(tone.astype(np.float32), (2, 1))
                chunk = av.AudioFrame.from_ndarray(pcm, format="fltp", layout="stereo")
                chunk.sample_rate, chunk.pts = RATE, t_audio
                chunk.time_base = Fraction(1, RATE)
                out.mux(audio.encode(chunk))
                t_audio += samples
        out.mux(video.encode(None))
        out.mux(audio.encode(None))
    return path


def finalized_archive(directory: Path, seconds: float = 10.0) -> Path:
    """A lesson archive made by finalize itself from a VP8 segment (transcoded with the
    archive's encoder, key frames every 2 s); frames carry their numbers."""
    from recorder.finalize import finalize  # the hub's tests may use the plug-in

    directory.mkdir(parents=True, exist_ok=True)
    with av.open(str(directory / "lecturer_video-000.mkv"), "w", format="matroska") as out:
        video = out.add_stream("libvpx", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.codec_context.gop_size = 1000
        for n in range(int(seconds * FPS)):
            frame = av.VideoFrame.from_ndarray(picture(n), format="rgb24")
            frame.pts, frame.time_base = n, Fraction(1, FPS)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    finalize(directory, keyframe_every_s=2.0)
    return directory / "lesson.mp4"
