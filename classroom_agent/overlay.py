"""Text on the projector, drawn with Pillow and a CJK font: the status strip during a lesson,
and the waiting screen (next lesson, self-check) before it. Sizes follow the screen's height
so the words can be read from the back of a classroom.

Pictures here are RGBA ``PIL.Image``s; the window process turns them into surfaces.
"""

from __future__ import annotations

import math
import time
from functools import lru_cache
from typing import Any, cast

from PIL import Image, ImageDraw, ImageFont

from classroom_agent.fonts import cjk_font
from classroom_agent.i18n import translate
from classroom_agent.layout import strip_height
from classroom_agent.scene import Scene

WHITE = (255, 255, 255, 255)
GREY = (190, 190, 190, 255)
AMBER = (255, 196, 0, 255)
RED = (255, 90, 80, 255)
GREEN = (80, 210, 120, 255)
STRIP_BACKGROUND = (0, 0, 0, 190)
STATE_COLOURS = {"ok": GREEN, "off": GREY, "missing": RED}
QUALITY_COLOURS = {"good": GREEN, "fair": AMBER, "poor": RED, "unknown": GREY}
DEVICE_PROBLEMS = (
    ("camera", "no_camera"),
    ("microphone", "no_microphone"),
    ("speaker", "no_speaker"),
)


def can_draw_chinese() -> bool:
    return cjk_font() is not None


def language_for(scene: Scene) -> str:
    # Without a Chinese font, English: empty boxes tell a room nothing.
    return scene.language if can_draw_chinese() else "en"


@lru_cache(maxsize=16)
def font(size: int) -> ImageFont.FreeTypeFont:
    chosen = cjk_font()
    if chosen is None:
        # Pillow's own font (FreeType, Latin only) at that size.
        return cast(ImageFont.FreeTypeFont, ImageFont.load_default(size))
    return ImageFont.truetype(str(chosen.path), size, index=chosen.index)


def status_strip(scene: Scene, width: int, screen_height: int) -> Image.Image:
    """Two lines over the bottom of the picture: what is happening, then network and keys."""
    lang = language_for(scene)
    height = strip_height(screen_height)
    image = Image.new("RGBA", (width, height), STRIP_BACKGROUND)
    draw = ImageDraw.Draw(image)
    big, small = font(round(height * 0.40)), font(round(height * 0.28))
    pad = max(8, height // 5)
    # Line 1: the lesson and the lecturer, then what the room must know, in amber/red.
    x = _text(draw, (pad, round(height * 0.06)), _lesson_line(scene, lang), big, WHITE)
    for text, colour in _flags(scene, lang):
        x = _text(draw, (x + pad, round(height * 0.06)), text, big, colour)
    # Line 2: network quality, then the keys.
    y2 = round(height * 0.58)
    quality = translate(lang, f"quality_{scene.quality}")
    x = _dot(draw, (pad, y2), small.size, QUALITY_COLOURS.get(scene.quality, GREY))
    x = _text(draw, (x, y2), quality, small, GREY)
    keys = translate(lang, "keys")
    keys_width = draw.textlength(keys, font=small)
    _text(draw, (max(x + pad, width - pad - keys_width), y2), keys, small, GREY)
    return image


def _lesson_line(scene: Scene, lang: str) -> str:
    parts = [scene.lesson_title] if scene.lesson_title else []
    if scene.lecturer:
        parts.append(translate(lang, "lecturer", name=scene.lecturer))
    return " · ".join(parts)


def _flags(scene: Scene, lang: str) -> list[tuple[str, tuple[int, int, int, int]]]:
    flags = []
    if scene.reconnecting:
        flags.append((translate(lang, "reconnecting"), RED))
    if scene.on_stage:
        flags.append((translate(lang, "on_stage"), AMBER))
    if scene.hand:
        flags.append((translate(lang, "hand"), AMBER))
    if scene.muted:
        flags.append((translate(lang, "muted"), AMBER))
    if scene.audio_only:
        flags.append((translate(lang, "audio_only"), AMBER))
    for device, key in DEVICE_PROBLEMS:
        if scene.devices.get(device) == "missing":
            flags.append((translate(lang, key), RED))
    return flags


def waiting_screen(scene: Scene, size: tuple[int, int]) -> Image.Image:
    """Before the lesson: the next lesson in large type, and a check of this room's devices."""
    width, height = size
    lang = language_for(scene)
    image = Image.new("RGBA", size, (12, 24, 40, 255))
    draw = ImageDraw.Draw(image)
    unit = height / 20
    left = round(width * 0.08)
    y = round(unit * 1.5)
    if scene.mode == "waiting" and scene.next_title:
        _text(draw, (left, y), translate(lang, "next_lesson"), font(round(unit)), GREY)
        y += round(unit * 1.6)
        _text(draw, (left, y), scene.next_title, font(round(unit * 2.0)), WHITE)
        y += round(unit * 2.8)
        details = [translate(lang, "at", time=scene.next_at)] if scene.next_at else []
        if scene.next_lecturer:
            details.append(translate(lang, "lecturer", name=scene.next_lecturer))
        _text(draw, (left, y), "   ".join(details), font(round(unit * 1.1)), WHITE)
    else:
        key = {"waiting": "no_lesson", "ended": "ended", "joining": "joining"}.get(
            scene.mode, "starting"
        )
        if scene.reconnecting:
            key = "reconnecting"
        title = font(round(unit * 2))
        _text(draw, (left, y + round(unit * 1.6)), translate(lang, key), title, WHITE)
    # The self-check: one line per device, a coloured dot and its state.
    y = round(unit * 10.5)
    _text(draw, (left, y), translate(lang, "check"), font(round(unit)), GREY)
    y += round(unit * 1.5)
    row = font(round(unit * 1.05))
    checks = [(d, scene.devices.get(d, "ok")) for d in ("camera", "microphone", "speaker")]
    checks.append(("network", scene.network))
    for device, state in checks:
        x = _dot(draw, (left, y), row.size, STATE_COLOURS.get(state, GREY))
        x = _text(draw, (x, y), translate(lang, device), row, WHITE)
        _text(draw, (max(x + row.size, left + round(unit * 7)), y), translate(lang, state), row,
              STATE_COLOURS.get(state, GREY))  # fmt: skip
        y += round(unit * 1.7)
    return image


BANNERS_SHOWN = 3
BANNER_BORDER = {"chat": (77, 178, 255, 255), "stage": (77, 178, 255, 255)}


def banner_text(banner: dict[str, str], lang: str) -> str:
    values = {k: v for k, v in banner.items() if k not in ("kind", "key")}
    return translate(lang, banner.get("key", ""), **values)


def banners(scene: Scene, size: tuple[int, int]) -> Image.Image | None:
    """The news the room has not read yet (stage, hand, microphone, chat), in the upper left:
    the newest few in large type, then how many more, and the key that clears them."""
    if not scene.banners:
        return None
    width, height = size
    lang = language_for(scene)
    face = font(max(16, height // 26))
    small = font(max(14, height // 36))
    box_w = round(width * 0.46)
    pad = max(8, round(face.size) // 2)
    line_h = round(face.size * 1.3)
    shown = scene.banners[-BANNERS_SHOWN:]
    blocks = []
    for banner in shown:
        lines = _wrap(banner_text(banner, lang), face, box_w - 2 * pad)
        blocks.append((banner, lines[:4]))
    more = len(scene.banners) - len(shown)
    footer = translate(lang, "banner_ok")
    if more:
        footer = f"{translate(lang, 'banner_more', n=more)} · {footer}"
    total = sum(2 * pad + line_h * len(lines) for _, lines in blocks) + pad * len(blocks)
    total = total + round(small.size * 1.6)
    image = Image.new("RGBA", (box_w, total), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    y = 0
    for banner, lines in blocks:
        h = 2 * pad + line_h * len(lines)
        border = BANNER_BORDER.get(banner.get("kind", ""), AMBER)
        draw.rounded_rectangle((0, y, box_w - 1, y + h), radius=pad, fill=(15, 23, 32, 235),
                               outline=border, width=max(2, pad // 3))  # fmt: skip
        for i, line in enumerate(lines):
            _text(draw, (pad, y + pad + i * line_h), line, face, WHITE)
        y += h + pad
    footer_w = round(draw.textlength(footer, font=small)) + pad
    draw.rounded_rectangle((0, y, min(box_w - 1, footer_w), y + round(small.size * 1.5)),
                           radius=pad // 2, fill=STRIP_BACKGROUND)  # fmt: skip
    _text(draw, (pad // 2, y + round(small.size * 0.1)), footer, small, WHITE)
    return image


def _wrap(text: str, face: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Lines that fit ``width``: at spaces where there are some, anywhere in Chinese."""
    lines: list[str] = []
    line = ""
    for token in _tokens(text):
        trial = line + token
        if line and face.getlength(trial) > width:
            lines.append(line.rstrip())
            line = token.lstrip()
        else:
            line = trial
    if line:
        lines.append(line.rstrip())
    return lines or [""]


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    word = ""
    for ch in text:
        if ch.isascii() and not ch.isspace():
            word += ch
            continue
        if word:
            tokens.append(word)
            word = ""
        tokens.append(ch)
    if word:
        tokens.append(word)
    return tokens


def notice(text_key: str, scene: Scene, size: tuple[int, int]) -> Image.Image:
    """A short line in the middle of a dark screen (no picture from the lecturer yet)."""
    width, height = size
    lang = language_for(scene)
    image = Image.new("RGBA", size, (0, 0, 0, 255))
    draw = ImageDraw.Draw(image)
    big = font(max(16, height // 14))
    text = translate(lang, text_key)
    x = (width - draw.textlength(text, font=big)) / 2
    _text(draw, (round(x), height // 2 - big.size), text, big, WHITE)
    return image


def _text(
    draw: ImageDraw.ImageDraw,
    at: tuple[float, float],
    text: str,
    face: ImageFont.FreeTypeFont,
    fill: tuple[int, ...],
) -> float:
    """Draw and return the x just after the text."""
    if not text:
        return round(at[0])
    draw.text(at, text, font=face, fill=fill)
    return at[0] + round(draw.textlength(text, font=face))


def _dot(
    draw: ImageDraw.ImageDraw, at: tuple[float, float], size: float, fill: tuple[int, ...]
) -> float:
    r = size * 0.32
    cx, cy = at[0] + r, at[1] + size * 0.75
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    return round(at[0] + 2 * r + size * 0.4)


def _option_word(option: str, lang: str) -> str:
    return translate(lang, f"question_{option}") if option in ("true", "false") else option


def seconds_left(scene: Scene, now: float) -> int | None:
    """Whole seconds left of the question's time limit (None: no limit; the deadline is on this
    PC's clock, see ClassroomSession.question_deadline)."""
    deadline = scene.question.get("deadline") if scene.question else None
    if not isinstance(deadline, int | float):
        return None
    return max(0, math.ceil(deadline - now))


def _count_line(question: dict[str, Any], lang: str) -> str:
    """Each option with the count typed for it, the one being typed in brackets."""
    counts = [str(c) for c in question.get("counts") or []]
    at = question.get("at", 0)
    parts = []
    for i, option in enumerate(str(o) for o in question.get("options") or []):
        typed = counts[i] if i < len(counts) else ""
        name = _option_word(option, lang)
        parts.append(f"[{name}: {typed}_]" if i == at else f"{name}: {typed or '0'}")
    return "   ".join(parts)


def question_card(
    scene: Scene, size: tuple[int, int], now: float | None = None
) -> Image.Image | None:
    """The lecturer's open question, large in the middle of the picture: its text, the options
    with the key that picks each (or the counts being typed), the countdown, then this room's
    answer or the correct one once shown."""
    question = scene.question
    if not question:
        return None
    width, height = size
    lang = language_for(scene)
    big, face = font(max(18, height // 16)), font(max(16, height // 24))
    small = font(max(14, height // 36))
    box_w = round(width * 0.7)
    pad = max(10, round(face.size) // 2)
    lines: list[tuple[str, ImageFont.FreeTypeFont, tuple[int, ...]]] = []
    lines.append((translate(lang, "question_title", n=question.get("number", "")), big, WHITE))
    for line in _wrap(str(question.get("text") or ""), face, box_w - 2 * pad)[:4]:
        if line:
            lines.append((line, face, WHITE))
    left = seconds_left(scene, time.time() if now is None else now)
    options = [str(o) for o in question.get("options") or []]
    if left == 0:
        lines.append((translate(lang, "question_time_up"), big, AMBER))
    elif question.get("kind") == "number":
        typed = str(question.get("typed") or "")
        lines.append((translate(lang, "question_number_keys", typed=typed or "_"), face, AMBER))
    elif question.get("counting"):
        lines.append((_count_line(question, lang), face, AMBER))
        lines.append((translate(lang, "question_count_keys"), small, GREY))
    else:
        picks = "   ".join(f"{i + 1}: {_option_word(o, lang)}" for i, o in enumerate(options))
        lines.append((picks, big, AMBER))
        lines.append((translate(lang, "question_choice_keys", n=len(options)), small, GREY))
    if left:
        lines.append((translate(lang, "question_seconds_left", n=left), face, WHITE))
    correct, answered = question.get("correct"), question.get("answered")
    if correct:
        shown = _option_word(str(correct), lang)
        lines.append((translate(lang, "question_correct", answer=shown), big, GREEN))
    elif answered:
        shown = _option_word(str(answered), lang)
        lines.append((translate(lang, "question_answered", answer=shown), face, GREEN))
    line_h = [round(f.size * 1.35) for _, f, _ in lines]
    box_h = sum(line_h) + 2 * pad
    image = Image.new("RGBA", (box_w, box_h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, box_w - 1, box_h - 1), radius=pad, fill=(10, 20, 35, 235),
                           outline=AMBER, width=max(2, pad // 3))  # fmt: skip
    y = pad
    for (text, f, colour), h in zip(lines, line_h, strict=True):
        _text(draw, (pad, y), text, f, colour)
        y += h
    return image
