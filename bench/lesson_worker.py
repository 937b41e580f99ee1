"""A load-generator process of bench/lesson.py: it holds some of the lesson's classrooms.

Each classroom publishes camera and microphone from clips encoded once in this process
(streamhub.client.clip) and receives the lecturer's video and audio, counting frames. A
key-frame request from the hub restarts the classroom's clip at its key frame, as a camera's
encoder would send one. The clips go out through the hub's own send path (bench/clip_send.py),
or with ``"senders": "aiortc"`` in the clip request through aiortc's senders (``ClipTrack``).
JSON lines, one request at a time:

- stdin ``{"clip": {...}}`` (first line) → ``{"ready": true, "video_kbps": x, "audio_kbps": y}``;
- ``{"join": i, "url": ..., "token": ..., "wait_first": true}`` → ``{"joined": i, "first_ms":
  x}`` once the first lecturer frame arrived or ``JOIN_WAIT_S`` passed (x: connect start to
  first video frame; null then, and the frame is still timed if it comes later); with
  ``"wait_first": false`` as soon as the classroom is connected; with ``"publish": false`` the
  classroom sends no camera or microphone (it only holds its connection);
- ``{"counts": true}`` → ``{"counts": {"i": [video frames, audio frames, first_ms, closed,
  refused]}}`` (refused: the join failed, e.g. lesson_full/node_full);
- ``{"stop": true}`` or end of input: every client closed, then exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiortc import RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from bench.clip_send import ClipSender, IdleTrack, PacketizedClip
from streamhub import heap
from streamhub.client import LessonClient
from streamhub.client.clip import Clip, ClipTrack, encode_audio_clip, encode_video_clip
from streamhub.media import aiortc_hooks
from streamhub.protocol import Slot

JOIN_WAIT_S = 5.0


def reply(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


class Counter:
    """Counts a received track's frames; notes when the first one came."""

    def __init__(self, track: MediaStreamTrack | None) -> None:
        self.track = track
        self.frames = 0
        self.first_at: float | None = None
        self.got_first = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        if track is not None:
            self.task = asyncio.get_running_loop().create_task(self._run(track))

    async def _run(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()
                if self.first_at is None:
                    self.first_at = time.monotonic()
                    self.got_first.set()
                self.frames += 1

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


class ClipClient(LessonClient):
    """A classroom whose publish slots send clips through ``ClipSender`` (bench/clip_send.py),
    bound to their senders as the slots are added, before negotiation."""

    def __init__(self, url: str, token: str, name: str, clips: dict[Slot, PacketizedClip]) -> None:
        super().__init__(url, token, name=name)
        self.clips = clips
        self.clip_senders: list[ClipSender] = []

    def _add_transceiver(self, slot: Slot, track: MediaStreamTrack | None) -> RTCRtpTransceiver:
        transceiver = super()._add_transceiver(slot, track)
        clip = self.clips.get(slot)
        if clip is not None and track is not None:
            self.clip_senders.append(ClipSender(clip, transceiver.sender))
        return transceiver


class Classroom:
    def __init__(
        self,
        index: int,
        url: str,
        token: str,
        video: Clip,
        audio: Clip,
        lean: tuple[PacketizedClip, PacketizedClip] | None,
    ) -> None:
        self.index = index
        self.client: LessonClient
        self.camera: MediaStreamTrack
        self.microphone: MediaStreamTrack
        if lean is not None:
            clips = {Slot.CAMERA: lean[0], Slot.MICROPHONE: lean[1]}
            self.client = ClipClient(url, token, f"classroom-{index}", clips)
            self.camera, self.microphone = IdleTrack("video"), IdleTrack("audio")
        else:
            self.client = LessonClient(url, token, name=f"classroom-{index}")
            self.camera, self.microphone = ClipTrack(video), ClipTrack(audio)
        self.started = time.monotonic()
        self.video: Counter | None = None
        self.audio: Counter | None = None
        self.error: str | None = None

    async def join(self, publish: bool = True) -> None:
        media = {Slot.CAMERA: self.camera, Slot.MICROPHONE: self.microphone} if publish else {}
        try:
            await self.client.connect(media)
        except Exception as exc:
            self.error = repr(exc)[:200]
            return
        if isinstance(self.client, ClipClient):
            for clip_sender in self.client.clip_senders:
                clip_sender.start()
        sender = self.client.senders.get(Slot.CAMERA)
        if sender is not None and isinstance(self.camera, ClipTrack):
            aiortc_hooks.on_keyframe_request(sender, self.camera.request_keyframe)
        self.video = Counter(self.client.tracks.get(Slot.LECTURER_VIDEO))
        self.audio = Counter(self.client.tracks.get(Slot.LECTURER_AUDIO))

    @property
    def first_ms(self) -> float | None:
        if self.video is None or self.video.first_at is None:
            return None
        return (self.video.first_at - self.started) * 1000

    def counts(self) -> list[Any]:
        return [
            self.video.frames if self.video else 0,
            self.audio.frames if self.audio else 0,
            self.first_ms,
            self.client.closed is not None,
            self.error is not None,
        ]

    async def close(self) -> None:
        for counter in (self.video, self.audio):
            if counter is not None:
                await counter.stop()
        if isinstance(self.client, ClipClient):
            for clip_sender in self.client.clip_senders:
                await clip_sender.stop()
        await self.client.close()


async def main() -> None:
    aiortc_hooks.install(["127.0.0.1"])
    # As the hub and the agent do: the load generator's own full collections (157-475 ms with
    # its start-up heap) would otherwise stall its classrooms and show in the hub's figures.
    heap.settle()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    classrooms: dict[int, Classroom] = {}
    video: Clip | None = None
    audio: Clip | None = None
    lean: tuple[PacketizedClip, PacketizedClip] | None = None
    try:
        while line := await reader.readline():
            request = json.loads(line)
            if "clip" in request:
                spec = request["clip"]
                video = await asyncio.to_thread(
                    encode_video_clip,
                    spec["width"],
                    spec["height"],
                    spec["fps"],
                    spec["seconds"],
                    spec["kbps"],
                    spec.get("codec", "VP8"),
                )
                audio = await asyncio.to_thread(encode_audio_clip)
                if spec.get("senders", "leg") == "leg":
                    lean = (PacketizedClip(video), PacketizedClip(audio))
                reply(
                    {
                        "ready": True,
                        "video_kbps": round(video.bitrate_kbps, 1),
                        "audio_kbps": round(audio.bitrate_kbps, 1),
                    }
                )
            elif "join" in request:
                assert video is not None and audio is not None, "clip first"
                index = int(request["join"])
                room = Classroom(index, request["url"], request["token"], video, audio, lean)
                classrooms[index] = room
                await room.join(request.get("publish", True))
                if room.video is not None and request.get("wait_first", True):
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(room.video.got_first.wait(), JOIN_WAIT_S)
                answer: dict[str, Any] = {"joined": index, "first_ms": room.first_ms}
                if room.error:
                    answer["error"] = room.error
                reply(answer)
            elif "counts" in request:
                reply({"counts": {str(i): c.counts() for i, c in classrooms.items()}})
            else:
                break
    finally:
        await asyncio.gather(*(c.close() for c in classrooms.values()), return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
