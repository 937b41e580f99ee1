"""The projector's pieces that need no screen: where pictures go, the frames file between the
agent and its window process, and the words (Chinese needs a Chinese font)."""

from __future__ import annotations

import numpy as np

from classroom_agent import layout
from classroom_agent.fonts import cjk_font
from classroom_agent.frames import FrameSlots
from classroom_agent.i18n import STRINGS, normalize
from classroom_agent.overlay import status_strip, waiting_screen
from classroom_agent.scene import Scene


def test_the_main_picture_fills_the_screen_whole_and_insets_sit_above_the_strip() -> None:
    screen = (1280, 720)
    assert layout.fit(640, 360, (0, 0, *screen)) == (0, 0, 1280, 720)
    # 4:3 on 16:9: full height, bars at the sides, never cropped.
    assert layout.fit(640, 480, (0, 0, *screen)) == (160, 0, 960, 720)
    right = layout.inset(640, 360, screen, "right")
    left = layout.inset(320, 240, screen, "left")
    strip_top = 720 - layout.strip_height(720)
    for x, y, w, h in (right, left):
        assert y + h <= strip_top and 0 <= x and x + w <= 1280
    assert right[0] > 640 > left[0]


def test_pictures_cross_the_frames_file_whole_or_not_at_all() -> None:
    writer = FrameSlots.create()
    reader = FrameSlots(writer.path)
    try:
        assert reader.read("lecturer", 0) is None  # nothing written yet
        picture = np.random.default_rng(1).integers(0, 255, (360, 640, 3), np.uint8)
        writer.write("lecturer", picture)
        sequence, image = reader.read("lecturer", 0)  # type: ignore[misc]
        assert image is not None and np.array_equal(image, picture)
        assert reader.read("lecturer", sequence) is None  # nothing new
        writer.write("lecturer", None)
        assert reader.read("lecturer", sequence) == (sequence + 2, None)  # the source is gone
        assert reader.read("screen", 0) is None
    finally:
        reader.close()
        writer.close(unlink=True)
    assert not writer.path.exists()


def test_both_languages_say_everything_and_chinese_has_a_font() -> None:
    assert STRINGS["zh-CN"].keys() == STRINGS["en"].keys()
    assert normalize("zh_CN") == "zh-CN" and normalize("en-US") == "en"
    assert normalize(None) == "zh-CN"
    assert cjk_font() is not None, "install fonts-noto-cjk (Makefile TEST_DEBS)"
    scene = Scene(mode="lesson", lesson_title="分数", lecturer="李老师", muted=True)
    strip = status_strip(scene, 1280, 720)
    assert strip.size == (1280, layout.strip_height(720))
    # Text was drawn: the strip is not only its background.
    assert len(strip.getcolors(maxcolors=1 << 24) or []) > 10
    waiting = waiting_screen(Scene(mode="waiting", next_title="分数"), (1280, 720))
    assert waiting.size == (1280, 720)
