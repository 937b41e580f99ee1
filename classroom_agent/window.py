"""The projector window: its own process, started and restarted by the agent (display.py).

Why a process: an X11 program dies with its display (Xlib exits the process when the
connection breaks; measured with SDL2 and with OpenCV's Qt windows alike), and a projector
cable pulled or a desktop restarted must not end the lesson. Here it only ends this window;
the agent starts a new one when the display is back.

Full screen without window chrome (SDL2 through pygame-ce), mouse hidden, screen saver off.
Pictures come from the shared frames file; the agent's state comes as JSON lines on stdin
(EOF: the agent is gone, so is the window); keys and figures go out as JSON lines on stdout.

    python -m classroom_agent.window --frames PATH [--screen N] [--windowed]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
# A projector on a second screen must stay up when the teacher clicks on the first one.
os.environ.setdefault("SDL_VIDEO_MINIMIZE_ON_FOCUS_LOSS", "0")

import pygame

from classroom_agent import layout, overlay
from classroom_agent.frames import FrameSlots
from classroom_agent.scene import Scene

KEYS = {
    pygame.K_h: "hand",
    pygame.K_m: "mute",
    pygame.K_q: "leave",
    # The news on the projector was read.
    pygame.K_RETURN: "read",
    pygame.K_KP_ENTER: "read",
    pygame.K_SPACE: "read",
    # Quick replies to the lecturer (the classroom page has the same keys).
    pygame.K_F1: "reply:cant_hear",
    pygame.K_F2: "reply:cant_see",
    pygame.K_F3: "reply:slower",
    pygame.K_F4: "reply:done",
    pygame.K_F5: "reply:help",
    # The lecturer's question: 1.. pick an option; a number question's digits, then Enter.
    **{getattr(pygame, f"K_{n}"): f"digit:{n}" for n in range(10)},
    **{getattr(pygame, f"K_KP{n}"): f"digit:{n}" for n in range(10)},
    pygame.K_PERIOD: "digit:.",
    pygame.K_KP_PERIOD: "digit:.",
    pygame.K_MINUS: "digit:-",
    pygame.K_KP_MINUS: "digit:-",
    pygame.K_BACKSPACE: "backspace",
    # C: the room's counts per option instead of one agreed answer; Tab and the arrows move
    # between the options (Shift+Tab back, see run()).
    pygame.K_c: "counts",
    pygame.K_TAB: "next",
    pygame.K_RIGHT: "next",
    pygame.K_DOWN: "next",
    pygame.K_LEFT: "prev",
    pygame.K_UP: "prev",
}
MAX_FPS = 30
IDLE_REDRAW_S = 1.0  # redraw at least this often (a status change, a resized screen)
FPS_REPORT_S = 5.0
SCREEN_CHECK_S = 2.0


def emit(event: str, **fields: Any) -> None:
    try:
        sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):  # the agent is gone
        os._exit(0)


class Inbox:
    """The agent's messages, read on a thread; the render loop takes the latest scene."""

    def __init__(self) -> None:
        self.scene = Scene()
        self.version = 0
        self.closed = False
        self._lock = threading.Lock()
        threading.Thread(target=self._read, name="window-inbox", daemon=True).start()

    def _read(self) -> None:
        for line in sys.stdin:
            try:
                data = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                self.scene = Scene.from_dict(data)
                self.version += 1
        self.closed = True  # EOF: the agent exited or closed us

    def take(self) -> tuple[int, Scene]:
        with self._lock:
            return self.version, self.scene


class Projector:
    def __init__(self, frames: FrameSlots, screen: int, fullscreen: bool) -> None:
        self.frames = frames
        self.screen_index = screen
        self.fullscreen = fullscreen
        self.surface = self._open()
        self.pictures: dict[str, pygame.Surface | None] = dict.fromkeys(
            ("lecturer", "screen", "stage")
        )
        self.sequences = dict.fromkeys(self.pictures, 0)
        self._strip_key: tuple[Any, ...] | None = None
        self._strip: pygame.Surface | None = None
        self._banners_key: tuple[Any, ...] | None = None
        self._question_key: tuple[Any, ...] | None = None
        self._question: pygame.Surface | None = None
        self._banners: pygame.Surface | None = None
        self._background_key: tuple[Any, ...] | None = None
        self._background: pygame.Surface | None = None
        self.presented = 0  # lecturer/screen pictures put on screen
        self.moved = False

    def _open(self) -> pygame.Surface:
        if self.fullscreen:
            surface = pygame.display.set_mode(
                (0, 0), pygame.FULLSCREEN | pygame.NOFRAME, display=self.screen_index
            )
        else:
            surface = pygame.display.set_mode((1280, 720), pygame.RESIZABLE)
        pygame.display.set_caption("StreamHub")
        pygame.mouse.set_visible(not self.fullscreen)
        width, height = surface.get_size()
        self.opened_at = time.monotonic()
        emit("ready", width=width, height=height, fullscreen=self.fullscreen)
        return surface

    def toggle_fullscreen(self) -> None:
        self.fullscreen = not self.fullscreen
        self.surface = self._open()

    def screen_changed(self) -> bool:
        """A monitor swapped for one of another size (or unplugged while another remains), or
        a window manager that started after us and framed the window: full screen again."""
        if not self.fullscreen:
            return False
        if self.moved and time.monotonic() - self.opened_at > 1.0:
            self.moved = False
            self.surface = self._open()
            return True
        sizes = pygame.display.get_desktop_sizes()
        index = self.screen_index if self.screen_index < len(sizes) else 0
        if sizes and tuple(sizes[index]) != self.surface.get_size():
            self.screen_index = index
            self.surface = self._open()
            return True
        return False

    def take_pictures(self) -> bool:
        changed = False
        for source, after in self.sequences.items():
            got = self.frames.read(source, after)
            if got is None:
                continue
            self.sequences[source], image = got
            # In the screen's own pixel format, scaling costs a fifth (1280x720 to 1920x1080:
            # 14 ms from 24-bit RGB, under 3 ms converted, measured with SDL 2.32).
            self.pictures[source] = (
                None
                if image is None
                else pygame.image.frombuffer(image.tobytes(), image.shape[1::-1], "RGB").convert()
            )
            changed = True
        return changed

    def draw(self, scene: Scene) -> None:
        size = self.surface.get_size()
        if scene.mode != "lesson":
            self._blit_cached(("waiting", scene.to_json(), size), overlay.waiting_screen, scene)
            pygame.display.flip()
            return
        lecturer, screen, stage = (self.pictures[k] for k in ("lecturer", "screen", "stage"))
        main = screen if screen is not None else lecturer
        if main is None:
            self._blit_cached(("notice", scene.to_json(), size), _notice, scene)
        else:
            self.surface.fill((0, 0, 0))
            self._scaled(main, layout.fit(*main.get_size(), (0, 0, *size)))
            if screen is not None and lecturer is not None:
                self._scaled(lecturer, layout.inset(*lecturer.get_size(), size, "right"))
            if stage is not None:
                self._scaled(stage, layout.inset(*stage.get_size(), size, "left"))
            self.presented += 1
        self.surface.blit(self._strip_for(scene, size), (0, size[1] - layout.strip_height(size[1])))
        news = self._banners_for(scene, size)
        if news is not None:
            margin = max(8, size[0] // 80)
            self.surface.blit(news, (margin, margin))
        card = self._question_for(scene, size)
        if card is not None:
            self.surface.blit(card, ((size[0] - card.get_width()) // 2, size[1] // 6))
        pygame.display.flip()

    def _question_for(self, scene: Scene, size: tuple[int, int]) -> pygame.Surface | None:
        # Drawn again each second of a countdown (draw() runs at least once a second).
        left = overlay.seconds_left(scene, time.time())
        key = (json.dumps(scene.question, ensure_ascii=False), scene.language, size, left)
        if key != self._question_key:
            image = overlay.question_card(scene, size, time.time())
            self._question = _surface(image) if image is not None else None
            self._question_key = key
        return self._question

    def _scaled(self, picture: pygame.Surface, rect: layout.Rect) -> None:
        x, y, w, h = rect
        if (w, h) == picture.get_size():
            self.surface.blit(picture, (x, y))
        else:
            self.surface.blit(pygame.transform.smoothscale(picture, (w, h)), (x, y))

    def _blit_cached(self, key: tuple[Any, ...], render: Any, scene: Scene) -> None:
        if key != self._background_key:
            self._background = _surface(render(scene, key[-1]))
            self._background_key = key
        assert self._background is not None
        self.surface.blit(self._background, (0, 0))

    def _banners_for(self, scene: Scene, size: tuple[int, int]) -> pygame.Surface | None:
        key = (json.dumps(scene.banners, ensure_ascii=False), scene.language, size)
        if key != self._banners_key:
            image = overlay.banners(scene, size)
            self._banners = _surface(image) if image is not None else None
            self._banners_key = key
        return self._banners

    def _strip_for(self, scene: Scene, size: tuple[int, int]) -> pygame.Surface:
        key = (scene.to_json(), size)
        if key != self._strip_key or self._strip is None:
            self._strip = _surface(overlay.status_strip(scene, size[0], size[1]))
            self._strip_key = key
        return self._strip


def _notice(scene: Scene, size: tuple[int, int]) -> Any:
    return overlay.notice("waiting_picture", scene, size)


def _surface(image: Any) -> pygame.Surface:
    return pygame.image.frombuffer(image.tobytes(), image.size, "RGBA").convert_alpha()


def run(frames_path: Path, screen: int, fullscreen: bool) -> int:
    frames = FrameSlots(frames_path)
    inbox = Inbox()
    pygame.display.init()
    projector = Projector(frames, screen, fullscreen)
    clock = pygame.time.Clock()
    seen_version, drawn_at, report_at, checked_at = -1, 0.0, time.monotonic(), time.monotonic()
    presented_at_report = 0
    while not inbox.closed:
        resized = False
        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                # Closing the projector by mistake must not stop the lesson's picture: the
                # agent opens a new window at once.
                emit("closed")
                return 0
            if event.type == pygame.KEYDOWN:
                if event.key in (pygame.K_f, pygame.K_F11):
                    projector.toggle_fullscreen()
                    resized = True
                elif event.key == pygame.K_ESCAPE and projector.fullscreen:
                    projector.toggle_fullscreen()
                    resized = True
                elif event.key == pygame.K_TAB and event.mod & pygame.KMOD_SHIFT:
                    emit("key", action="prev")
                elif event.key in KEYS:
                    emit("key", action=KEYS[event.key])
            elif event.type in (pygame.VIDEORESIZE, pygame.WINDOWSIZECHANGED):
                resized = True
            elif event.type == pygame.WINDOWMOVED:
                projector.moved = True
        now = time.monotonic()
        if now - checked_at >= SCREEN_CHECK_S or projector.moved:
            checked_at = now
            resized |= projector.screen_changed()
        version, scene = inbox.take()
        fresh = projector.take_pictures()
        if fresh or resized or version != seen_version or now - drawn_at >= IDLE_REDRAW_S:
            projector.draw(scene)
            seen_version, drawn_at = version, now
        if now - report_at >= FPS_REPORT_S:
            fps = (projector.presented - presented_at_report) / (now - report_at)
            emit("fps", fps=round(fps, 1))
            report_at, presented_at_report = now, projector.presented
        clock.tick(MAX_FPS)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="classroom_agent.window")
    parser.add_argument("--frames", type=Path, required=True)
    parser.add_argument("--screen", type=int, default=0)
    parser.add_argument("--windowed", action="store_true")
    args = parser.parse_args(argv)
    try:
        return run(args.frames, args.screen, not args.windowed)
    except pygame.error as exc:
        # No display (unplugged, X not started yet): say why; the agent retries.
        emit("failed", reason=str(exc))
        return 3


if __name__ == "__main__":
    sys.exit(main())
