"""Where each picture goes on the projector: the main picture fitted to the screen (never
cropped: a lecturer's slides must stay whole), insets in the lower corners above the strip."""

from __future__ import annotations

Rect = tuple[int, int, int, int]  # x, y, width, height

INSET_FRACTION = 0.24  # of the screen's width


def fit(width: int, height: int, box: Rect) -> Rect:
    """The largest rectangle of the picture's shape that fits in ``box``, centred."""
    bx, by, bw, bh = box
    if width <= 0 or height <= 0:
        return box
    scale = min(bw / width, bh / height)
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    return bx + (bw - w) // 2, by + (bh - h) // 2, w, h


def strip_height(screen_height: int) -> int:
    """Two lines readable from the back of a classroom: a tenth of the screen, at least 48 px."""
    return max(48, screen_height // 10)


def inset(width: int, height: int, screen: tuple[int, int], corner: str) -> Rect:
    """A small picture in the lower ``right`` or ``left`` corner, above the status strip."""
    sw, sh = screen
    margin = max(8, sw // 80)
    box_w = max(1, round(sw * INSET_FRACTION))
    box_h = max(1, round(box_w * 9 / 16))
    x = sw - box_w - margin if corner == "right" else margin
    y = sh - strip_height(sh) - box_h - margin
    return fit(width, height, (x, y, box_w, box_h))
