"""Cut a clip out of a finalized lesson archive with PyAV: its own fast-start MP4, poster and
thumbnail.

- A clip whose start is a key frame is copied packet by packet (no decoding).
- One that starts between key frames has its head re-encoded, from the start up to the next key
  frame, and the rest copied, when the re-encoded head can share the archive's H.264 parameter
  sets: an MP4 track has one set (``avcC``) for all its samples. The archive's own encoder
  (``add_archive_encoder``, which finalize uses too) makes the same SPS and PPS for the same
  picture size, so that is the case for every archive finalize transcoded (VP8 lessons, and
  H.264 ones regridded onto the key-frame grid). For an archive whose H.264 was copied from the
  live stream the parameter sets differ and the clip's video is re-encoded whole (fast:
  ``veryfast``). Audio is always copied.
- ``snap`` moves the start back to the key frame at or before it (with the archive's 2-second
  key-frame grid, at most 2 s earlier), and the whole clip is a copy.

CPU-bound and blocking: run it in an executor.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
from av.video.frame import PictureType

CLIP = "clip.mp4"
POSTER = "poster.jpg"
THUMB = "thumb.jpg"
POSTER_WIDTH = 640
THUMB_WIDTH = 320
KEYFRAME_EVERY_S = 2.0
VIDEO_TB = Fraction(1, 90000)
# A start this close after a key frame is on it (less than a frame at 30 fps).
ON_KEY_S = 0.02
# The archive's H.264 encoder (libx264 options): the same here and in finalize, so that a
# clip's re-encoded head has the archive's parameter sets.
ARCHIVE_X264 = {"preset": "veryfast", "crf": "26", "forced-idr": "1"}


def add_archive_encoder(container: Any, size: tuple[int, int]) -> Any:
    """An H.264 output stream as the archive has it: key frames only where a frame is marked
    I (the caller's grid; ``gop_size`` is only a cap), no B-frames (a cut then ends exactly
    where it is cut), a forced key frame an IDR frame (where a clip can start)."""
    out = container.add_stream("libx264", rate=30)
    out.width, out.height = size
    out.pix_fmt = "yuv420p"
    out.time_base = VIDEO_TB
    out.codec_context.time_base = VIDEO_TB
    out.codec_context.gop_size = 600
    out.codec_context.max_b_frames = 0
    out.codec_context.options = dict(ARCHIVE_X264)
    return out


def parameter_sets(extradata: bytes | None) -> frozenset[bytes]:
    """The SPS and PPS NAL units of H.264 extradata, in avcC (MP4) or Annex B (an encoder's)."""
    data = bytes(extradata or b"")
    found: list[bytes] = []
    if data[:1] == b"\x01" and len(data) >= 7:
        i, count = 6, data[5] & 0x1F
        for table in range(2):
            for _ in range(count):
                n = int.from_bytes(data[i : i + 2], "big")
                found.append(data[i + 2 : i + 2 + n])
                i += 2 + n
            if table == 0 and i < len(data):
                count, i = data[i], i + 1
    else:
        for unit in data.replace(b"\x00\x00\x00\x01", b"\x00\x00\x01").split(b"\x00\x00\x01"):
            unit = unit.rstrip(b"\x00")
            if unit and unit[0] & 0x1F in (7, 8):
                found.append(unit)
    return frozenset(u for u in found if u)


def _length_size(extradata: bytes | None) -> int | None:
    """Bytes of each NAL unit's length in the samples of an avcC track (None: not avcC)."""
    data = bytes(extradata or b"")
    return (data[4] & 3) + 1 if data[:1] == b"\x01" and len(data) >= 5 else None


def _nal_units(data: bytes, length_size: int) -> list[bytes]:
    units, i = [], 0
    while i + length_size <= len(data):
        n = int.from_bytes(data[i : i + length_size], "big")
        i += length_size
        units.append(data[i : i + n])
        i += n
    return units


def _is_idr(data: bytes, length_size: int) -> bool:
    """An IDR frame: nothing after it refers to anything before it (a non-IDR intra frame
    may be flagged a key frame too, and later frames could still refer past it)."""
    return any(unit and unit[0] & 0x1F == 5 for unit in _nal_units(data, length_size))


def _annex_b(data: bytes, length_size: int) -> bytes:
    """A sample's NAL units with start codes instead of lengths: the MP4 muxer, given an
    encoder's Annex B track, turns every sample of the track back into lengths."""
    return b"".join(b"\x00\x00\x00\x01" + unit for unit in _nal_units(data, length_size))


class CutError(Exception):
    """The archive has nothing between the two times, or cannot be read."""


@dataclass(frozen=True)
class Cut:
    start_s: float  # where the clip starts on the recording's timeline (a snapped start moves)
    end_s: float
    duration_s: float  # of the clip file, as its streams span
    reencoded: bool  # False: every packet copied from the archive
    # Where copying took over from re-encoding, on the recording's timeline (the key frame
    # after the start), or None: re-encoded to the end (or not re-encoded at all).
    copied_from_s: float | None
    size_bytes: int
    has_poster: bool


def _seconds(value: int | None, time_base: Fraction | None) -> float:
    return float(value * time_base) if value is not None and time_base is not None else 0.0


def key_frame_at_or_before(source: Path, t: float) -> float | None:
    """The time of the video key frame at or before ``t`` (the MP4 index, nothing decoded)."""
    with av.open(str(source)) as container:
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        assert stream.time_base is not None
        container.seek(int(t / stream.time_base), stream=stream, backward=True, any_frame=False)
        for packet in container.demux(stream):
            if packet.pts is not None:
                return _seconds(packet.pts, stream.time_base)
    return None


def cut_clip(
    source: Path, out_dir: Path, start_s: float, end_s: float, *, snap: bool = False
) -> Cut:
    """Write ``clip.mp4``, ``poster.jpg`` and ``thumb.jpg`` into ``out_dir`` (made here)."""
    if not end_s > start_s >= 0:
        raise CutError("the clip must end after it starts")
    key = key_frame_at_or_before(source, start_s)
    copy = key is None or snap or start_s - key <= ON_KEY_S
    clip_start = key if copy and key is not None else start_s
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / "clip.part.mp4"
    try:
        copied_from = _write(source, tmp, clip_start, end_s, copy)
        with av.open(str(tmp)) as check:
            duration = float(check.duration or 0) / av.time_base
        if duration <= 0:
            raise CutError("the recording has nothing between these times")
        tmp.replace(out_dir / CLIP)
    except av.FFmpegError as exc:
        tmp.unlink(missing_ok=True)
        raise CutError(f"the recording could not be cut: {exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    has_poster = _pictures(out_dir / CLIP, out_dir)
    return Cut(
        start_s=round(clip_start, 3),
        end_s=round(end_s, 3),
        duration_s=round(duration, 3),
        reencoded=not copy,
        copied_from_s=None if copied_from is None else round(copied_from, 3),
        size_bytes=(out_dir / CLIP).stat().st_size,
        has_poster=has_poster,
    )


def _write(source: Path, out: Path, start: float, end: float, copy: bool) -> float | None:
    """Write the clip; where a re-encoded head gave way to copying (None: it did not)."""
    with av.open(str(source)) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        streams = [s for s in (video, audio) if s is not None]
        if not streams:
            raise CutError("the recording has no media")
        output = av.open(str(out), "w", format="mp4", options={"movflags": "+faststart"})
        try:
            out_audio = output.add_stream_from_template(audio) if audio is not None else None
            out_video: Any = None
            encoder: _Encoder | None = None
            if video is not None:
                if copy:
                    out_video = output.add_stream_from_template(video)
                else:
                    encoder = _Encoder(output, video, start, end)
            # The MP4 index seeks every stream to the key frame at or before the start.
            first = streams[0]
            assert first.time_base is not None
            container.seek(int(start / first.time_base), stream=first, backward=True)
            done: set[str] = set()
            for packet in container.demux(*streams):
                stream = packet.stream
                tb = stream.time_base
                if packet.pts is None or packet.size == 0 or tb is None:
                    continue
                t = _seconds(packet.pts, tb)
                kind = stream.type
                # Video ends by decode order: a B-frame shown before the end comes after the
                # frame it refers to, which may be shown after it.
                order = t if kind == "audio" or packet.dts is None else _seconds(packet.dts, tb)
                if order >= end:
                    done.add(kind)
                    if len(done) == len(streams):
                        break
                    continue
                if kind == "audio" and out_audio is not None:
                    if t >= start - 1e-6:
                        _shift(packet, out_audio, start, tb)
                        output.mux(packet)
                elif encoder is not None:
                    encoder.feed(packet, t)
                elif out_video is not None and t >= start - 1e-6:
                    _shift(packet, out_video, start, tb)
                    output.mux(packet)
            if encoder is not None:
                encoder.finish()
        finally:
            output.close()
    return encoder.copied_from if encoder is not None else None


def _shift(packet: av.Packet[Any], out: Any, start: float, tb: Fraction) -> None:
    offset = round(start / tb)
    packet.pts = (packet.pts or 0) - offset
    packet.dts = packet.pts if packet.dts is None else packet.dts - offset
    packet.stream = out


class _Encoder:
    """The clip's video decoded from the key frame before the start and encoded from the
    start on (a key frame every ``KEYFRAME_EVERY_S`` of the clip), until the next key frame of
    the archive if its parameter sets are the encoder's: from there on, packets are copied."""

    def __init__(self, output: Any, video: Any, start: float, end: float) -> None:
        self.output, self.start, self.end = output, start, end
        context = video.codec_context
        self.decoder = av.CodecContext.create(context.name, "r")
        self.decoder.extradata = context.extradata
        self.size = (context.width - context.width % 2, context.height - context.height % 2)
        self.out = add_archive_encoder(output, self.size)
        self.source_sets = parameter_sets(context.extradata) if context.name == "h264" else None
        self.length_size = _length_size(context.extradata)
        self.copied_from: float | None = None
        self.last_pts = -1
        self.next_key = 0.0

    def feed(self, packet: av.Packet[Any], t: float) -> None:
        if self.copied_from is None and packet.is_keyframe and t > self.start + ON_KEY_S:
            if self._shares_parameter_sets() and _is_idr(bytes(packet), self.length_size or 4):
                self._decode(None)  # frames the decoder held back come before this one
                for encoded in self.out.encode(None):
                    self.output.mux(encoded)
                self.copied_from = t
        if self.copied_from is not None:
            self._copy(packet)
        else:
            self._decode(packet)

    def _shares_parameter_sets(self) -> bool:
        # The encoder is open (it has encoded a frame) once it has parameter sets to compare.
        if not self.source_sets or self.length_size is None or self.last_pts < 0:
            return False
        return parameter_sets(self.out.codec_context.extradata) == self.source_sets

    def _copy(self, packet: av.Packet[Any]) -> None:
        assert self.length_size is not None and packet.time_base is not None
        offset = round(self.start / packet.time_base)
        copied = av.Packet(_annex_b(bytes(packet), self.length_size))
        copied.pts = (packet.pts or 0) - offset
        copied.dts = copied.pts if packet.dts is None else packet.dts - offset
        copied.time_base = packet.time_base
        copied.is_keyframe = packet.is_keyframe
        copied.duration = packet.duration
        copied.stream = self.out
        self.output.mux(copied)

    def _decode(self, packet: av.Packet[Any] | None) -> None:
        try:
            frames = self.decoder.decode(packet)
        except av.FFmpegError:
            return
        for frame in frames:
            self._encode(frame)

    def _encode(self, frame: av.VideoFrame) -> None:
        if frame.pts is None or frame.time_base is None:
            return
        t = _seconds(frame.pts, frame.time_base)
        if not self.start - 1e-6 <= t < self.end:
            return
        rel = t - self.start
        image = frame.reformat(self.size[0], self.size[1], "yuv420p")
        pts = max(round(rel / VIDEO_TB), self.last_pts + 1)
        self.last_pts = pts
        image.pts, image.time_base = pts, VIDEO_TB
        key = rel + 1e-6 >= self.next_key
        if key:
            self.next_key = (int(rel / KEYFRAME_EVERY_S + 1e-6) + 1) * KEYFRAME_EVERY_S
        image.pict_type = PictureType.I if key else PictureType.NONE
        for encoded in self.out.encode(image):
            self.output.mux(encoded)

    def finish(self) -> None:
        if self.copied_from is not None:
            return  # the encoder was drained when copying began
        self._decode(None)  # frames the decoder held back
        for encoded in self.out.encode(None):
            self.output.mux(encoded)


def _pictures(clip: Path, out_dir: Path) -> bool:
    """Poster and thumbnail: the clip's picture one second in (or its last, if shorter)."""
    picked: av.VideoFrame | None = None
    with av.open(str(clip)) as container:
        if not container.streams.video:
            return False
        stream = container.streams.video[0]
        with contextlib.suppress(av.FFmpegError):
            for frame in container.decode(stream):
                picked = frame
                if frame.time is not None and frame.time >= 1.0:
                    break
    if picked is None:
        return False
    image = picked.to_ndarray(format="bgr24")
    _jpeg(image, POSTER_WIDTH, out_dir / POSTER)
    _jpeg(image, THUMB_WIDTH, out_dir / THUMB)
    return True


def _jpeg(image: Any, width: int, path: Path) -> None:
    width = min(width, image.shape[1])
    height = max(2, round(image.shape[0] * width / max(image.shape[1], 1)))
    small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 82])
    if ok:
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(np.asarray(data).tobytes())
        tmp.replace(path)
