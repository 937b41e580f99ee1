"""The Dockerfile, .dockerignore and configs/compose.yaml, checked structurally (no Docker, no
network): what a build or `docker compose up` would trip over is caught here."""

from __future__ import annotations

import json
import os
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from streamhub.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "configs" / "compose.yaml"


# ---------------------------------------------------------------- a small Dockerfile parser


@dataclass
class Instruction:
    keyword: str
    args: str
    flags: dict[str, str] = field(default_factory=dict)

    def json_args(self) -> list[str] | None:
        if self.args.startswith("["):
            value = json.loads(self.args)
            assert isinstance(value, list) and all(isinstance(v, str) for v in value), self
            return value
        return None


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def logical_lines(text: str) -> list[str]:
    """Join continuation lines; drop comments and blank lines (as the builder does)."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        lines.append(current.strip())
        current = ""
    assert not current, "the Dockerfile ends inside a continued line"
    return lines


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    assert "<<" not in text, "heredocs need BuildKit; keep the Dockerfile classic-builder safe"
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical_lines(text):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        flags: dict[str, str] = {}
        rest = rest.strip()
        while rest.startswith("--"):
            flag, _, rest = rest.partition(" ")
            name, _, value = flag[2:].partition("=")
            flags[name] = value
            rest = rest.strip()
        if keyword == "FROM":
            parts = rest.split()
            assert len(parts) in (1, 3), line
            alias = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(parts[0], alias))
        elif not stages:
            assert keyword == "ARG", f"only ARG may precede FROM: {line}"
            arg, _, value = rest.partition("=")
            global_args[arg] = value
        else:
            stages[-1].instructions.append(Instruction(keyword, rest, flags))
    return global_args, stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))[1]


# ---------------------------------------------------------------- .dockerignore semantics


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
            continue
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            continue
        out += {"*": "[^/]*", "?": "[^/]"}.get(c, re.escape(c))
        i += 1
    return re.compile(out + r"\Z")


def dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        rules.append((negated, _pattern_regex(pattern)))
    return rules


def in_context(relative: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for negated, regex in dockerignore_rules():
        if any(regex.match(p) for p in prefixes):
            excluded = not negated
    return not excluded


def files_under(path: Path) -> list[str]:
    if path.is_file():
        return [path.relative_to(ROOT).as_posix()]
    return [
        p.relative_to(ROOT).as_posix()
        for p in path.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    ]


def copy_sources(instruction: Instruction) -> list[str]:
    args = instruction.json_args() or shlex.split(instruction.args)
    assert len(args) >= 2, instruction
    return args[:-1]


# ---------------------------------------------------------------- Dockerfile


def test_multi_stage_on_pinned_slim_bookworm_python(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    names = [s.name for s in stages]
    for stage in stages:
        if stage.image in names:
            continue  # built on an earlier stage
        image, _, tag = stage.image.rpartition(":")
        assert image and tag and "/" not in tag, f"{stage.image} is not pinned to a tag"
        assert tag != "latest" and "$" not in stage.image
    assert stages[0].image == "python:3.11-slim-bookworm"
    assert stages[-1].image == "python:3.11-slim-bookworm"


def test_every_copy_source_exists_and_is_in_the_build_context(stages: list[Stage]) -> None:
    names = {s.name for s in stages}
    copied = 0
    for stage in stages:
        for instruction in stage.all("COPY") + stage.all("ADD"):
            assert instruction.keyword == "COPY", "use COPY, not ADD"
            if "from" in instruction.flags:
                assert instruction.flags["from"] in names, instruction
                continue
            for source in copy_sources(instruction):
                path = (ROOT / source).resolve()
                assert path.exists(), f"COPY source {source} does not exist"
                assert path == ROOT or ROOT in path.parents, f"{source} is outside the context"
                if path != ROOT:
                    files = files_under(path)
                    assert files, f"COPY source {source} is empty"
                    left_out = [f for f in files if not in_context(f)]
                    assert not left_out, f".dockerignore leaves out {left_out[:5]}"
                copied += 1
    assert copied >= 3


def test_build_context_holds_the_packages_and_nothing_local() -> None:
    for needed in ("pyproject.toml", "README.md", "streamhub/app.py", "streamhub/metrics.py"):
        assert in_context(needed), needed
    for package in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]["find"]["include"]:
        top = package.rstrip("*")
        if (ROOT / top).is_dir():
            assert in_context(f"{top}/__init__.py"), f"package {top} is left out of the context"
    for local in (".venv/bin/python", "data/catalog.db", "tests/__init__.py", ".git/HEAD"):
        assert not in_context(local), f"{local} would be sent to the builder"
    assert not in_context("streamhub/__pycache__/app.cpython-311.pyc")


def test_final_stage_runs_the_hub_as_non_root_with_a_health_check(stages: list[Stage]) -> None:
    final = stages[-1]
    users = final.all("USER")
    assert users, "the final stage needs a USER"
    user = users[-1].args.split(":")[0]
    assert user not in ("root", "0", ""), user
    checks = final.all("HEALTHCHECK")
    assert len(checks) == 1 and checks[0].args.upper() != "NONE"
    assert "/healthz" in checks[0].args
    assert "urllib" in checks[0].args and "curl" not in checks[0].args
    command = checks[0].args.removeprefix("CMD").strip()
    assert json.loads(command)[0] == "python"
    assert any("8000" in e.args.split() for e in final.all("EXPOSE"))
    # No apt or pip at run time beyond the runtime libraries: the venv comes from the builder.
    assert any(i.flags.get("from") == stages[0].name for i in final.all("COPY"))
    for run in final.all("RUN"):
        assert "pip install" not in run.args


def test_default_command_serves_on_all_interfaces_and_scripts_exist(stages: list[Stage]) -> None:
    final = stages[-1]
    entry = final.all("ENTRYPOINT")
    cmd = final.all("CMD")
    argv: list[str] = []
    for instruction in entry[-1:] + cmd[-1:]:
        parsed = instruction.json_args()
        assert parsed is not None, f"{instruction.keyword} should use the JSON (exec) form"
        argv += parsed
    assert argv[:2] == ["streamhub", "serve"], argv
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert {"streamhub", "recorder", "classroom-agent"} <= set(scripts)
    env = " ".join(i.args for i in final.all("ENV"))
    assert "/opt/venv/bin" in env and "STREAMHUB_DATA_DIR=/data" in env


def test_web_pages_land_where_streamhub_web_looks_for_them(stages: list[Stage]) -> None:
    # create_app serves <streamhub package>/../web; installed, that is site-packages/web.
    final = stages[-1]
    targets = {copy_sources(i)[0]: shlex.split(i.args)[-1] for i in final.all("COPY")}
    assert targets.get("web") == "/opt/venv/lib/python3.11/site-packages/web"


# ---------------------------------------------------------------- compose


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: str) -> str:
    """Compose's ${VAR:-default} -> default; required ${VAR:?msg} -> a valid stand-in."""

    def replace(match: re.Match[str]) -> str:
        if match.group(2) in (":-", "-"):
            return match.group(3)
        if match.group(1).endswith("_IP"):
            return "192.0.2.10"  # a required address (documentation range)
        return "stand-in-secret-0123456789abcdef"

    return _INTERPOLATION.sub(replace, value)


def setting_exists(variable: str) -> bool:
    path = variable.removeprefix("STREAMHUB_").lower().split("__")
    model: type[BaseModel] = Settings
    for depth, name in enumerate(path):
        info = model.model_fields.get(name)
        if info is None:
            return False
        annotation = info.annotation
        if depth < len(path) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return False
            model = annotation
    return True


def hub_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose["services"].items()
        if any(k.startswith("STREAMHUB_") for k in environment(service))
    }


def test_compose_has_two_hubs_redis_and_postgres_with_health_checks(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    hubs = hub_services(compose)
    assert len(hubs) == 2
    assert {"redis", "postgres"} <= set(services)
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check and not check.get("disable") and check.get("test"), name
        for dependency in service.get("depends_on") or {}:
            assert dependency in services, f"{name} depends on unknown {dependency}"
        image = service.get("image", "")
        if "build" not in service:
            assert ":" in image and not image.endswith(":latest"), f"{name}: pin {image}"
    for hub in hubs.values():
        context = (COMPOSE.parent / hub["build"]["context"]).resolve()
        assert (context / hub["build"].get("dockerfile", "Dockerfile")) == DOCKERFILE
        assert context == ROOT
        assert {"postgres", "redis"} <= set(hub["depends_on"])
        assert "/healthz" in " ".join(hub["healthcheck"]["test"])


def test_compose_sets_only_real_settings_with_valid_values(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    node_ids, public_urls = set(), set()
    for name, service in compose["services"].items():
        env = environment(service)
        unknown = [k for k in env if k.startswith("STREAMHUB_") and not setting_exists(k)]
        assert not unknown, f"{name} sets variables that are no setting: {unknown}"
        if name not in hub_services(compose):
            continue
        for required in (
            "STREAMHUB_DATABASE_URL",
            "STREAMHUB_REDIS_URL",
            "STREAMHUB_NODE_ID",
            "STREAMHUB_PUBLIC_URL",
            "STREAMHUB_JWT_SECRET",
            "STREAMHUB_ADMIN_KEY",
            "STREAMHUB_ICE__HOST_ADDRESSES",
            "STREAMHUB_ICE__ANNOUNCED_ADDRESS",
        ):
            assert required in env, f"{name} does not set {required}"
        assert env["STREAMHUB_DATABASE_URL"].startswith("postgresql+asyncpg://")
        # The values really load: the same validation the hub runs at start-up.
        with monkeypatch.context() as patch:
            for key in [k for k in os.environ if k.startswith("STREAMHUB_")]:
                patch.delenv(key)
            for key, value in env.items():
                patch.setenv(key, interpolate(value))
            settings = Settings()
        assert settings.redis_url and settings.database_url
        node_ids.add(settings.node_id)
        public_urls.add(settings.public_url)
        hosts = settings.ice.host_addresses
        networks = service.get("networks") or {}
        fixed = {n.get("ipv4_address") for n in networks.values() if isinstance(n, dict)}
        assert set(hosts) <= fixed, f"{name}: ICE host addresses must be the container's IPs"
    assert len(node_ids) == 2 and len(public_urls) == 2


def _port_range(text: str) -> range:
    low, _, high = text.partition("-")
    return range(int(low), int(high or low) + 1)


def test_each_hub_publishes_its_own_media_udp_range_one_to_one(
    compose: dict[str, Any],
) -> None:
    seen: list[range] = []
    for name, hub in hub_services(compose).items():
        # ice.udp_port_range: where the hub binds its media sockets.
        ephemeral = _port_range(environment(hub)["STREAMHUB_ICE__UDP_PORT_RANGE"])
        udp = [str(p) for p in hub["ports"] if str(p).endswith("/udp")]
        assert len(udp) == 1, name
        published, _, inside = udp[0].removesuffix("/udp").rpartition(":")
        assert _port_range(published.split(":")[-1]) == ephemeral == _port_range(inside), name
        assert all(not set(ephemeral) & set(other) for other in seen), "UDP ranges overlap"
        seen.append(ephemeral)


def test_compose_volumes_and_mounted_files_exist(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    configs = set(compose.get("configs") or {})
    for name, service in compose["services"].items():
        for mount in service.get("volumes") or []:
            source = str(mount).split(":")[0]
            if source.startswith((".", "/")):
                assert (COMPOSE.parent / source).exists(), f"{name}: {source} missing"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
        for config in service.get("configs") or []:
            assert config["source"] in configs, f"{name}: config {config['source']} missing"
