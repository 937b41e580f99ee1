"""--record-received never makes receiving wait for the disk, and never grows without bound."""

from __future__ import annotations

import asyncio
import threading
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest

from classroom_agent import recording
from classroom_agent.recording import ReceivedRecorder
from tests.support.wait import eventually


def _packet(kind: str, n: int, keyframe: bool) -> av.Packet[Any]:
    if kind == "video":
        head = (
            b"\x10\x02\x00\x9d\x01\x2a" + (320).to_bytes(2, "little") + (240).to_bytes(2, "little")
        )
        data = (head if keyframe else b"\x01\x02\x00") + bytes([n])
        rate = 90000
    else:
        data, rate = b"\xfc" + bytes([n]), 48000
    packet = av.Packet(data)
    packet.pts, packet.time_base = n * rate // 50, Fraction(1, rate)
    packet.is_keyframe = keyframe
    return packet


async def test_a_slow_disk_drops_audio_and_video_to_its_next_key_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recording, "MAX_PENDING", 4)
    path = tmp_path / "received.mkv"
    recorder = ReceivedRecorder(path)
    recorder.write("video", _packet("video", 0, True))
    await eventually(lambda: recorder._pending == 0, 10)  # the file is open
    disk = threading.Event()
    stalled = recorder._worker.submit(disk.wait, 30)  # the disk stops answering
    for n in range(1, 5):  # four wait: the bound
        recorder.write(
            "video" if n % 2 else "audio", _packet("video" if n % 2 else "audio", n, False)
        )
    recorder.write("video", _packet("video", 5, False))  # dropped, and video until a key frame
    recorder.write("audio", _packet("audio", 6, False))  # dropped
    assert recorder._pending == 4 and recorder.dropped_behind == 2
    disk.set()
    await asyncio.wrap_future(stalled)
    await eventually(lambda: recorder._pending == 0, 10)
    recorder.write("video", _packet("video", 7, False))  # room again, still no key frame
    recorder.write("audio", _packet("audio", 8, False))
    recorder.write("video", _packet("video", 9, True))
    recorder.write("video", _packet("video", 10, False))
    await recorder.close()
    assert recorder.dropped_behind == 3

    with av.open(str(path)) as container:
        kinds = {s.index: s.type for s in container.streams}
        got = [(kinds[p.stream_index], bytes(p)[-1]) for p in container.demux() if p.size]
    assert [n for kind, n in got if kind == "video"] == [0, 1, 3, 9, 10]
    assert [n for kind, n in got if kind == "audio"] == [2, 4, 8]
