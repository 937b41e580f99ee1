"""The RTMP server's parsing on its own: AMF0 values, chunk reassembly (interleaved streams,
every header type, extended timestamps), limits, and H.264/AAC messages."""

from __future__ import annotations

import asyncio

import av
import numpy as np
import pytest

from streamhub.rtmp import amf0
from streamhub.rtmp.chunks import AUDIO, VIDEO, ChunkReader, ProtocolError, encode_message
from streamhub.rtmp.flv import START_CODE, AvcReader, FlvError, nal_units, read_audio
from streamhub.rtmp.media import AacToOpus


def reader_of(data: bytes, max_message: int = 1 << 20) -> ChunkReader:
    stream = asyncio.StreamReader()
    stream.feed_data(data)
    stream.feed_eof()
    return ChunkReader(stream, max_message)


def test_amf0_round_trip_and_limits() -> None:
    values = ["connect", 1.0, {"app": "live", "n": 2.0, "ok": True, "nested": {"x": None}}, None]
    assert amf0.decode(amf0.encode(*values)) == values
    with pytest.raises(amf0.AmfError):
        amf0.decode(amf0.encode("x")[:-1])  # truncated
    deep = b"".join([bytes([amf0.OBJECT]) + b"\x00\x01k"] * 20)
    with pytest.raises(amf0.AmfError):
        amf0.decode(deep)
    with pytest.raises(amf0.AmfError):
        amf0.decode(bytes([amf0.STRICT_ARRAY]) + (1 << 30).to_bytes(4, "big"))


async def test_chunks_interleaved_with_every_header_type() -> None:
    big = bytes(range(256)) * 2  # 512 bytes: four 128-byte chunks
    first = encode_message(4, VIDEO, 1, big, 128)
    # Two messages interleaved chunk by chunk: video on 4, audio on 6.
    audio = bytes([6]) + (20).to_bytes(3, "big") + (3).to_bytes(3, "big") + bytes([AUDIO])
    audio += (1).to_bytes(4, "little") + b"abc"
    pieces = [first[:140], audio, first[140:]]
    # Type 1 (delta 40, new length), type 2 (delta 40 again), type 3 (a whole new message with
    # the same delta).
    pieces.append(bytes([0x40 | 6]) + (40).to_bytes(3, "big") + (2).to_bytes(3, "big"))
    pieces.append(bytes([AUDIO]) + b"de")
    pieces.append(bytes([0x80 | 6]) + (40).to_bytes(3, "big") + b"fg")
    pieces.append(bytes([0xC0 | 6]) + b"hi")
    reader = reader_of(b"".join(pieces))
    got = [await reader.read_message() for _ in range(5)]
    assert [(m.type_id, m.timestamp, m.payload) for m in got] == [
        (AUDIO, 20, b"abc"),
        (VIDEO, 0, big),
        (AUDIO, 60, b"de"),
        (AUDIO, 100, b"fg"),
        (AUDIO, 140, b"hi"),
    ]


async def test_extended_timestamps_repeat_on_continuation_chunks() -> None:
    stamp = 0x01020304
    header = bytes([3]) + b"\xff\xff\xff" + (200).to_bytes(3, "big") + bytes([VIDEO])
    header += bytes(4) + stamp.to_bytes(4, "big")
    data = header + bytes(128) + bytes([0xC3]) + stamp.to_bytes(4, "big") + bytes(72)
    message = await reader_of(data).read_message()
    assert message.timestamp == stamp and len(message.payload) == 200


async def test_limits() -> None:
    reader = reader_of(b"")
    with pytest.raises(ProtocolError):
        reader.set_chunk_size(0x7FFFFFFF)
    with pytest.raises(ProtocolError):
        reader.set_chunk_size(0)
    oversize = bytes([3, 0, 0, 0]) + (70000).to_bytes(3, "big") + bytes([20]) + bytes(4)
    with pytest.raises(ProtocolError, match="over the 65536-byte limit"):
        await reader_of(oversize, max_message=65536).read_message()
    with pytest.raises(ProtocolError, match="without a full header"):
        await reader_of(bytes([0xC5]) + bytes(10)).read_message()
    # Nine messages left half-sent on nine chunk streams.
    opened = b"".join(
        bytes([csid]) + bytes(3) + (1000).to_bytes(3, "big") + bytes([VIDEO]) + bytes(4 + 128)
        for csid in range(3, 12)
    )
    with pytest.raises(ProtocolError, match="interleaved"):
        await reader_of(opened).read_message()


def avc_config(sps: bytes, pps: bytes) -> bytes:
    return (
        bytes([1, sps[1], sps[2], sps[3], 0xFF, 0xE1])
        + len(sps).to_bytes(2, "big") + sps
        + bytes([1]) + len(pps).to_bytes(2, "big") + pps
    )  # fmt: skip


def test_avc_to_annexb_puts_parameter_sets_before_key_frames() -> None:
    sps, pps = bytes([0x67, 0x42, 0xC0, 0x1E, 1, 2]), bytes([0x68, 0xCE, 0x3C, 0x80])
    idr, aud, delta = bytes([0x65, 9, 9]), bytes([0x09, 0xF0]), bytes([0x41, 7])
    reader = AvcReader()
    assert reader.read(bytes([0x17, 1, 0, 0, 0]) + (3).to_bytes(4, "big") + idr) is None
    assert reader.read(bytes([0x17, 0, 0, 0, 0]) + avc_config(sps, pps)) is None
    assert reader.config is not None and reader.config.profile == "42c01e"

    def avcc(*units: bytes) -> bytes:
        return b"".join(len(u).to_bytes(4, "big") + u for u in units)

    key = reader.read(bytes([0x17, 1, 0, 0, 0]) + avcc(aud, idr))
    assert key is not None and key.keyframe
    assert key.annexb == START_CODE + sps + START_CODE + pps + START_CODE + idr
    inter = reader.read(bytes([0x27, 1, 0, 0, 0]) + avcc(delta))
    assert inter is not None and not inter.keyframe and inter.annexb == START_CODE + delta
    with pytest.raises(FlvError, match=r"not H\.264"):
        reader.read(bytes([0x12, 1, 0, 0, 0]))  # Sorenson H.263
    with pytest.raises(FlvError, match="enhanced RTMP"):
        reader.read(bytes([0x90, 1, 0, 0, 0]))
    with pytest.raises(FlvError):
        nal_units((1000).to_bytes(4, "big") + b"x", 4)


def test_aac_to_opus_gives_20_ms_packets() -> None:
    """AAC made by PyAV, as an encoder would send it, comes out as 20 ms Opus packets."""
    encoder = av.CodecContext.create("aac", "w")
    encoder.sample_rate = 44100  # type: ignore[attr-defined]
    encoder.layout = "mono"  # type: ignore[attr-defined]
    encoder.format = "fltp"  # type: ignore[attr-defined]
    encoder.flags |= 1 << 22  # global header: the AudioSpecificConfig goes to extradata
    encoder.open()

    frames = []
    for i in range(50):
        samples = np.zeros((1, 1024), dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 44100
        frame.pts = i * 1024
        frames += [bytes(p) for p in encoder.encode(frame)]  # type: ignore[attr-defined]
    assert encoder.extradata
    audio = read_audio(bytes([0xAF, 0]) + encoder.extradata)
    assert audio.config == encoder.extradata
    transcoder = AacToOpus(audio.config)
    packets = [p for raw in frames for p in transcoder.transcode(raw)]
    assert len(packets) >= 40  # ~1.1 s of sound, less the codecs' delay
    assert [p.pts for p in packets[:3]] == [0, 960, 1920]
    # A new configuration mid-push (the box restarted its encoder): the clock goes on.
    later = AacToOpus(audio.config, first_pts=transcoder.next_pts)
    resumed = [p for raw in frames for p in later.transcode(raw)]
    assert resumed[0].pts == packets[-1].pts + 960
    with pytest.raises(FlvError, match="not AAC"):
        read_audio(bytes([0x2F, 1, 0]))  # MP3
