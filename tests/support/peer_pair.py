"""Two aiortc peer connections on loopback (the hooks installed: aioice leaves loopback out of
its host candidates), and the offer/answer that connects them."""

from __future__ import annotations

from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection

from streamhub.media import aiortc_hooks


def loopback_pair() -> tuple[RTCPeerConnection, RTCPeerConnection]:
    """(publisher, subscriber): no STUN or TURN server, everything bundled, as StreamHub's."""
    aiortc_hooks.install(["127.0.0.1"])
    config = RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    return RTCPeerConnection(config), RTCPeerConnection(config)


async def negotiate(offerer: RTCPeerConnection, answerer: RTCPeerConnection) -> None:
    """One offer from ``offerer``, its answer from ``answerer``: the pair then connects."""
    await offerer.setLocalDescription(await offerer.createOffer())
    await answerer.setRemoteDescription(offerer.localDescription)
    await answerer.setLocalDescription(await answerer.createAnswer())
    await offerer.setRemoteDescription(answerer.localDescription)
