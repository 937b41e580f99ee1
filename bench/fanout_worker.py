"""A helper process of bench/fanout.py that holds some of its counting subscribers.

One Python process receiving N 640x480 streams saturates one core near N = 16 (the GIL), and
then it is the load generator that is measured, not the hub. bench/fanout.py spreads its
subscribers over a few of these. JSON lines, one request at a time:

- stdin ``{"join": i, "url": ..., "token": ...}`` → stdout ``{"joined": i, "first_ms": x}``
  (x: connect start to first video frame; null with an "error" when it failed);
- ``{"counts": true}`` → ``{"counts": {"i": frames, ...}}``;
- ``{"stop": true}`` or end of input: every client closed, then exit.

With ``--light`` (``bench/fanout.py --light``) its subscribers count frames from the RTP header
after decrypting each packet (bench/rtp_tally.py) instead of taking aiortc's receive path, so a
few hundred of them fit beside the hub on this box; lost video packets are counted too.
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

from bench import rtp_tally
from bench.fanout import FIRST_FRAME_TIMEOUT_S, Subscriber
from streamhub import heap
from streamhub.client import LessonClient
from streamhub.media import aiortc_hooks
from streamhub.protocol import Slot


def reply(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


class LightSubscriber:
    """A subscriber counted by ``rtp_tally`` (the same questions as ``Subscriber``)."""

    def __init__(self, client: LessonClient, started: float) -> None:
        assert client.pc is not None
        self.tally = rtp_tally.watch(client.pc)
        self.started = started

    @property
    def frames(self) -> int:
        return self.tally.frames

    async def wait_first(self) -> float | None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.tally.got_first.wait(), FIRST_FRAME_TIMEOUT_S)
        first = self.tally.first_at
        return None if first is None else (first - self.started) * 1000

    async def stop(self) -> None:
        rtp_tally.forget(self.tally)


async def join(
    index: int, url: str, token: str, light: bool
) -> tuple[LessonClient, Subscriber | LightSubscriber | None, Any]:
    started = time.monotonic()
    client = LessonClient(url, token, name=f"classroom-{index}")
    try:
        await client.connect({})
    except Exception as exc:
        return client, None, {"joined": index, "first_ms": None, "error": repr(exc)[:200]}
    if light:
        light_subscriber = LightSubscriber(client, started)
        return (
            client,
            light_subscriber,
            {"joined": index, "first_ms": await light_subscriber.wait_first()},
        )
    subscriber = Subscriber(
        client.tracks[Slot.LECTURER_VIDEO], client.tracks.get(Slot.LECTURER_AUDIO), started
    )
    subscriber.start()
    return client, subscriber, {"joined": index, "first_ms": await subscriber.wait_first()}


async def main() -> None:
    aiortc_hooks.install(["127.0.0.1"])
    # As the hub and the agent do: the load generator's own full collections (157-475 ms with
    # its start-up heap) would otherwise stall its classrooms and show in the hub's figures.
    heap.settle()
    light = "--light" in sys.argv[1:]
    if light:
        rtp_tally.install()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    clients: list[LessonClient] = []
    subscribers: dict[int, Subscriber | LightSubscriber] = {}
    try:
        while line := await reader.readline():
            request = json.loads(line)
            if "join" in request:
                index = int(request["join"])
                client, subscriber, answer = await join(
                    index, request["url"], request["token"], light
                )
                clients.append(client)
                if subscriber is not None:
                    subscribers[index] = subscriber
                reply(answer)
            elif "counts" in request:
                reply({"counts": {str(i): s.frames for i, s in subscribers.items()}})
            elif "lost" in request:
                lost = sum(
                    s.tally.lost for s in subscribers.values() if isinstance(s, LightSubscriber)
                )
                reply({"lost": lost})
            else:
                break
    finally:
        await asyncio.gather(*(s.stop() for s in subscribers.values()), return_exceptions=True)
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
