"""The hub's settings: one validated object, read from YAML, overridden by STREAMHUB_* variables.

Every setting is documented with its default in configs/streamhub.yaml.
"""

from __future__ import annotations

import contextvars
import ipaddress
import socket
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from streamhub.errors import ConfigError


class TurnServer(BaseModel):
    urls: list[str]
    username: str = ""
    credential: SecretStr = SecretStr("")


class IceSettings(BaseModel):
    # aioice leaves loopback out of its host candidates, so the addresses are always explicit.
    host_addresses: list[str] = Field(default_factory=lambda: ["127.0.0.1"])
    announced_address: str | None = None
    stun_servers: list[str] = Field(default_factory=list)
    turn_servers: list[TurnServer] = Field(default_factory=list)
    turn_credential_ttl_s: int = Field(default=3600, ge=60)

    @field_validator("host_addresses")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one host address is needed")
        for address in value:
            ipaddress.ip_address(address)
        return value

    @field_validator("announced_address")
    @classmethod
    def _announced(cls, value: str | None) -> str | None:
        if value is not None:
            ipaddress.ip_address(value)
        return value


class SignalingSettings(BaseModel):
    max_message_bytes: int = Field(default=327680, ge=1024, le=1 << 20)
    messages_per_second: float = Field(default=50.0, gt=0)
    burst: int = Field(default=100, ge=1)
    heartbeat_interval_s: float = Field(default=10.0, gt=0)
    heartbeat_timeout_s: float = Field(default=30.0, gt=0)
    join_timeout_s: float = Field(default=10.0, gt=0)
    joins_per_minute: int = Field(default=30, ge=1)
    allowed_origins: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8000", "http://localhost:8000"]
    )
    # How long a participant whose media stopped answering (ICE consent) stays listed.
    peer_timeout_s: float = Field(default=10.0, gt=0)


class MediaSettings(BaseModel):
    # In order of preference; a lesson takes the first its first participant supports.
    video_codecs: list[str] = Field(default_factory=lambda: ["H264", "VP8"])
    keyframe_interval_ms: int = Field(default=500, ge=50)
    stats_interval_s: float = Field(default=2.0, gt=0)
    subscriber_queue_frames: int = Field(default=60, ge=4)

    @field_validator("video_codecs")
    @classmethod
    def _codecs(cls, value: list[str]) -> list[str]:
        allowed = {"VP8", "H264"}
        upper = [c.upper() for c in value]
        if not upper or any(c not in allowed for c in upper):
            raise ValueError(f"must be a non-empty list drawn from {sorted(allowed)}")
        return upper


class CapacitySettings(BaseModel):
    """What one hub process accepts; beyond it joins are refused rather than failing everyone."""

    # Classrooms in one lesson; more are refused with lesson_full (0: no limit).
    max_classrooms_per_lesson: int = Field(default=0, ge=0)
    # Classrooms one hub process serves over all its lessons; more: node_full (0: no limit).
    max_classrooms_per_node: int = Field(default=200, ge=0)
    # The event loop running this late means the process is over capacity.
    overload_lag_ms: float = Field(default=250.0, gt=0)
    # Overloaded this long: refuse new classrooms, and turn one more classroom audio-only.
    overload_after_s: float = Field(default=3.0, gt=0)
    # Calm this long: give one audio-only classroom its video back.
    recover_after_s: float = Field(default=20.0, gt=0)


class RecorderSettings(BaseModel):
    enabled: bool = True
    disk_floor_mb: int = Field(default=500, ge=0)
    segment_seconds: float = Field(default=60.0, gt=1)
    thumbnail_every_s: float = Field(default=30.0, gt=0)


class AuthSettings(BaseModel):
    access_token_ttl_s: int = Field(default=4 * 3600, ge=10)
    lecturer_link_ttl_s: int = Field(default=14 * 24 * 3600, ge=60)


_yaml_data: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "streamhub_yaml_data", default=None
)


class _YamlSource(PydanticBaseSettingsSource):
    """Lowest-priority source: the YAML file given on the command line."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return (_yaml_data.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_yaml_data.get() or {})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="STREAMHUB_", env_nested_delimiter="__", extra="forbid"
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    public_url: str | None = None
    data_dir: Path = Path("data")
    database_url: str | None = None
    recordings_dir: Path | None = None
    admin_key: SecretStr | None = None
    jwt_secret: SecretStr | None = None
    redis_url: str | None = None
    node_id: str | None = None
    # With Redis: a node that misses heartbeats for this long is dead and its lessons move.
    live_ttl_s: float = Field(default=10.0, ge=2, le=120)
    # Hub processes (one per core) behind the one port; 0: the number of cores when Redis is
    # configured or redis-server is installed (started embedded), else 1 (streamhub/workers.py).
    workers: int = Field(default=0, ge=0, le=256)
    # Each worker's own port, where joins for its lessons are redirected (default: port + 1 + i).
    worker_ports: list[int] = Field(default_factory=list)
    # This process's own URL for redirects (set per worker by `serve`); default: public_url.
    node_url: str | None = None
    log_level: str = "INFO"
    log_json: bool = True

    ice: IceSettings = Field(default_factory=IceSettings)
    signaling: SignalingSettings = Field(default_factory=SignalingSettings)
    media: MediaSettings = Field(default_factory=MediaSettings)
    recorder: RecorderSettings = Field(default_factory=RecorderSettings)
    capacity: CapacitySettings = Field(default_factory=CapacitySettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value.upper()

    @field_validator("admin_key", "jwt_secret")
    @classmethod
    def _secret_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'catalog.db'}"

    @property
    def effective_node_id(self) -> str:
        return self.node_id or f"{socket.gethostname()}-{self.port}"

    @property
    def effective_recordings_dir(self) -> Path:
        return self.recordings_dir or self.data_dir / "recordings"

    @property
    def effective_public_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def effective_node_url(self) -> str:
        return self.node_url or self.effective_public_url


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read settings from an optional YAML file, the environment and overrides.

    Raises ConfigError naming the offending setting.
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping of settings")
        data = loaded
    token = _yaml_data.set(data)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]) or "(settings)"
            problems.append(f"setting '{name}': {error['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from exc
    finally:
        _yaml_data.reset(token)
