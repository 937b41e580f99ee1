"""Pictures handed from the agent to its window process through one shared memory file.

Each picture source (lecturer, shared screen, classroom on stage) has a slot: a header
(sequence number, width, height) and room for one RGB picture. The writer makes the sequence
odd while it copies and even when done; a reader that sees it odd, or changed after its copy,
skips that picture (a seqlock: the writer never waits for the window).
"""

from __future__ import annotations

import mmap
import os
import struct
import tempfile
from pathlib import Path

import numpy as np

SOURCES = ("lecturer", "screen", "stage")
MAX_WIDTH, MAX_HEIGHT = 1920, 1080
HEADER = struct.Struct("<QII")  # sequence, width, height
HEADER_SIZE = 64  # keeps every slot's pixels cache-line aligned
SLOT_SIZE = HEADER_SIZE + MAX_WIDTH * MAX_HEIGHT * 3
FILE_SIZE = SLOT_SIZE * len(SOURCES)


def shared_dir() -> Path:
    """RAM-backed where the OS has it (Linux /dev/shm): the file never touches the disk."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


class FrameSlots:
    def __init__(self, path: Path, *, create: bool = False) -> None:
        self.path = path
        if create:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
            os.ftruncate(fd, FILE_SIZE)
        else:
            fd = os.open(path, os.O_RDWR)
        try:
            self._map = mmap.mmap(fd, FILE_SIZE)
        finally:
            os.close(fd)
        self._sequences = dict.fromkeys(SOURCES, 0)
        if create:
            for source in SOURCES:
                HEADER.pack_into(self._map, self._offset(source), 0, 0, 0)

    @classmethod
    def create(cls) -> FrameSlots:
        fd, name = tempfile.mkstemp(prefix="streamhub-agent-frames-", dir=shared_dir())
        os.close(fd)
        return cls(Path(name), create=True)

    def _offset(self, source: str) -> int:
        return SOURCES.index(source) * SLOT_SIZE

    def write(self, source: str, image: np.ndarray | None) -> None:
        """Publish an RGB picture (height x width x 3, uint8), or None: the source is gone.
        Pictures larger than 1920x1080 are cut to it (the hub never forwards larger)."""
        offset = self._offset(source)
        sequence = self._sequences[source] + 1
        HEADER.pack_into(self._map, offset, sequence, 0, 0)  # odd: being written
        width = height = 0
        if image is not None:
            height, width = min(image.shape[0], MAX_HEIGHT), min(image.shape[1], MAX_WIDTH)
            start = offset + HEADER_SIZE
            target = np.frombuffer(self._map, np.uint8, height * width * 3, start)
            target.reshape(height, width, 3)[:] = image[:height, :width, :3]
        sequence += 1
        HEADER.pack_into(self._map, offset, sequence, width, height)
        self._sequences[source] = sequence

    def sequence(self, source: str) -> int:
        return int(HEADER.unpack_from(self._map, self._offset(source))[0])

    def read(self, source: str, after: int) -> tuple[int, np.ndarray | None] | None:
        """A newer picture than sequence ``after``: (sequence, picture or None when the source
        is gone); None when there is nothing new or the writer is busy (try again later)."""
        offset = self._offset(source)
        sequence, width, height = HEADER.unpack_from(self._map, offset)
        if sequence == after or sequence % 2:
            return None
        image = None
        if width and height:
            start = offset + HEADER_SIZE
            pixels = np.frombuffer(self._map, np.uint8, height * width * 3, start)
            image = pixels.reshape(height, width, 3).copy()
        if HEADER.unpack_from(self._map, offset)[0] != sequence:
            return None  # rewritten while we copied: take the next one
        return int(sequence), image

    def close(self, *, unlink: bool = False) -> None:
        try:
            self._map.close()
        except BufferError:  # a picture is still borrowed: the OS frees it with the process
            pass
        if unlink:
            self.path.unlink(missing_ok=True)
