"""The browser client's copies of the protocol's constants match the Python source of truth.

web/js has no build step, so the slot kinds, close codes and error codes it needs are written
out in it; this reads the JavaScript and compares (no browser needed).
"""

from __future__ import annotations

import re
from pathlib import Path

from streamhub.protocol import CLOSE_CODES, PUBLISH_SLOTS, REPLY_KINDS, SLOT_KIND, ErrorCode, Slot

JS = Path(__file__).resolve().parents[2] / "web" / "js"
SIGNALING = (JS / "signaling.js").read_text(encoding="utf-8")


def js_object(name: str) -> dict[str, str]:
    """The entries of ``export const NAME = { key: value, "key.x": "value" }``."""
    match = re.search(rf"export const {name} = \{{(.*?)\n\}};", SIGNALING, re.S)
    assert match, f"signaling.js has no object {name}"
    entries = re.findall(r'^\s*"?([\w.]+)"?:\s*"?([\w.]+)"?,?$', match[1], re.M)
    assert entries, f"{name} is empty"
    return dict(entries)


def js_set(name: str) -> set[str]:
    match = re.search(rf"export const {name} = new Set\(\[(.*?)\]\);", SIGNALING, re.S)
    assert match, f"signaling.js has no set {name}"
    return set(re.findall(r'"([^"]+)"', match[1]))


def test_slot_kinds_and_publish_slots() -> None:
    assert js_object("SLOT_KIND") == {slot.value: kind for slot, kind in SLOT_KIND.items()}
    assert js_set("PUBLISH_SLOTS") == {slot.value for slot in PUBLISH_SLOTS}
    assert js_set("TILE_SLOTS") == {Slot.TILE_VIDEO.value, Slot.TILE_AUDIO.value}


def test_quick_reply_kinds() -> None:
    match = re.search(r"export const REPLY_KINDS = \[(.*?)\];", SIGNALING, re.S)
    assert match, "signaling.js has no REPLY_KINDS"
    assert tuple(re.findall(r'"([^"]+)"', match[1])) == REPLY_KINDS


def test_close_codes() -> None:
    close = js_object("CLOSE")
    unknown = set(close) - {code.value for code in ErrorCode}
    assert not unknown, f"CLOSE names codes ErrorCode lacks: {unknown}"
    assert {code: int(value) for code, value in close.items()} == {
        code: CLOSE_CODES[ErrorCode(code)] for code in close
    }


def test_every_error_code_and_slot_the_pages_name_exists() -> None:
    """Error codes compared with ``code``, listed in a set of codes, and slots passed to the
    session's track helpers, in every page script."""
    codes: set[str] = set()
    slots: set[str] = set()
    for path in sorted(JS.glob("*.js")):
        text = path.read_text(encoding="utf-8")
        codes.update(re.findall(r'(?:\bexc\.|(?<![.\w]))code\s*===?\s*"(\w+)"', text))
        for listed in re.findall(r"\[([^\[\]]*)\]\.includes\(\s*(?:exc\.)?code\s*\)", text):
            codes.update(re.findall(r'"(\w+)"', listed))
        for listed in re.findall(r"const \w*ERRORS = new Set\(\[(.*?)\]\)", text, re.S):
            codes.update(re.findall(r'"(\w+)"', listed))
        slots.update(re.findall(r'\.(?:track|collectStats|replaceTrack)\("([\w.]+)"', text))
    assert {"redirect", "not_invited", "wrong_lesson"} <= codes, "the patterns still match"
    assert "lecturer.video" in slots, "the patterns still match"
    assert not codes - {code.value for code in ErrorCode}, "codes ErrorCode lacks"
    assert not slots - {slot.value for slot in Slot}, "slots Slot lacks"


def test_every_translated_error_code_exists() -> None:
    """The pages translate a problem's ``code`` through an ``error.<code>`` string."""
    # The page's own keys: a failed request without a code, and no answer at all.
    page_keys = {"generic", "network"}
    translated: set[str] = set()
    for path in sorted((JS.parent / "i18n").glob("*.js")):
        translated.update(re.findall(r'"error\.(\w+)"\s*:', path.read_text(encoding="utf-8")))
    assert "token_invalid" in translated, "the pattern still matches"
    assert not translated - page_keys - {code.value for code in ErrorCode}
