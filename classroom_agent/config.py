"""The enrolment file: hub URL, device credential and the projector's language, readable by
the agent's user only."""

from __future__ import annotations

import json
import os
import ssl
from dataclasses import asdict, dataclass
from pathlib import Path

from classroom_agent.errors import ConfigError
from classroom_agent.i18n import DEFAULT_LANGUAGE, normalize

DEFAULT_PATH = Path("~/.config/streamhub-agent/agent.json")


def config_path(path: str | Path | None) -> Path:
    return Path(path or os.environ.get("STREAMHUB_AGENT_CONFIG") or DEFAULT_PATH).expanduser()


@dataclass(frozen=True)
class AgentConfig:
    hub_url: str
    credential: str
    # A CA certificate (PEM) trusted for the hub and its TURN server, besides the system's
    # (`classroom-agent enroll --ca-file`, for a hub certified by `streamhub tls init`).
    ca_file: str | None = None
    language: str = DEFAULT_LANGUAGE  # the projector's words: zh-CN or en

    @property
    def hub(self) -> str:
        return self.hub_url.rstrip("/")

    def ssl_context(self) -> ssl.SSLContext:
        """Verifies the hub (HTTPS, wss) and TURN over TLS: system CAs plus ``ca_file``.

        Raises ConfigError when the CA file cannot be read."""
        from streamhub.errors import ConfigError as HubConfigError
        from streamhub.tls import client_context

        try:
            return client_context(Path(self.ca_file) if self.ca_file else None)
        except HubConfigError as exc:
            raise ConfigError(str(exc)) from None


def save_config(config: AgentConfig, path: Path) -> None:
    """Write atomically with mode 0600: the credential is a secret."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(asdict(config), out, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def load_config(path: Path) -> AgentConfig:
    try:
        data = json.loads(path.read_text())
        ca_file = data.get("ca_file")
        return AgentConfig(
            hub_url=str(data["hub_url"]),
            credential=str(data["credential"]),
            ca_file=str(ca_file) if ca_file else None,
            language=normalize(data.get("language")),
        )
    except FileNotFoundError:
        raise ConfigError(
            f"not enrolled: {path} does not exist (run classroom-agent enroll)"
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: unreadable agent config ({exc})") from exc
