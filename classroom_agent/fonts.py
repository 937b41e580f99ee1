"""A font that can draw Chinese on the projector (OpenCV's built-in fonts cannot).

Found once per window process: ``STREAMHUB_AGENT_FONT`` (a path, optionally ``PATH#INDEX``
for a collection), then fontconfig's choice for Simplified Chinese, then the fonts that
Windows and macOS ship. Without one, the window draws English with Pillow's own font and says
so in its log, rather than rows of empty boxes.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

logger = logging.getLogger(__name__)

KNOWN = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),  # Debian fonts-noto-cjk: SC
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("C:/Windows/Fonts/msyh.ttc", 0),  # Microsoft YaHei
    ("C:/Windows/Fonts/simhei.ttf", 0),
    ("C:/Windows/Fonts/simsun.ttc", 0),
    ("/System/Library/Fonts/PingFang.ttc", 0),
    ("/System/Library/Fonts/STHeiti Medium.ttc", 0),
)


@dataclass(frozen=True)
class FontFile:
    path: Path
    index: int = 0


@cache
def cjk_font() -> FontFile | None:
    chosen = os.environ.get("STREAMHUB_AGENT_FONT")
    if chosen:
        name, _, number = chosen.partition("#")
        if Path(name).is_file():
            return FontFile(Path(name), int(number or 0))
        logger.warning("STREAMHUB_AGENT_FONT=%s: no such file", chosen)
    found = _fontconfig()
    if found is not None:
        return found
    for path, index in KNOWN:
        if Path(path).is_file():
            return FontFile(Path(path), index)
    logger.error("no Chinese font found (install fonts-noto-cjk): the window shows English")
    return None


def _fontconfig() -> FontFile | None:
    tool = shutil.which("fc-match")
    if tool is None:
        return None
    try:
        out = subprocess.run(
            [tool, "-f", "%{file}|%{index}|%{lang}", ":lang=zh-cn"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    path, _, rest = out.partition("|")
    index, _, langs = rest.partition("|")
    # fc-match always answers; only a font that covers Chinese will do.
    if not path or "zh-cn" not in langs.split("|"):
        return None
    return FontFile(Path(path), int(index or 0)) if Path(path).is_file() else None
