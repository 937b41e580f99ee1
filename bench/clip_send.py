"""A load generator's classrooms publish their clips through the hub's own send path.

bench/lesson.py runs the hub and the load generator on the same two cores. Sending each
classroom's camera and microphone through aiortc's ``RTCRtpSender`` (a task per stream,
packetizing every frame again, ``RtpPacket`` objects, three awaited transport layers per
packet) was 43 % of a load generator's CPU at 60 classrooms: the load generator took 1.1 cores
and left the hub too little to measure (issue 19). ``ClipSender`` sends a clip's frames through
``streamhub.media.rtp_send.RtpSendLeg`` instead: each clip frame packetized once per process,
its packets written, protected and sent synchronously, RTCP sender reports and NACK answers by
the leg, as the hub does. What reaches the hub is the same RTP: the negotiated payload types,
SSRCs, MID and abs-send-time.

A key-frame request from the hub restarts the clip at its key frame, as ``ClipTrack`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from aiortc import RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from streamhub.client.clip import Clip
from streamhub.media import aiortc_hooks
from streamhub.media.clock import abs_send_time, ntp_now
from streamhub.media.rtp_send import Packetized, RtpSendLeg, packetize


class IdleTrack(MediaStreamTrack):
    """What the aiortc sender is given: it never yields a frame, so aiortc's own send loop
    waits while the ``ClipSender`` sends."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._ended = asyncio.Event()

    async def recv(self) -> None:  # type: ignore[override]
        await self._ended.wait()
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        self._ended.set()


class PacketizedClip:
    """A clip's frames packetized once, shared by every classroom of the process."""

    def __init__(self, clip: Clip) -> None:
        self.clip = clip
        mime = f"{clip.kind}/{clip.codec}".lower()
        self.frames: list[tuple[Packetized, bool]] = [
            (packetize(mime, data), key) for data, key in clip.frames
        ]


class ClipSender:
    """One classroom's stream of a clip: bind it to a sender before negotiation (``leg``
    learns the negotiated parameters then), ``start`` it once the client is connected."""

    def __init__(self, clip: PacketizedClip, sender: RTCRtpSender) -> None:
        self.clip = clip
        self.leg = RtpSendLeg(sender)
        self.sent = 0
        self.keyframes_requested = 0
        self._position = 0
        self._task: asyncio.Task[None] | None = None
        aiortc_hooks.on_keyframe_request(sender, self.request_keyframe)

    def request_keyframe(self) -> None:
        self.keyframes_requested += 1
        self._position = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        clip = self.clip.clip
        frames = self.clip.frames
        start = time.monotonic()
        while True:
            delay = start + self.sent * clip.step / clip.clock - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if not self.leg.ready():  # DTLS not done yet: the first frame sent is the key frame
                self.sent += 1
                continue
            frame, key = frames[self._position]
            self._position = (self._position + 1) % len(frames)
            frame.ntp = ntp_now()
            frame.abs_time = abs_send_time(frame.ntp)
            self.leg.send(frame, self.sent * clip.step, key)
            self.sent += 1

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
