"""A process's heap once it has started (the hub's, a classroom agent's): collected once, then
frozen.

Python's full collection walks every object the collector tracks. Once the hub has started,
most of them belong to its code and its libraries (aiortc, PyAV, SQLAlchemy, FastAPI, pydantic:
~340,000 objects) and never become garbage. Measured during 32 classrooms joining, the hub ran
a full collection every 1-2 s, each one stopping its event loop for 200-330 ms: every
classroom's media stalled, and a classroom that joined meanwhile waited that much longer
(issue 19). ``settle`` collects what start-up left behind (the migrations' schema objects)
and moves the rest to the permanent generation (``gc.freeze``), which collections skip.
Objects made afterwards (classrooms' connections) are collected as before. The hub settles
once it listens (``streamhub.https``), the agent before its first lesson.
"""

from __future__ import annotations

import gc
import logging
import time

logger = logging.getLogger(__name__)


def settle() -> None:
    """Collect start-up's garbage and freeze what is left: call once the process is up."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    logger.info(
        "heap settled: %d objects frozen in %.0f ms",
        gc.get_freeze_count(),
        (time.perf_counter() - started) * 1000,
    )
