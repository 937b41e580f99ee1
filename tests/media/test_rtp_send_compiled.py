"""The compiled send path (streamhub/media/_rtpsend.c) against its Python twin
(``rtp_send.send_frame``): the same packets on the wire, byte for byte, from real SRTP sessions
over real loopback sockets; what the socket refuses comes back protected, in order; bad
arguments are refused before anything is protected."""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Iterator

import pytest
from pylibsrtp import Policy, Session

from streamhub.media import rtp_send, srtp
from streamhub.media.rtp_send import packetize, send_frame
from streamhub.media.srtp import PROTECT_ADDRESS, protector

compiled = rtp_send.native

KEY = os.urandom(30)
SSRC = 0x1234ABCD
EXTENSIONS = b"\xbe\xde\x00\x02\x10\x31\x22\xab\xcd\xef\x00\x00"  # MID "1", abs-send-time


def _outbound() -> Session:
    return Session(Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_OUTBOUND))


def _inbound() -> Session:
    return Session(Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_INBOUND))


@pytest.fixture
def sockets() -> Iterator[tuple[socket.socket, socket.socket]]:
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind(("127.0.0.1", 0))
    sink.bind(("127.0.0.1", 0))
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sink.settimeout(10)
    yield sender, sink
    sender.close()
    sink.close()


def _receive(sink: socket.socket, count: int) -> list[bytes]:
    return [sink.recv(4096) for _ in range(count)]


def test_the_compiled_send_path_is_built_by_the_projects_install() -> None:
    # `make install-test` (pip install -e .) builds it on a machine with a C compiler, as CI's.
    assert compiled is not None, "streamhub.media._rtpsend did not build: see pyproject.toml"
    assert srtp.PROTECT_IS_LIBSRTP2  # the srtp_protect it calls is the one it was written for


def test_an_srtp_protect_of_another_signature_is_never_called(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rtp_send, "PROTECT_IS_LIBSRTP2", False)
    assert rtp_send._native() is None
    monkeypatch.setattr(rtp_send, "PROTECT_IS_LIBSRTP2", True)
    assert rtp_send._native() is compiled
    monkeypatch.setenv("STREAMHUB_RTP_SEND", "python")
    assert rtp_send._native() is None


FRAMES = [
    # (mime, frame size, extensions, first sequence number): a VP8 key frame over three packets,
    # a frame past one sendmmsg batch (64 packets), sequence numbers wrapping, Opus, none.
    ("video/VP8", 3_000, EXTENSIONS, 100),
    ("video/VP8", 100 * 1296, EXTENSIONS, 65_500),
    ("video/H264", 5_000, b"", 7),
    ("audio/opus", 120, EXTENSIONS, 0),
]


@pytest.mark.parametrize(
    ("mime", "size", "extensions", "first_seq"),
    FRAMES,
    ids=["vp8-key-frame", "vp8-past-one-batch-wrapping", "h264-no-extensions", "opus"],
)
def test_both_paths_send_the_same_packets(
    sockets: tuple[socket.socket, socket.socket],
    mime: str,
    size: int,
    extensions: bytes,
    first_seq: int,
) -> None:
    assert compiled is not None
    sender, sink = sockets
    if mime == "video/H264":  # NAL units behind start codes: the packetizer splits them
        data = b"".join(b"\x00\x00\x00\x01\x65" + os.urandom(1_500) for _ in range(size // 1_500))
    else:
        data = os.urandom(size)
    frame = packetize(mime, data)
    picture_id = 0x1234 if frame.vp8 else -1
    first_byte = 0x90 if extensions else 0x80
    ts = 0xFFFFFF00
    address = sink.getsockname()
    ours, theirs = protector(_outbound()), protector(_outbound())  # the same keys: same output
    count = len(frame.parts)

    protected, octets, unsent = compiled.send_frame(
        PROTECT_ADDRESS,
        ours.address,
        sender.fileno(),
        compiled.sockaddr(*address),
        first_byte,
        96,
        first_seq,
        ts,
        SSRC,
        extensions,
        picture_id,
        frame.parts,
    )
    assert unsent is None
    from_c = _receive(sink, count)
    expected = send_frame(
        theirs,
        sender.sendto,
        address,
        first_byte,
        96,
        first_seq,
        ts,
        SSRC,
        extensions,
        picture_id,
        frame.parts,
    )
    from_python = _receive(sink, count)
    assert from_c == from_python
    assert (protected, octets) == expected == (sum(map(len, from_c)), octets)

    # What a classroom decrypts: the RTP header each packet should carry, and the frame.
    receiver = _inbound()
    payloads = []
    for index, packet in enumerate(from_c):
        plain = receiver.unprotect(packet)
        first, second, seq, stamp, ssrc = struct.unpack("!BBHII", plain[:12])
        assert (first, second & 0x7F, ssrc, stamp) == (first_byte, 96, SSRC, ts)
        assert seq == (first_seq + index) & 0xFFFF
        assert bool(second & 0x80) == (index == count - 1)  # the marker ends the frame
        assert plain[12 : 12 + len(extensions)] == extensions
        payload = plain[12 + len(extensions) :]
        if frame.vp8:
            descriptor = bytes([0x90 if index == 0 else 0x80, 0x80, 0x80 | 0x12, 0x34])
            assert payload[:4] == descriptor
            payload = payload[4:]
        payloads.append(payload)
    assert payloads == frame.parts
    if mime != "video/H264":
        assert b"".join(payloads) == data


def test_what_the_socket_refuses_comes_back_protected_in_order(
    sockets: tuple[socket.socket, socket.socket],
) -> None:
    assert compiled is not None
    sender, _ = sockets
    frame = packetize("video/VP8", os.urandom(70 * 1296))  # two batches
    ours = protector(_outbound())
    # An IPv6 peer on an IPv4 socket: sendmmsg fails at once, as it would for an error asyncio
    # has to report, or a full send buffer it has to queue.
    protected, _, unsent = compiled.send_frame(
        PROTECT_ADDRESS,
        ours.address,
        sender.fileno(),
        compiled.sockaddr("::1", 9),
        0x80,
        96,
        10,
        0,
        SSRC,
        b"",
        7,
        frame.parts,
    )
    assert unsent is not None and len(unsent) == len(frame.parts) == 70
    assert protected == sum(map(len, unsent))
    receiver = _inbound()
    numbers = [struct.unpack("!H", receiver.unprotect(p)[2:4])[0] for p in unsent]
    assert numbers == list(range(10, 80))


@pytest.mark.parametrize(
    "change",
    [
        {"parts": [b"\x00" * 1_400, "text"]},  # not bytes
        {"parts": [b"\x00" * 10, b"\x00" * 1_900]},  # no room for the SRTP trailer
        {"parts": (b"\x00",)},  # not a list
        {"session": 0},
        {"fd": -1},
        {"address": "127.0.0.1"},
        {"seq": -1},
    ],
    ids=[
        "part-not-bytes",
        "part-too-long",
        "parts-not-a-list",
        "no-session",
        "closed-socket",
        "address-not-bytes",
        "negative-seq",
    ],
)
def test_bad_arguments_are_refused_before_anything_is_protected(
    sockets: tuple[socket.socket, socket.socket], change: dict[str, object]
) -> None:
    assert compiled is not None
    sender, sink = sockets
    ours, reference = protector(_outbound()), protector(_outbound())
    arguments: dict[str, object] = {
        "protect": PROTECT_ADDRESS,
        "session": ours.address,
        "fd": sender.fileno(),
        "address": compiled.sockaddr(*sink.getsockname()),
        "first_byte": 0x80,
        "payload_type": 96,
        "seq": 1,
        "ts": 0,
        "ssrc": SSRC,
        "extensions": b"",
        "picture_id": -1,
        "parts": [b"\x01" * 100],
    }
    arguments.update(change)
    with pytest.raises((TypeError, ValueError, OverflowError)):
        compiled.send_frame(*arguments.values())  # type: ignore[arg-type]
    # The session's packet index did not move: it protects the next packet as a fresh one would.
    packet = struct.pack("!BBHII", 0x80, 96, 1, 0, SSRC) + b"\x01" * 100
    assert ours(packet) == reference(packet)
    with pytest.raises(ValueError):
        compiled.sockaddr("classroom.example", 5000)  # numeric addresses only: no DNS here
    with pytest.raises(ValueError):
        compiled.sockaddr("127.0.0.1", 70_000)
