"""What `streamhub serve` tells the person who started it: printed once the hub listens.

A banner is prose (``Say``) and things to copy (``Copy``: a URL, a command, the admin key).
On a terminal it is a box: prose on a rail, wrapped to the terminal, and each thing to copy
alone on its own line, off the rail, never wrapped by us, so a triple-click or a double-click
takes exactly it. Anywhere else (a pipe, a service's journal) the same lines come plain."""

from __future__ import annotations

import logging
import shutil
import sys
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from streamhub.config import Settings
    from streamhub.demo import DemoLinks
    from streamhub.lesson.ports import LessonInfo
    from streamhub.services import Services

logger = logging.getLogger(__name__)

# The widest a box gets, even on a wide terminal: prose reads badly in very long lines.
MAX_WIDTH = 100
COPY_INDENT = "    "


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Copy:
    text: str


Line = Say | Copy


def render(title: str, lines: Sequence[Line], boxed: bool, width: int | None = None) -> str:
    if not boxed:
        out = [title]
        for line in lines:
            if isinstance(line, Copy):
                out.append(f"{COPY_INDENT}{line.text}")
            else:
                out.append(f"  {line.text}".rstrip())
        return "\n".join(out) + "\n"
    width = width or min(MAX_WIDTH, shutil.get_terminal_size((MAX_WIDTH, 24)).columns)
    inner = max(width - 2, 30)
    out = [f"╭─ {title} " + "─" * max(inner - len(title) - 2, 3)]
    for line in lines:
        if isinstance(line, Copy):
            out.append(f"{COPY_INDENT}{line.text}")
            continue
        if not line.text:
            out.append("│")
            continue
        hang = " " * _hanging(line.text)
        # Paths and URLs in prose stay whole (no breaks at their hyphens).
        wrapped_lines = textwrap.wrap(
            line.text,
            inner - 1,
            subsequent_indent=hang,
            break_long_words=False,
            break_on_hyphens=False,
        )
        for wrapped in wrapped_lines:
            out.append(f"│ {wrapped}")
    out.append("╰" + "─" * (inner + 1))
    return "\n".join(out) + "\n"


def _hanging(text: str) -> int:
    """A numbered step ("2. ", "b. ") continues under its text, not under its number."""
    head, _, _ = text.partition(" ")
    return len(head) + 1 if len(head) <= 3 and head.endswith(".") else 0


def show(stream: TextIO, title: str, lines: Sequence[Line], width: int | None = None) -> None:
    boxed = _is_terminal(stream)
    stream.write(render(title, lines, boxed, width))
    stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@dataclass(frozen=True)
class AdminKey:
    value: str | None  # shown only when it was just generated
    file: Path | None


@dataclass(frozen=True)
class Commands:
    """How this person restarts the hub (with `make run`, or `streamhub serve`)."""

    restart: str
    reset: str
    # The command for another port, with "{port}" in it.
    port: str
    stop: str = "Ctrl+C"


def ready_lines(
    base: str,
    key: AdminKey,
    notes: Iterable[str],
    log_file: Path | None,
    demo: DemoLinks | None,
    commands: Commands,
) -> list[Line]:
    lines: list[Line] = []
    if key.value is not None:
        where = f" (kept in {key.file})" if key.file else ""
        lines += [
            Say(f"Admin key, new{where}: the admin pages and the library ask for it"),
            Copy(key.value),
        ]
    elif key.file is not None:
        lines += [
            Say("Admin key (the admin pages and the library ask for it):"),
            Copy(f"cat {key.file}"),
        ]
    else:
        lines.append(Say("Admin key: the one in STREAMHUB_ADMIN_KEY"))
    if demo is not None:
        lines += _demo_lines(base, demo, commands)
    else:
        lines += [
            Say(""),
            Say("Admin pages (schools, classrooms, lessons, device credentials):"),
            Copy(f"{base}/admin"),
        ]
    lines.append(Say(""))
    for note in notes:
        lines.append(Say(note))
    also = f"Also: admin pages {base}/admin · API docs {base}/docs"
    lines.append(
        Say(
            also if demo is not None else f"Also: the library {base}/library · API docs {base}/docs"
        )
    )
    logs = f"Logs: in {log_file}" if log_file is not None else "Logs: below"
    lines.append(Say(f"{logs} · Stop the hub: {commands.stop}"))
    return lines


def _demo_lines(base: str, demo: DemoLinks, commands: Commands) -> list[Line]:
    kept = not (demo.agent_classroom.new or demo.browser_classroom.new)
    credentials = (
        f"Their device credentials are kept from the last start (in {demo.state_file}); "
        f"new ones: {commands.reset}"
        if kept
        else f"Their device credentials are kept in {demo.state_file} for the next start"
    )
    return [
        Say(""),
        Say(
            f'Try it: the demo lesson "{demo.lesson_title}" (code {demo.lesson_code}) is live, '
            f"with two classrooms. {credentials}."
        ),
        Say(""),
        Say(
            "1. Be the lecturer: open this page in Chrome, Edge or Firefox on this machine, "
            'allow the camera and microphone, press "Go live":'
        ),
        Copy(demo.lecturer_url),
        Say(
            f"2. Join {demo.agent_classroom.name}: paste this into another terminal, in any "
            "folder. The classroom agent opens a full-screen projector window (q leaves), "
            "and rejoins by itself after a restart:"
        ),
        Copy(demo.agent_command),
        Say(
            f"3. Join {demo.browser_classroom.name}: open this in another browser window "
            "(its own classroom, so steps 2 and 3 go together):"
        ),
        Copy(demo.classroom_url),
        Say(
            "4. On the lecturer page both classrooms appear: put one on stage, share a screen, "
            'chat; then press "End lesson".'
        ),
        Say(
            "5. Replay the recording in the library (sign in with the admin key); this "
            "terminal and the lecturer page give its own page when the lesson ends:"
        ),
        Copy(f"{base}/library"),
    ]


def ended_lines(recordings: Sequence[tuple[str, str, Path]], commands: Commands) -> list[Line]:
    """After the demo lesson: where each recording is (page, state, folder), what next."""
    lines: list[Line] = []
    if not recordings:
        lines.append(Say("It was not recorded (recorder.enabled is off)."))
    for page, status, folder in recordings:
        lines += [
            Say(f"Its recording ({status}) in the library (sign in with the admin key):"),
            Copy(page),
            Say(f"Its files: {folder}"),
        ]
    lines += [
        Say(""),
        Say(
            f"Next: stop the hub ({commands.stop}); {commands.restart} then starts a new demo "
            "lesson, which the classroom agent joins by itself (it keeps its enrolment)."
        ),
    ]
    return lines


RECORDING_STATES = {
    "recording": "being prepared: the library shows its progress",
    "finalizing": "being prepared: the library shows its progress",
    "stopped": "stopped early, being prepared",
    "ready": "ready",
}


class Announcer:
    """Tells the person at the terminal what to open and paste, once the hub listens; with the
    demo, makes it when the hub is ready and, when it ends, says where its recording is."""

    def __init__(
        self,
        settings: Settings,
        key: AdminKey,
        notes: Sequence[str],
        commands: Commands,
        demo: bool = False,
        demo_reset: bool = False,
        stream: TextIO | None = None,
    ) -> None:
        self.settings = settings
        self.key = key
        self.notes = list(notes)
        self.commands = commands
        self.demo_wanted = demo
        self.demo_reset = demo_reset
        self.stream = stream if stream is not None else sys.stdout
        self.demo: DemoLinks | None = None
        self.services: Services | None = None
        self.shown = False

    async def on_ready(self, services: Services) -> None:
        """The hub is started (not yet listening): make the demo lesson."""
        from streamhub.demo import seed_demo

        self.services = services
        if self.demo_wanted:
            self.demo = await seed_demo(services, reset=self.demo_reset)
            services.lessons.on_lesson_ended.append(self._lesson_ended)

    def on_started(self) -> None:
        """The hub listens: the links work from now on."""
        if self.shown:
            return
        self.shown = True
        base = self.settings.effective_public_url
        log_file = self.settings.log_file.resolve() if self.settings.log_file else None
        lines = ready_lines(base, self.key, self.notes, log_file, self.demo, self.commands)
        show(self.stream, f"StreamHub is ready: {base}", lines)

    async def _lesson_ended(self, info: LessonInfo) -> None:
        if self.demo is None or self.services is None or info.id != self.demo.lesson_id:
            return
        from streamhub.api.lessons import recording_page

        svc = self.services
        folder = svc.settings.effective_recordings_dir.resolve()
        found = []
        for rec in await svc.catalog.lesson_recordings(info.id):
            status = RECORDING_STATES.get(rec.state, rec.state)
            if rec.state == "failed":
                status = f"failed: {rec.failure_reason}"
            found.append((recording_page(svc, rec.id), status, folder / rec.directory))
        logger.info(
            "the demo lesson ended; its recording: %s",
            ", ".join(page for page, _, _ in found) or "none (the recorder is off)",
            extra={"lesson": info.id},
        )
        show(
            self.stream,
            f"The demo lesson {self.demo.lesson_code} ended",
            ended_lines(found, self.commands),
        )
