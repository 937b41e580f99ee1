"""What the projector shows besides pictures: the agent's state, sent to the window process
as one JSON line whenever it changes."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class Scene:
    language: str = "zh-CN"
    mode: str = "starting"  # starting | waiting | joining | lesson | ended
    lesson_title: str = ""
    lecturer: str = ""
    on_stage: bool = False
    muted: bool = False
    hand: bool = False
    audio_only: bool = False
    reconnecting: bool = False
    quality: str = "unknown"  # good | fair | poor | unknown
    # camera, microphone, speaker, display -> ok | off | missing
    devices: dict[str, str] = field(default_factory=dict)
    network: str = "ok"  # ok | missing (the hub cannot be reached)
    next_title: str = ""
    next_at: str = ""  # already formatted for the room (local time)
    next_lecturer: str = ""
    # News that stays on the projector until the room presses Enter, newest last: each
    # {"kind": chat | stage | hand | mute, "key": its words (i18n), and the words' values}.
    banners: list[dict[str, str]] = field(default_factory=list)
    # The lecturer's open question, shown large: {number, text, kind, options, correct,
    # answered, typed} (empty: none).
    question: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scene:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
