"""Turn a recording's segments and journal into the lesson's archive:

- ``lesson.mp4``: lecturer video and audio, fast start (moov before mdat), seekable, playable in
  Chromium. VP8 has no place in MP4 for browsers, so VP8 video is transcoded to H.264 here, after
  the lesson; H.264 is remuxed. Opus audio is remuxed (Chromium plays Opus in MP4).
- Key frames on a time grid (``keyframe_every_s``, 2 s): a live stream at a low frame rate has
  key frames 8-19 s apart, so a seek or a capsule cut would land far from where it was asked.
  A transcoded track gets a forced IDR frame at every grid line; a remuxed H.264 track cannot
  get new key frames without decoding, so one whose key frames are farther apart than the grid
  allows (``regrid_h264``) is transcoded too, and one that is close enough is copied as it is.
- ``screen.mp4`` and ``stage.mp4`` the same way, on the same timeline, when they exist;
- ``poster.jpg`` and ``thumb-NNN.jpg`` every ``thumbnail_every_s`` (frames decoded only here);
- ``manifest.json``: duration, tracks, codecs, stage periods, chapters, thumbnails.

CPU-bound and blocking: run it in an executor. Truncated segments (a killed recorder) are read
up to their last complete packet.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
from av.video.frame import PictureType

from recorder.journal import read_journal
from streamhub.capsules.cut import add_archive_encoder

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
THUMB_WIDTH = 320
KEYFRAME_EVERY_S = 2.0
# A copied H.264 track whose key frames are this many grid steps apart at most is kept as it is.
REMUX_SLACK = 1.5
VIDEO_TB = Fraction(1, 90000)
AUDIO_TB = Fraction(1, 48000)


class FinalizeError(Exception):
    """Nothing usable was recorded."""


@dataclass
class Item:
    t: float
    kind: str  # "video" | "audio"
    packet: av.Packet[Any]
    stream: Any = field(compare=False)


def _segments(directory: Path, events: list[dict[str, Any]], track: str) -> list[Path]:
    named = [e["file"] for e in events if e.get("event") == "segment" and e.get("track") == track]
    files = named or sorted(p.name for p in directory.glob(f"{track}-*.mkv"))
    return [directory / f for f in dict.fromkeys(files) if (directory / f).is_file()]


def _packets(files: list[Path], kind: str) -> Iterator[tuple[float, av.Packet[Any], Any]]:
    """Every packet of the segments, in order, with its time on the lesson timeline."""
    for path in files:
        try:
            container = av.open(str(path))
        except (av.FFmpegError, OSError) as exc:
            logger.warning("segment unreadable, skipped: %s (%s)", path.name, exc)
            continue
        with container:
            streams = [s for s in container.streams if s.type == kind]
            if not streams:
                continue
            stream = streams[0]
            try:
                for packet in container.demux(stream):
                    if packet.size == 0 or packet.pts is None or stream.time_base is None:
                        continue
                    yield float(packet.pts * stream.time_base), packet, stream
            except (av.FFmpegError, EOFError) as exc:
                # The torn tail of a segment whose writer was killed.
                logger.info("segment %s ends early: %s", path.name, exc)


def _span(files: list[Path], kind: str) -> tuple[float, float] | None:
    first = last = None
    for t, _, _ in _packets(files, kind):
        first = t if first is None else min(first, t)
        last = t if last is None else max(last, t)
    return None if first is None or last is None else (first, last)


@dataclass
class Thumbnails:
    directory: Path
    every_s: float
    taken: list[dict[str, Any]] = field(default_factory=list)
    poster: bool = False

    def offer(self, t: float, frame: av.VideoFrame) -> None:
        if not self.poster and t >= min(1.0, self.every_s):
            self._save(frame, self.directory / "poster.jpg")
            self.poster = True
        due = len(self.taken) * self.every_s
        if t >= due:
            index = len(self.taken)
            self._save(frame, self.directory / f"thumb-{index:03d}.jpg")
            self.taken.append({"t_s": round(t, 3), "index": index})

    def finish(self, last: av.VideoFrame | None) -> None:
        if not self.poster and last is not None:
            self._save(last, self.directory / "poster.jpg")
            self.poster = True

    @staticmethod
    def _save(frame: av.VideoFrame, path: Path) -> None:
        image = frame.to_ndarray(format="bgr24")
        height = max(2, round(image.shape[0] * THUMB_WIDTH / max(image.shape[1], 1)))
        small = cv2.resize(image, (THUMB_WIDTH, height), interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])
        if ok:
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(np.asarray(data).tobytes())
            tmp.replace(path)


def _probe_video(files: list[Path]) -> tuple[str, int, int] | None:
    """Codec and picture size of the first readable video segment (from its header)."""
    for path in files:
        try:
            with av.open(str(path)) as source:
                if source.streams.video:
                    context = source.streams.video[0].codec_context
                    return context.name, context.width, context.height
        except (av.FFmpegError, OSError):
            continue
    return None


def _widest_keyframe_gap(files: list[Path]) -> float:
    """The longest stretch of the video without a key frame, its tail included (demuxed only,
    nothing decoded)."""
    last_key: float | None = None
    widest = 0.0
    end = 0.0
    for t, packet, _ in _packets(files, "video"):
        end = max(end, t)
        if packet.is_keyframe:
            if last_key is not None:
                widest = max(widest, t - last_key)
            last_key = t
    if last_key is None:
        return end
    return max(widest, end - last_key)


def _add_stream_like(container: Any, files: list[Path], kind: str) -> Any | None:
    """An output stream with the parameters of the first readable segment of ``kind``."""
    for path in files:
        try:
            with av.open(str(path)) as source:
                streams = [s for s in source.streams if s.type == kind]
                if streams:
                    return container.add_stream_from_template(streams[0])
        except (av.FFmpegError, OSError):
            continue
    return None


class KeyframeThumbnails:
    """Thumbnails of a remuxed track: only its key frames are decoded (the rest is copied)."""

    def __init__(self, thumbnails: Thumbnails) -> None:
        self.thumbnails = thumbnails
        self.last_frame: av.VideoFrame | None = None
        self._decoder: Any | None = None

    def offer(self, rel: float, packet: av.Packet[Any], stream: Any) -> None:
        if not packet.is_keyframe:
            return
        if self._decoder is None:
            self._decoder = av.CodecContext.create("h264", "r")
            # Matroska keeps H.264 parameter sets in the header, not the frames.
            self._decoder.extradata = stream.codec_context.extradata
        try:
            for frame in self._decoder.decode(packet):
                self.thumbnails.offer(rel, frame)
                self.last_frame = frame
        except av.FFmpegError:
            pass  # a thumbnail is never worth the archive


class Remux:
    """H.264 video copied packet by packet into the archive."""

    def __init__(
        self,
        container: Any,
        out: Any,
        last_pts: dict[str, int],
        thumbnails: Thumbnails | None,
    ) -> None:
        self.container, self.out, self.last_pts = container, out, last_pts
        self._thumbnails = KeyframeThumbnails(thumbnails) if thumbnails is not None else None

    @property
    def last_frame(self) -> av.VideoFrame | None:
        return self._thumbnails.last_frame if self._thumbnails is not None else None

    def write(self, rel: float, packet: av.Packet[Any], stream: Any) -> bool:
        if self._thumbnails is not None:
            self._thumbnails.offer(rel, packet, stream)
        _mux(self.container, packet, self.out, rel, VIDEO_TB, self.last_pts, "video")
        return True

    def finish(self) -> None:
        pass


class Transcode:
    """Video that MP4 cannot carry for browsers (VP8), or H.264 whose key frames are too far
    apart, decoded and encoded as H.264 at the first segment's picture size, with an IDR frame
    at every ``keyframe_every_s`` of the lesson timeline."""

    def __init__(
        self,
        container: Any,
        size: tuple[int, int],
        last_pts: dict[str, int],
        thumbnails: Thumbnails | None,
        keyframe_every_s: float = KEYFRAME_EVERY_S,
    ) -> None:
        self.container, self.size, self.last_pts = container, size, last_pts
        self.thumbnails = thumbnails
        self.last_frame: av.VideoFrame | None = None
        self._decoder: Any | None = None
        self._grid = keyframe_every_s
        self._next_key = 0.0
        # The archive's encoder, shared with the capsule cutter: a clip cut between key frames
        # re-encodes its head with it and copies the rest (same parameter sets).
        out = add_archive_encoder(container, size)
        self.out = out

    def _key_due(self, rel: float) -> bool:
        if rel + 1e-6 < self._next_key:
            return False
        self._next_key = (int(rel / self._grid + 1e-6) + 1) * self._grid
        return True

    def write(self, rel: float, packet: av.Packet[Any], stream: Any) -> bool:
        """False when the packet does not decode (it is skipped)."""
        if self._decoder is None:
            self._decoder = av.CodecContext.create(stream.codec_context.name, "r")
            # Matroska keeps H.264 parameter sets in the header, not the frames.
            self._decoder.extradata = stream.codec_context.extradata
        try:
            frames = self._decoder.decode(packet)
        except av.FFmpegError:
            return False
        for frame in frames:
            if self.thumbnails is not None:
                self.thumbnails.offer(rel, frame)
            self.last_frame = frame
            # The picture size may change mid-lesson; the file keeps the first one.
            image = frame.reformat(self.size[0], self.size[1], "yuv420p")
            pts = max(round(rel / VIDEO_TB), self.last_pts["video"] + 1)
            image.pts = pts
            image.time_base = VIDEO_TB
            image.pict_type = PictureType.I if self._key_due(rel) else PictureType.NONE
            self.last_pts["video"] = pts
            for encoded in self.out.encode(image):
                self.container.mux(encoded)
        return True

    def finish(self) -> None:
        for encoded in self.out.encode(None):
            self.container.mux(encoded)


def _video_out(
    container: Any,
    video: list[Path],
    last_pts: dict[str, int],
    thumbnails: Thumbnails | None,
    tracks: list[dict[str, Any]],
    keyframe_every_s: float = KEYFRAME_EVERY_S,
    regrid_h264: bool = True,
) -> Remux | Transcode | None:
    """How the video reaches the archive (H.264 with close enough key frames remuxed,
    anything else transcoded on the key-frame grid); its output stream exists once this
    returns, and its entry is in ``tracks``."""
    probe = _probe_video(video)
    if probe is None:
        return None
    source_codec, width, height = probe
    sparse = (
        source_codec == "h264"
        and regrid_h264
        and _widest_keyframe_gap(video) > keyframe_every_s * REMUX_SLACK
    )
    if source_codec != "h264" or sparse:
        size = (width - width % 2, height - height % 2)
        tracks.append(
            {"kind": "video", "codec": "h264", "source_codec": source_codec,
             "transcoded": True, "width": size[0], "height": size[1],
             "keyframe_every_s": keyframe_every_s}
        )  # fmt: skip
        return Transcode(container, size, last_pts, thumbnails, keyframe_every_s)
    out = _add_stream_like(container, video, "video")
    if out is None:
        return None
    out.time_base = VIDEO_TB
    tracks.append(
        {"kind": "video", "codec": "h264", "source_codec": "h264",
         "transcoded": False, "width": width, "height": height}
    )  # fmt: skip
    return Remux(container, out, last_pts, thumbnails)


def build_mp4(
    out: Path,
    video: list[Path],
    audio: list[Path],
    t0: float,
    duration: float,
    progress: Callable[[float], None],
    thumbnails: Thumbnails | None = None,
    keyframe_every_s: float = KEYFRAME_EVERY_S,
    regrid_h264: bool = True,
) -> list[dict[str, Any]]:
    """Write one fast-start MP4 from video and audio segments; returns its track list.

    Every output stream exists before the first packet is written (the MP4 header is written
    then): H.264 and Opus are copied from the segments' parameters (``Remux``), VP8 becomes an
    H.264 encoder of the first segment's picture size (``Transcode``)."""
    tmp = out.with_suffix(".part.mp4")
    container = av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"})
    tracks: list[dict[str, Any]] = []
    last_pts = {"video": -1, "audio": -1}
    try:
        out_audio = _add_stream_like(container, audio, "audio")
        if out_audio is not None:
            out_audio.time_base = AUDIO_TB
            tracks.append({"kind": "audio", "codec": out_audio.codec_context.name})
        out_video = _video_out(
            container, video, last_pts, thumbnails, tracks, keyframe_every_s, regrid_h264
        )
        merged = heapq.merge(
            ((t, 0, "video", p, st) for t, p, st in _packets(video, "video")),
            ((t, 1, "audio", p, st) for t, p, st in _packets(audio, "audio")),
            key=lambda item: (item[0], item[1]),
        )
        for t, _, kind, packet, stream in merged:
            rel = max(0.0, t - t0)
            if kind == "audio":
                if out_audio is not None:
                    _mux(container, packet, out_audio, rel, AUDIO_TB, last_pts, "audio")
            elif out_video is not None and not out_video.write(rel, packet, stream):
                continue
            if duration > 0:
                progress(min(rel / duration, 1.0))
        if out_video is not None:
            out_video.finish()
        if thumbnails is not None:
            thumbnails.finish(out_video.last_frame if out_video is not None else None)
        container.close()  # writes the index (fast start): may fail on a full disk too
    except BaseException:
        # A half-written archive (a full disk) must not keep the space a retry needs.
        with contextlib.suppress(Exception):
            container.close()
        tmp.unlink(missing_ok=True)
        raise
    if not tracks or (last_pts["video"] < 0 and last_pts["audio"] < 0):
        tmp.unlink(missing_ok=True)
        return []
    tmp.replace(out)
    for track in tracks:
        track["file"] = out.name
    return tracks


def _mux(
    container: Any,
    packet: av.Packet[Any],
    stream: Any,
    rel: float,
    time_base: Fraction,
    last: dict[str, int],
    kind: str,
) -> None:
    pts = max(round(rel / time_base), last[kind] + 1)
    packet.stream = stream
    packet.time_base = time_base
    packet.pts = packet.dts = pts
    last[kind] = pts
    container.mux(packet)


def _with_lesson_chapters(
    chapters: list[dict[str, Any]],
    extra: Sequence[tuple[float, str, str]],
    start_epoch: float,
    duration: float,
) -> list[dict[str, Any]]:
    """The lesson's own chapters (questions, marks) among the recording's, by time; those
    outside the recording (before it started, after it ended) are left out."""
    added = [
        {"start_s": round(at - start_epoch, 3), "title": title[:200], "kind": kind}
        for at, title, kind in extra
        if 0 <= at - start_epoch <= duration
    ]
    return sorted(chapters + added, key=lambda c: float(c["start_s"]))


def _periods(
    events: list[dict[str, Any]], t0: float, end: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    stage: list[dict[str, Any]] = []
    chapters: list[dict[str, Any]] = [{"start_s": 0.0, "title": "Lesson"}]
    open_stage: dict[str, Any] | None = None
    for event in events:
        t = round(max(0.0, float(event.get("t", 0.0)) - t0), 3)
        if event.get("event") == "stage":
            if open_stage is not None:
                open_stage["end_s"] = t
                stage.append(open_stage)
                open_stage = None
            if event.get("participant"):
                open_stage = {
                    "start_s": t,
                    "end_s": None,
                    "participant": event["participant"],
                    "name": event.get("name", ""),
                }
        elif event.get("event") == "screen":
            title = "Screen share" if event.get("on") else "Lecturer"
            if chapters[-1]["title"] != title:
                chapters.append({"start_s": t, "title": title})
    if open_stage is not None:
        open_stage["end_s"] = round(end, 3)
        stage.append(open_stage)
    return stage, chapters


def finalize(
    directory: Path,
    *,
    thumbnail_every_s: float = 30.0,
    progress: Callable[[float], None] = lambda fraction: None,
    lesson_chapters: Sequence[tuple[float, str, str]] = (),
    keyframe_every_s: float = KEYFRAME_EVERY_S,
    regrid_h264: bool = True,
) -> dict[str, Any]:
    """Build the archive in ``directory``; returns the manifest (also written as JSON).
    ``lesson_chapters``: (epoch seconds, title, kind) of the lesson's questions and the
    lecturer's marks (streamhub.lesson.answers_record.chapters), put on the timeline."""
    events = read_journal(directory)
    tracks = {
        name: _segments(directory, events, name)
        for name in ("lecturer_video", "lecturer_audio", "screen", "stage_video", "stage_audio")
    }
    spans = [
        span
        for name, kind in (("lecturer_video", "video"), ("lecturer_audio", "audio"))
        if (span := _span(tracks[name], kind)) is not None
    ]
    if not spans:
        raise FinalizeError("no lecturer media was recorded")
    t0 = min(s[0] for s in spans)
    duration = max(s[1] for s in spans) - t0
    has_screen = bool(tracks["screen"])
    has_stage = bool(tracks["stage_video"] or tracks["stage_audio"])
    parts = 1 + has_screen + has_stage
    done = 0

    def part_progress(fraction: float) -> None:
        progress(min(0.99, (done + fraction) / parts))

    thumbs = Thumbnails(directory, thumbnail_every_s)
    files: dict[str, str | None] = {"lesson": "lesson.mp4", "screen": None, "stage": None}

    def part(
        name: str, video: list[Path], audio: list[Path], shots: Thumbnails | None
    ) -> list[dict[str, Any]]:
        made = build_mp4(
            directory / f"{name}.mp4",
            video,
            audio,
            t0,
            duration,
            part_progress,
            shots,
            keyframe_every_s,
            regrid_h264,
        )
        files[name] = f"{name}.mp4" if (directory / f"{name}.mp4").exists() else None
        return made

    out_tracks = part("lesson", tracks["lecturer_video"], tracks["lecturer_audio"], thumbs)
    done += 1
    if has_screen:
        out_tracks += [{**t, "role": "screen"} for t in part("screen", tracks["screen"], [], None)]
        done += 1
    if has_stage:
        stage = part("stage", tracks["stage_video"], tracks["stage_audio"], None)
        out_tracks += [{**t, "role": "stage"} for t in stage]
    stage_periods, chapters = _periods(events, t0, duration)
    epoch = next((e["epoch"] for e in events if e.get("event") == "start"), None)
    if epoch is not None and lesson_chapters:
        chapters = _with_lesson_chapters(chapters, lesson_chapters, epoch + t0, duration)
    manifest = {
        "version": 1,
        "duration_s": round(duration, 3),
        "started_at_epoch": None if epoch is None else round(epoch + t0, 3),
        "files": files,
        "poster": "poster.jpg" if thumbs.poster else None,
        "tracks": out_tracks,
        "stage_periods": stage_periods,
        "chapters": chapters,
        "thumbnails": thumbs.taken,
        "segments": {name: [p.name for p in paths] for name, paths in tracks.items()},
    }
    tmp = directory / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    os.replace(tmp, directory / MANIFEST)
    progress(1.0)
    return manifest


def archive_size(directory: Path) -> int:
    names = ("lesson.mp4", "screen.mp4", "stage.mp4")
    return sum((directory / n).stat().st_size for n in names if (directory / n).exists())
