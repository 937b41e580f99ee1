"""The hub's settings: one validated object, read from YAML, overridden by STREAMHUB_* variables.

Every setting is documented with its default in configs/streamhub.yaml.
"""

from __future__ import annotations

import contextvars
import ipaddress
import re
import socket
from datetime import date
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from streamhub.errors import ConfigError

_TURN_URL = re.compile(
    r"^(?P<scheme>turns?):(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:(?P<port>\d{1,5}))?"
    r"(\?transport=(?P<transport>udp|tcp))?$"
)


class TurnServer(BaseModel):
    urls: list[str] = Field(min_length=1)
    username: str = ""
    credential: SecretStr = SecretStr("")

    @field_validator("urls")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        for url in value:
            match = _TURN_URL.match(url)
            if match is None:
                raise ValueError(
                    f"{url!r} is not a TURN URL (turn:HOST:PORT?transport=udp|tcp or "
                    "turns:HOST:443?transport=tcp)"
                )
            if match["scheme"] == "turns" and match["transport"] == "udp":
                # aiortc ignores TURN over DTLS silently; browsers rarely support it.
                raise ValueError(f"{url!r}: write TURN over TLS as turns:HOST:PORT?transport=tcp")
            if match["port"] is not None and not 1 <= int(match["port"]) <= 65535:
                raise ValueError(f"{url!r}: port out of range")
        return value

    @model_validator(mode="after")
    def _secret(self) -> TurnServer:
        if not self.credential.get_secret_value():
            raise ValueError(
                "credential is required: the TURN REST shared secret (coturn's "
                "static-auth-secret), or the password of a static username"
            )
        return self


class IceSettings(BaseModel):
    # aioice leaves loopback out of its host candidates, so the addresses are always explicit.
    # "auto" (alone or in the list) stands for this machine's non-loopback interface addresses,
    # read once when the settings load.
    # (The `| str` lets the environment say plain `auto` instead of JSON.)
    host_addresses: list[str] | str = Field(default_factory=lambda: ["127.0.0.1"])
    announced_address: str | None = None
    stun_servers: list[str] = Field(default_factory=list)
    turn_servers: list[TurnServer] = Field(default_factory=list)
    turn_credential_ttl_s: int = Field(default=3600, ge=60)
    # Inclusive [first, last] UDP ports of the hub's media sockets (one per participant and
    # host address), so a firewall opens a known range; null: any free port.
    udp_port_range: tuple[int, int] | str | None = None

    # Remote candidates a participant may name (in its offers and trickled), distinct ones.
    remote_candidates_max: int = Field(default=32, ge=1, le=1000)
    # Networks that clients may name as candidates although they are loopback, link-local,
    # multicast, unspecified or reserved (refused by default: the hub would send STUN checks
    # wherever a client says). Tests and a one-machine demo: ["127.0.0.0/8"].
    allowed_remote_networks: list[str] = Field(default_factory=list)

    @property
    def addresses(self) -> list[str]:
        """``host_addresses`` as validated (the ``str`` in its type is what YAML or the
        environment may give before ``auto`` is expanded)."""
        assert isinstance(self.host_addresses, list)
        return self.host_addresses

    @property
    def port_range(self) -> tuple[int, int] | None:
        """``udp_port_range`` as validated (text such as ``40000-40199`` was split)."""
        assert not isinstance(self.udp_port_range, str)
        return self.udp_port_range

    @field_validator("host_addresses", mode="before")
    @classmethod
    def _auto_alone(cls, value: Any) -> Any:
        # `host_addresses: auto` in YAML, STREAMHUB_ICE__HOST_ADDRESSES=auto in the environment.
        return [value] if isinstance(value, str) else value

    @field_validator("host_addresses")
    @classmethod
    def _addresses(cls, value: list[str] | str) -> list[str]:
        from streamhub.interfaces import expand_host_addresses

        if not value:
            raise ValueError("at least one host address is needed")
        assert isinstance(value, list)  # _auto_alone made it one
        for address in value:
            if address != "auto":
                ipaddress.ip_address(address)
        return expand_host_addresses(value)

    @field_validator("udp_port_range", mode="before")
    @classmethod
    def _range_text(cls, value: Any) -> Any:
        if isinstance(value, str):  # "40000-40199"
            first, sep, last = value.partition("-")
            if not sep:
                raise ValueError("write the range as FIRST-LAST, e.g. 40000-40199")
            try:
                return (int(first), int(last))
            except ValueError:
                raise ValueError("write the range as FIRST-LAST, e.g. 40000-40199") from None
        return value

    @field_validator("udp_port_range")
    @classmethod
    def _range(cls, value: tuple[int, int] | str | None) -> tuple[int, int] | None:
        if value is not None:
            assert not isinstance(value, str)  # _range_text split it
            first, last = value
            if not 1024 <= first <= last <= 65535:
                raise ValueError("must be two ports FIRST <= LAST between 1024 and 65535")
        return value

    @field_validator("allowed_remote_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            ipaddress.ip_network(network, strict=False)
        return value

    @field_validator("announced_address")
    @classmethod
    def _announced(cls, value: str | None) -> str | None:
        if value is not None:
            ipaddress.ip_address(value)
        return value


class TlsSettings(BaseModel):
    # PEM files (`streamhub tls init` makes them). Both set: the hub serves HTTPS and wss itself.
    cert_file: Path | None = None
    key_file: Path | None = None
    # A plain-HTTP port that answers every request with a redirect to the HTTPS address
    # (e.g. 80, so a lecturer who types the bare address lands on HTTPS); null: none.
    redirect_http_port: int | None = Field(default=None, ge=1, le=65535)
    # Reverse proxies (Caddy) whose X-Forwarded-Proto/-For headers are believed.
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None

    @model_validator(mode="after")
    def _pair(self) -> TlsSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("tls.cert_file and tls.key_file go together: set both or neither")
        if self.redirect_http_port is not None and not self.enabled:
            raise ValueError("tls.redirect_http_port needs tls.cert_file and tls.key_file")
        return self


class SignalingSettings(BaseModel):
    max_message_bytes: int = Field(default=327680, ge=1024, le=1 << 20)
    # Set by `serve --workers N` for its workers, not by hand: a sibling worker's node URL ->
    # its ws(s) URL on this machine. A join redirected to one of them is relayed there
    # (streamhub/signaling/relay.py) instead of sending the client to another port.
    relay: dict[str, str] = Field(default_factory=dict)
    messages_per_second: float = Field(default=50.0, gt=0)
    burst: int = Field(default=100, ge=1)
    # Per kind of message, below the general limit: chat (fanned out to every member) far
    # lower than control messages (hands, stage, mute).
    chat_per_second: float = Field(default=1.0, gt=0)
    chat_burst: int = Field(default=5, ge=1)
    control_per_second: float = Field(default=10.0, gt=0)
    control_burst: int = Field(default=30, ge=1)
    # Chat of a whole lesson, every sender together.
    lesson_chat_per_second: float = Field(default=5.0, gt=0)
    lesson_chat_burst: int = Field(default=20, ge=1)
    # A classroom's quick reply ("can't hear") stays on the lecturer's tile this long unless
    # the lecturer acknowledges it first (the pages clear it; the count stays).
    reply_clear_s: float = Field(default=60.0, ge=5, le=3600)
    # Each refused message is a strike; strikes decay; above the limit the connection closes.
    strike_limit: int = Field(default=50, ge=1)
    strike_decay_per_second: float = Field(default=1.0, ge=0)
    heartbeat_interval_s: float = Field(default=10.0, gt=0)
    heartbeat_timeout_s: float = Field(default=30.0, gt=0)
    join_timeout_s: float = Field(default=10.0, gt=0)
    joins_per_minute: int = Field(default=30, ge=1)
    allowed_origins: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8000", "http://localhost:8000"]
    )
    # A participant whose media has not connected this long after joining is closed
    # (media_timeout): a member that never connects must not stay in the lesson.
    peer_timeout_s: float = Field(default=20.0, gt=0)
    # `recorder record` processes per lesson (hidden members); the hub's own is not counted.
    max_recorders_per_lesson: int = Field(default=4, ge=1)


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


class TermSettings(BaseModel):
    """A school term, for the library's "this term" (dates in the county's time zone)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=60)
    first_day: date
    last_day: date

    @model_validator(mode="after")
    def _order(self) -> TermSettings:
        if self.last_day < self.first_day:
            raise ValueError("last_day comes before first_day")
        return self


class WebhookSettings(BaseModel):
    """Delivering the data feed to webhooks (added by admins, ``POST /api/webhooks``)."""

    # A failed delivery is retried after base, 2x base, 4x base... seconds, up to max_s apart.
    retry_base_s: float = Field(default=10.0, gt=0, le=3600)
    retry_max_s: float = Field(default=3600.0, gt=0, le=86_400)
    # After this many attempts a delivery is failed for good (shown in the delivery log).
    max_attempts: int = Field(default=12, ge=1, le=100)
    # A receiver that has not answered within this many seconds failed this attempt.
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    # Due deliveries are looked for this often (and at once when this node adds an event).
    poll_s: float = Field(default=2.0, gt=0, le=300)
    # A replay.summary event this often: views and watch time of each recording and capsule
    # replayed since the last one (0: none).
    replay_summary_every_s: float = Field(default=3600.0, ge=0, le=7 * 86_400)


class RecorderSettings(BaseModel):
    enabled: bool = True
    disk_floor_mb: int = Field(default=500, ge=0)
    segment_seconds: float = Field(default=60.0, gt=1)
    thumbnail_every_s: float = Field(default=30.0, gt=0)
    # The archive has a key frame at least this often (seconds of the lesson), so a seek or a
    # capsule cut lands near the time asked for even when the live frame rate was low. The
    # hub's recorder asks the lecturer's encoder for one this often while it records.
    keyframe_every_s: float = Field(default=2.0, ge=0.5, le=60)
    # H.264 is copied into the archive as it came (key frames asked for live, see above); a
    # source that ignored the requests (key frames farther apart than 1.5 x keyframe_every_s)
    # is transcoded onto the grid instead (after the lesson, CPU).
    regrid_h264: bool = True
    # A recording that could not be finalized for want of disk space is tried again this often.
    finalize_retry_s: float = Field(default=30.0, gt=0)
    # A recording that a full disk stopped resumes once this much is free (and disk_floor_mb).
    resume_free_mb: int = Field(default=64, ge=0)


class CapsuleSettings(BaseModel):
    """Knowledge capsules: clips cut from recordings (streamhub/capsules), kept under
    ``<recordings folder>/capsules`` and never deleted with their recording."""

    # The longest capsule, seconds.
    max_length_s: float = Field(default=600.0, gt=0, le=3600)
    # Cuts running at once on this node (each takes a core while it re-encodes); more wait.
    cuts_at_once: int = Field(default=1, ge=1, le=16)


class ArchiveSettings(BaseModel):
    """The access log (who watched what) and retention (docs/roles.md, README)."""

    # Access-log entries waiting to be written; past this many (a stalled catalog) new ones
    # are dropped and counted, so a replay or a download never waits for the log.
    access_log_queue: int = Field(default=10_000, ge=1, le=1_000_000)
    # Entries written in one transaction at most.
    access_log_batch: int = Field(default=200, ge=1, le=10_000)
    # The retention run (policies in the catalog) happens this often; 0: only on demand
    # (POST /api/retention/run).
    retention_every_s: float = Field(default=3600.0, ge=0)
    # Access-log entries older than this many days are deleted by each retention run (the log
    # names who watched lessons of children: keep it no longer than needed); 0: kept for ever.
    access_log_keep_days: int = Field(default=0, ge=0, le=36_500)


class HttpSettings(BaseModel):
    """Limits of the HTTP server itself (uvicorn), against floods and slow clients."""

    # Largest request body accepted, counted while it streams in; bigger ones get 413 at once.
    max_body_bytes: int = Field(default=65536, ge=1024, le=1 << 30)
    # A request body that stalls this long between two chunks is refused (408).
    body_timeout_s: float = Field(default=10.0, gt=0)
    # A connection must complete its request headers this long after it opens (or after its
    # previous response); half-sent requests are closed (slowloris).
    header_timeout_s: float = Field(default=10.0, gt=0)
    # Idle keep-alive connections are closed after this long.
    keep_alive_timeout_s: float = Field(default=5.0, gt=0)
    # Open connections (HTTP and WebSocket) from one client address; more are closed at once.
    max_connections_per_address: int = Field(default=200, ge=1)
    # Open connections plus running requests above which new HTTP requests get 503 at once
    # (WebSocket joins are not refused by it). Unset: 3/4 of the file-descriptor limit.
    limit_concurrency: int | None = Field(default=None, ge=1)
    # uvicorn's HTTP parser: auto (httptools when installed), h11 or httptools.
    protocol: Literal["auto", "h11", "httptools"] = "auto"


class RtmpSettings(BaseModel):
    """The RTMP bridge (streamhub/rtmp): boxes that only push RTMP publish the lecturer's camera
    and microphone to rtmp://HUB:PORT/live/<stream key>. Off unless enabled."""

    enabled: bool = False
    # Where it listens; None: the hub's own ``host``.
    host: str | None = None
    port: int = Field(default=1935, ge=0, le=65535)
    # The server URL shown on the pages; None: rtmp://<public_url's host>:<port>/live.
    url: str | None = None
    # Connections at once (pushes and anyone knocking); more are closed at once.
    max_connections: int = Field(default=16, ge=1, le=1024)
    # From the first byte to an accepted key (handshake, connect, publish): slower is closed.
    auth_timeout_s: float = Field(default=10.0, gt=0)
    # A push that sends nothing this long is ended (its lesson's camera freed).
    idle_timeout_s: float = Field(default=10.0, gt=0)
    # Largest RTMP message once the key is accepted (a key frame); before that, 64 KiB.
    max_message_bytes: int = Field(default=4 << 20, ge=65536, le=16 << 20)


class AuthSettings(BaseModel):
    access_token_ttl_s: int = Field(default=4 * 3600, ge=10)
    lecturer_link_ttl_s: int = Field(default=14 * 24 * 3600, ge=60)
    # People's accounts (docs/roles.md): how long a sign-in lasts, how long a one-time sign-in
    # link stays usable, and how many failed sign-ins one address may make per login in
    # `sign_in_window_s` before it waits.
    session_ttl_s: int = Field(default=12 * 3600, ge=60)
    sign_in_link_ttl_s: int = Field(default=15 * 60, ge=60, le=7 * 24 * 3600)
    sign_in_failures: int = Field(default=10, ge=1)
    sign_in_window_s: int = Field(default=15 * 60, ge=1)


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
    # Each node marks the attendance of the sessions it holds as seen this often; a session
    # not seen for 3 such periods (its node crashed) is closed at the last time it was seen.
    attendance_seen_every_s: float = Field(default=5.0, gt=0, le=300)
    # A lesson's register marks a classroom late when it first joined this many seconds after
    # the lesson went live, and "left early" when it left for good this long before the end.
    attendance_late_after_s: float = Field(default=300.0, ge=0, le=86_400)
    # The county's time zone (IANA name): a lesson series repeats at the same wall time here.
    county_timezone: str = "UTC"
    attendance_left_early_s: float = Field(default=300.0, ge=0, le=86_400)
    # The school terms, for the library's "this term"; none: the half-year (February to July,
    # August to January) that holds the day.
    terms: list[TermSettings] = Field(default_factory=list, max_length=100)
    # Each node re-reads the lessons and device credentials of the sessions it holds this
    # often (and whenever Redis comes back): an end or a revocation made through another node
    # is applied even when the event between nodes was lost (a Redis outage).
    reconcile_every_s: float = Field(default=3.0, gt=0, le=300)
    # A classroom PC heard from (timetable poll, token request) within this many seconds is
    # online in the lecturer's roster; agents poll every 10 s by default.
    presence_timeout_s: float = Field(default=35.0, gt=0, le=3600)
    # Hub processes (one per core) behind the one port; 0: the number of cores when Redis is
    # configured or redis-server is installed (started embedded), else 1 (streamhub/workers.py).
    workers: int = Field(default=0, ge=0, le=256)
    # Each worker's own port, where joins for its lessons are redirected (default: port + 1 + i).
    worker_ports: list[int] = Field(default_factory=list)
    # This process's own URL for redirects (set per worker by `serve`); default: public_url.
    node_url: str | None = None
    log_level: str = "INFO"
    # One JSON object per line; None: JSON unless stderr is a terminal (plain one-line text).
    log_json: bool | None = None
    # Logs go to this file instead (the terminal keeps warnings and errors).
    log_file: Path | None = None

    ice: IceSettings = Field(default_factory=IceSettings)
    tls: TlsSettings = Field(default_factory=TlsSettings)
    signaling: SignalingSettings = Field(default_factory=SignalingSettings)
    media: MediaSettings = Field(default_factory=MediaSettings)
    recorder: RecorderSettings = Field(default_factory=RecorderSettings)
    capsules: CapsuleSettings = Field(default_factory=CapsuleSettings)
    archive: ArchiveSettings = Field(default_factory=ArchiveSettings)
    capacity: CapacitySettings = Field(default_factory=CapacitySettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    rtmp: RtmpSettings = Field(default_factory=RtmpSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)

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

    @field_validator("county_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name: Asia/Shanghai)") from None
        return value

    @property
    def county_zone(self) -> ZoneInfo:
        return ZoneInfo(self.county_timezone)

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
        scheme = "https" if self.tls.enabled else "http"
        # A browser's Origin leaves out the scheme's default port: so must the public URL.
        default = 443 if self.tls.enabled else 80
        port = "" if self.port == default else f":{self.port}"
        # Listening everywhere is no address to link to (nor a secure context for the lecturer
        # page): links made here work on this machine; other PCs need public_url (and HTTPS).
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        host = f"[{host}]" if ":" in host else host
        return self.public_url or f"{scheme}://{host}{port}"

    @property
    def effective_rtmp_url(self) -> str:
        """The RTMP server URL encoders are given (the stream key goes after it)."""
        if self.rtmp.url:
            return self.rtmp.url.rstrip("/")
        host = urlsplit(self.effective_public_url).hostname or "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        port = "" if self.rtmp.port == 1935 else f":{self.rtmp.port}"
        return f"rtmp://{host}{port}/live"

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
    except SettingsError as exc:
        # A STREAMHUB_* variable that should hold JSON does not.
        raise ConfigError(f"invalid configuration: {exc}") from exc
    finally:
        _yaml_data.reset(token)
