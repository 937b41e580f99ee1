"""The hub's logs: one JSON object per line for machines, one plain line for a person.

Where they go (``configure_logging``): to a file when one is configured (the terminal then shows
only warnings and errors, so the start-up banner stays readable), else to stderr. The format
is JSON unless told otherwise, or unless ``json_lines`` is left to the default (``None``) and
stderr is a terminal: a person at `make run` reads plain lines, a log collector gets JSON."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, TextIO

# Attributes a log call may pass through `extra=` and that become JSON fields.
CONTEXT_FIELDS = ("lesson", "participant", "role", "node", "code", "remote")

# Start-up chatter a person at a terminal does not need (JSON logs keep it): uvicorn's "Started
# server process", "Waiting for application startup", and alembic's migration steps.
QUIET_ON_TERMINAL = ("uvicorn.error", "alembic")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """One line per record (a multi-line message is joined), then the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        context = " ".join(
            f"{name}={getattr(record, name)}"
            for name in CONTEXT_FIELDS
            if getattr(record, name, None) is not None
        )
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        message = " ".join(record.getMessage().split("\n"))
        line = f"{stamp} {record.levelname:<7} {record.name}: {message}"
        if context:
            line += f" [{context}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def configure_logging(
    level: str = "INFO",
    json_lines: bool | None = True,
    log_file: Path | None = None,
    stream: TextIO | None = None,
) -> None:
    """Send the hub's logs to ``log_file`` (with warnings and errors also on ``stream``), or to
    ``stream`` (stderr); JSON lines, or plain text when ``json_lines`` is False, or when it is
    None and the destination is a terminal."""
    stream = stream if stream is not None else sys.stderr
    terminal = log_file is None and _is_terminal(stream)
    text = json_lines is False or (json_lines is None and terminal)
    handlers: list[logging.Handler] = []
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(log_file, encoding="utf-8")
        to_file.setFormatter(TextFormatter() if json_lines is False else JsonFormatter())
        handlers.append(to_file)
        # Trouble still shows where the hub was started.
        urgent = logging.StreamHandler(stream)
        urgent.setLevel(logging.WARNING)
        plain = json_lines is False or (json_lines is None and _is_terminal(stream))
        urgent.setFormatter(TextFormatter() if plain else JsonFormatter())
        handlers.append(urgent)
    else:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(TextFormatter() if text else JsonFormatter())
        handlers.append(handler)
    root = logging.getLogger()
    root.handlers[:] = handlers
    root.setLevel(level)
    # uvicorn's access log prints request lines; ours has the context, and it must never log
    # query strings (a token there would leak), so keep it quiet.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    for noisy in ("aioice", "aiortc", "websockets", "sqlalchemy.engine"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    for chatter in QUIET_ON_TERMINAL:
        quiet = terminal and text and logging.getLevelName(level) > logging.DEBUG
        logging.getLogger(chatter).setLevel(logging.WARNING if quiet else logging.NOTSET)
