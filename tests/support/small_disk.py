"""A real, small filesystem for tests that fill a disk: a tmpfs of a few MB mounted (as root)
on a folder of the test's, unmounted again afterwards."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


@contextlib.contextmanager
def small_disk(mountpoint: Path, size_kb: int) -> Iterator[Path]:
    """Mount a tmpfs of ``size_kb`` KiB on ``mountpoint`` for the duration of the block."""
    if os.geteuid() != 0:
        raise RuntimeError("mounting a small filesystem needs root (make test runs as root)")
    mountpoint.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0755", "tmpfs", str(mountpoint)],
        check=True,
    )
    try:
        yield mountpoint
    finally:
        if subprocess.run(["umount", str(mountpoint)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def fill_until(path: Path, leave_bytes: int) -> Path:
    """A ballast file that leaves about ``leave_bytes`` free on ``path``'s filesystem."""
    ballast = path / "ballast.bin"
    size = max(0, free_bytes(path) - leave_bytes)
    with ballast.open("wb") as file:
        file.write(b"\0" * size)
    return ballast
