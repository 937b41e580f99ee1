"""Is a page readable as it is shown: no text that runs out of its box (or is cut off by one),
and no character drawn as the missing-glyph box because no installed font has it. Screenshots
go to the test output directory, never into the repository."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

# Every visible text node's box against the boxes that hold it: its block, and any ancestor
# that clips (overflow hidden/clip). Text a scrollable panel holds can be scrolled to; text cut
# short with an ellipsis is fine when the element offers the whole text as its title.
OVERFLOWING_TEXT = """() => {
  const problems = [];
  const either = (cs, values) => values.includes(cs.overflowX) || values.includes(cs.overflowY);
  const clips = (cs) => either(cs, ["hidden", "clip"]);
  const scrolls = (cs) => either(cs, ["auto", "scroll"]);
  const skipped = "script, style, template, title, [hidden], .visually-hidden";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.trim();
    const parent = node.parentElement;
    if (!text || !parent || parent.closest(skipped)) continue;
    if (!parent.checkVisibility({ visibilityProperty: true, opacityProperty: true })) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const rect = range.getBoundingClientRect();
    if (rect.width === 0 && rect.height === 0) continue;
    if (rect.bottom <= 0 || rect.right <= 0) continue; // kept off screen until needed (skip links)
    let block = parent;
    while (block !== document.body && getComputedStyle(block).display.startsWith("inline")) {
      block = block.parentElement;
    }
    const outside = (box) =>
      rect.left < box.left - 1 || rect.right > box.right + 1 ||
      rect.top < box.top - 1 || rect.bottom > box.bottom + 1;
    const name = parent.tagName.toLowerCase() + (parent.id ? "#" + parent.id : "") +
      (typeof parent.className === "string" && parent.className
        ? "." + parent.className.split(" ")[0] : "");
    const quoted = `${name}: "${text.slice(0, 40)}"`;
    const titled = (el) => {
      const holder = el.closest("[title]");
      return Boolean(holder) && holder.title.includes(text.slice(0, 20));
    };
    const cutOnPurpose = (el) => getComputedStyle(el).textOverflow === "ellipsis" && titled(el);
    if (outside(block.getBoundingClientRect()) && !scrolls(getComputedStyle(block))) {
      if (!cutOnPurpose(block)) problems.push(`${quoted} runs out of its box`);
      continue;
    }
    for (let up = block; up && up !== document.documentElement; up = up.parentElement) {
      const cs = getComputedStyle(up);
      if (scrolls(cs)) break;
      if (clips(cs) && outside(up.getBoundingClientRect())) {
        if (!cutOnPurpose(up)) problems.push(`${quoted} is cut off`);
        break;
      }
    }
    if (rect.right > window.innerWidth + 1 || rect.bottom > window.innerHeight + 1) {
      let scroller = block;
      while (scroller !== document.documentElement && !scrolls(getComputedStyle(scroller))) {
        scroller = scroller.parentElement;
      }
      if (scroller === document.documentElement) problems.push(`${quoted} is off screen`);
    }
  }
  return problems;
}"""

# Each character of the visible text drawn in its element's font next to a private-use
# character no font has: a character drawn exactly like it is the missing-glyph box.
MISSING_GLYPHS = """() => {
  const canvas = document.createElement("canvas");
  canvas.width = 64;
  canvas.height = 64;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const draw = (font, ch) => {
    ctx.clearRect(0, 0, 64, 64);
    ctx.font = font;
    ctx.textBaseline = "top";
    ctx.fillStyle = "#000";
    ctx.fillText(ch, 4, 4);
    const pixels = ctx.getImageData(0, 0, 64, 64).data.join(",");
    return { width: ctx.measureText(ch).width, pixels };
  };
  const seen = new Map();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest("script, style, template, [hidden]")) continue;
    if (!parent.checkVisibility()) continue;
    const cs = getComputedStyle(parent);
    const font = `${cs.fontStyle} ${cs.fontWeight} 40px ${cs.fontFamily}`;
    for (const ch of node.textContent) {
      if (/\\s/.test(ch)) continue;
      const key = font + "|" + ch;
      if (!seen.has(key)) seen.set(key, { font, ch });
    }
  }
  const missing = new Set();
  const boxes = new Map();
  for (const { font, ch } of seen.values()) {
    if (!boxes.has(font)) boxes.set(font, [draw(font, "\\uE000"), draw(font, "\\u{10FFFD}")]);
    const drawn = draw(font, ch);
    if (boxes.get(font).some((box) => box.pixels === drawn.pixels && box.width === drawn.width)) {
      missing.add(`${ch} (U+${ch.codePointAt(0).toString(16).toUpperCase()})`);
    }
  }
  return [...missing];
}"""


def output_dir(base: Path) -> Path:
    """``$TEST_ARTIFACTS/pages`` when set (CI keeps it), else under pytest's own temp dir."""
    root = Path(os.environ["TEST_ARTIFACTS"]) if os.environ.get("TEST_ARTIFACTS") else base
    folder = root / "pages"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def assert_readable(page: Any, folder: Path, name: str) -> Path:
    """Screenshot the page, then fail on any text out of its box or any missing glyph."""
    path = folder / f"{name}.png"
    await page.screenshot(path=str(path))
    overflowing = await page.evaluate(OVERFLOWING_TEXT)
    missing = await page.evaluate(MISSING_GLYPHS)
    assert overflowing == [], f"{name} ({path}): {overflowing}"
    assert missing == [], f"{name} ({path}): characters no font has: {missing}"
    return path
