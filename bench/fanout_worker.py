"""A helper process of bench/fanout.py that holds some of its counting subscribers.

One Python process receiving N 640x480 streams saturates one core near N = 16 (the GIL), and
then it is the load generator that is measured, not the hub. bench/fanout.py spreads its
subscribers over a few of these. JSON lines, one request at a time:

- stdin ``{"join": i, "url": ..., "token": ...}`` → stdout ``{"joined": i, "first_ms": x}``
  (x: connect start to first video frame; null with an "error" when it failed);
- ``{"counts": true}`` → ``{"counts": {"i": frames, ...}}``;
- ``{"stop": true}`` or end of input: every client closed, then exit.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fanout import Subscriber
from streamhub.client import LessonClient
from streamhub.media import aiortc_hooks
from streamhub.protocol import Slot


def reply(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def join(index: int, url: str, token: str) -> tuple[LessonClient, Subscriber | None, Any]:
    started = time.monotonic()
    client = LessonClient(url, token, name=f"classroom-{index}")
    try:
        await client.connect({})
    except Exception as exc:
        return client, None, {"joined": index, "first_ms": None, "error": repr(exc)[:200]}
    subscriber = Subscriber(
        client.tracks[Slot.LECTURER_VIDEO], client.tracks.get(Slot.LECTURER_AUDIO), started
    )
    subscriber.start()
    return client, subscriber, {"joined": index, "first_ms": await subscriber.wait_first()}


async def main() -> None:
    aiortc_hooks.install(["127.0.0.1"])
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    clients: list[LessonClient] = []
    subscribers: dict[int, Subscriber] = {}
    try:
        while line := await reader.readline():
            request = json.loads(line)
            if "join" in request:
                index = int(request["join"])
                client, subscriber, answer = await join(index, request["url"], request["token"])
                clients.append(client)
                if subscriber is not None:
                    subscribers[index] = subscriber
                reply(answer)
            elif "counts" in request:
                reply({"counts": {str(i): s.frames for i, s in subscribers.items()}})
            else:
                break
    finally:
        await asyncio.gather(*(s.stop() for s in subscribers.values()), return_exceptions=True)
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
