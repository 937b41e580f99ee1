"""Settings: the documented YAML is complete and equals the defaults; errors name the setting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from streamhub.config import Settings, load_settings
from streamhub.errors import ConfigError

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "streamhub.yaml"


def _names(model: type[BaseModel], data: dict, prefix: str = "") -> list[str]:
    missing = []
    for name, field in model.model_fields.items():
        if name not in data:
            missing.append(prefix + name)
            continue
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            missing += _names(annotation, data[name] or {}, f"{prefix}{name}.")
    return missing


def test_every_setting_is_documented_with_its_default() -> None:
    documented = yaml.safe_load(CONFIG.read_text())
    assert _names(Settings, documented) == []
    assert load_settings(CONFIG).model_dump() == load_settings(None).model_dump()


def test_environment_overrides_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMHUB_PORT", "9100")
    monkeypatch.setenv("STREAMHUB_ICE__ANNOUNCED_ADDRESS", "203.0.113.7")
    settings = load_settings(CONFIG)
    assert settings.port == 9100
    assert settings.ice.announced_address == "203.0.113.7"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("port: 99999\n", "port"),
        ("ice:\n  host_addresses: ['not-an-ip']\n", "ice.host_addresses"),
        ("media:\n  video_codecs: ['AV1']\n", "media.video_codecs"),
        ("admin_key: short\n", "admin_key"),
        ("unknown_setting: 1\n", "unknown_setting"),
    ],
)
def test_bad_config_names_the_setting(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"setting '{named}"):
        load_settings(path)


def test_serve_exits_with_a_clear_message_on_bad_config(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("signaling:\n  max_message_bytes: 10\n")
    result = subprocess.run(
        [sys.executable, "-m", "streamhub", "serve", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "signaling.max_message_bytes" in result.stderr
