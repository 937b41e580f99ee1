"""A join that reached the wrong worker, relayed to the worker that holds its lesson.

With ``serve --workers N`` every worker accepts on the hub's port and the kernel picks one per
connection. A lesson's media live in one worker, which other nodes reach by a redirect to their
own URL; but a school firewall that lets out only the hub's port (443) blocks the workers' own
ports. So a worker relays the signaling socket to its sibling over this machine's loopback
instead, and the client never learns there were two (the media go to the holder's ICE
addresses either way). ``signaling.relay`` maps each sibling's node URL to its local URL; the
supervisor sets it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

import websockets
from starlette.websockets import WebSocket

# A hub message can be as large as the client SDK accepts.
MAX_FRAME = 1 << 22


def _local_tls() -> ssl.SSLContext:
    # A sibling worker on this machine's loopback: its certificate names the hub, not 127.0.0.1.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def relay(client: WebSocket, local_url: str, first: str | bytes) -> tuple[int, str]:
    """Forward ``first`` (the join) and then every frame both ways until either side closes;
    return the close code and reason to give the client (the sibling's own)."""
    secure = local_url.startswith("wss:")
    async with websockets.connect(
        local_url,
        ssl=_local_tls() if secure else None,
        max_size=MAX_FRAME,
        open_timeout=10,
        ping_interval=None,  # the hub's own heartbeat passes through
    ) as upstream:
        await upstream.send(first)

        async def down() -> None:
            async for frame in upstream:
                if isinstance(frame, bytes):
                    await client.send_bytes(frame)
                else:
                    await client.send_text(frame)

        async def up() -> None:
            while True:
                event = await client.receive()
                if event["type"] == "websocket.disconnect":
                    return
                text = event.get("text")
                await upstream.send(text if text is not None else event.get("bytes") or b"")

        tasks: list[asyncio.Task[Any]] = [
            asyncio.create_task(down(), name="relay-down"),
            asyncio.create_task(up(), name="relay-up"),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await upstream.close()
        return upstream.close_code or 1000, upstream.close_reason or ""
