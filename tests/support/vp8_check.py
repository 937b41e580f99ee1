"""A recorded file's VP8 frames checked against their own headers: a frame shorter than the
first partition its tag declares was cut (a frame released with a hole)."""

from __future__ import annotations

from pathlib import Path

import av

from streamhub.media.codecs import vp8_whole


def cut_vp8_frames(path: Path) -> list[tuple[int, int, bool]]:
    """(frame index, size, key frame?) of every frame of the file's video stream that is
    shorter than its header says."""
    cut = []
    with av.open(str(path)) as container:
        for index, packet in enumerate(container.demux(container.streams.video[0])):
            data = bytes(packet)
            if data and not vp8_whole(data):
                cut.append((index, len(data), not data[0] & 0x01))
    return cut
