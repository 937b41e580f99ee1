"""The naive baseline for bench/fanout.py: a minimal aiortc server built on MediaRelay.

One publisher's tracks are decoded once by aiortc's receiver, fanned out by MediaRelay and
re-encoded by every subscriber's sender. Plain aiortc: StreamHub's encoded-frame tap is not
installed here (nothing from streamhub.media is imported).

Signaling: one WebSocket message each way on ws://127.0.0.1:PORT/ —
client sends {"role": "publisher"|"subscriber", "sdp": offer}, server replies {"sdp": answer}.
Loopback host candidates only, no STUN.

    python bench/relay_hub.py --port 8765
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys

import aioice.ice
from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack

logger = logging.getLogger("relay_hub")


def _loopback_only(use_ipv4: bool = True, use_ipv6: bool = True) -> list[str]:
    return ["127.0.0.1"] if use_ipv4 else []


# aioice leaves loopback out of its host candidates; this baseline lives on loopback only.
aioice.ice.get_host_addresses = _loopback_only


class RelayHub:
    def __init__(self) -> None:
        self.relay = MediaRelay()
        self.published: dict[str, MediaStreamTrack] = {}
        self.ready = asyncio.Event()
        self.pcs: set[RTCPeerConnection] = set()

    def _pc(self) -> RTCPeerConnection:
        pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        self.pcs.add(pc)

        @pc.on("connectionstatechange")
        async def changed() -> None:
            if pc.connectionState in ("failed", "closed"):
                self.pcs.discard(pc)
                await pc.close()

        return pc

    async def publisher(self, sdp: str) -> str:
        pc = self._pc()

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self.published[track.kind] = track
            if {"audio", "video"} <= self.published.keys():
                self.ready.set()

        await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return pc.localDescription.sdp

    async def subscriber(self, sdp: str) -> str:
        await asyncio.wait_for(self.ready.wait(), 30)
        pc = self._pc()
        await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        for transceiver in pc.getTransceivers():
            source = self.published.get(transceiver.kind)
            if source is not None:
                # One decode (the publisher's receiver), one encoder per subscriber's sender.
                pc.addTrack(self.relay.subscribe(source, buffered=False))
        await pc.setLocalDescription(await pc.createAnswer())
        return pc.localDescription.sdp

    async def handle(self, ws) -> None:  # type: ignore[no-untyped-def]
        try:
            request = json.loads(await ws.recv())
            role = request["role"]
            if role == "publisher":
                answer = await self.publisher(request["sdp"])
            elif role == "subscriber":
                answer = await self.subscriber(request["sdp"])
            else:
                raise ValueError(f"unknown role {role!r}")
            await ws.send(json.dumps({"sdp": answer}))
        except Exception as exc:
            logger.exception("signaling failed")
            with contextlib.suppress(Exception):
                await ws.send(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))

    async def close(self) -> None:
        await asyncio.gather(*(pc.close() for pc in list(self.pcs)), return_exceptions=True)


async def main(port: int) -> None:
    from websockets.asyncio.server import serve

    hub = RelayHub()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with serve(hub.handle, "127.0.0.1", port, max_size=1 << 22):
        print(f"relay hub listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)
        await stop.wait()
    await hub.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(args.port))
