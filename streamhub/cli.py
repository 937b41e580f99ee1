"""`streamhub` command line: `streamhub serve [--host H] [--port P] [--config PATH]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamhub.errors import ConfigError

if TYPE_CHECKING:
    from streamhub.services import Services


def _serve(args: argparse.Namespace) -> int:
    from streamhub.config import load_settings

    overrides: dict[str, Any] = {}
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    try:
        settings = load_settings(args.config, **overrides)
    except ConfigError as exc:
        print(f"streamhub: {exc}", file=sys.stderr)
        return 2
    # Imported after the settings are known good, so a bad config fails fast and clearly.
    import uvicorn

    from streamhub.app import create_app
    from streamhub.auth.secrets import load_secrets
    from streamhub.http.server import raise_fd_limit, server_options
    from streamhub.logs import configure_logging

    configure_logging(settings.log_level, settings.log_json)
    secrets = load_secrets(settings)
    base = settings.effective_public_url
    print("StreamHub is starting.", flush=True)
    print(f"  Admin pages:    {base}/admin", flush=True)
    print(f"  Staff library:  {base}/library", flush=True)
    print(f"  API docs:       {base}/docs", flush=True)
    # The key is shown once, when it is made; after that it is read from its file, never
    # echoed into logs that outlive the terminal.
    if secrets.admin_key_generated:
        print(f"  Admin key (generated, stored in {secrets.admin_key_file}):", flush=True)
        print(f"    {secrets.admin_key}", flush=True)
    elif secrets.admin_key_file is not None:
        print(f"  Admin key: in {secrets.admin_key_file}", flush=True)
    else:
        print("  Admin key: from the configuration (STREAMHUB_ADMIN_KEY)", flush=True)
    on_ready = _print_demo if args.demo else None
    raise_fd_limit()
    uvicorn.run(
        create_app(settings, on_ready),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        # Header deadline, per-address cap, limit_concurrency (streamhub/http/server.py).
        **server_options(settings),
    )
    return 0


async def _print_demo(services: Services) -> None:
    from streamhub.demo import seed_demo

    links = await seed_demo(services)
    print(f"  Demo lesson {links.lesson_code} is live.", flush=True)
    print("  Lecturer page (open in a browser with a camera):", flush=True)
    print(f"    {links.lecturer_url}", flush=True)
    print("  Join a classroom agent (paste into a terminal):", flush=True)
    print(f"    {links.agent_command}", flush=True)
    print("  Or a browser classroom:", flush=True)
    print(f"    {links.classroom_url}", flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streamhub", description="StreamHub live lesson hub")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the hub (HTTP API, signaling, media, recorder)")
    serve.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port to listen on (default 8000)")
    serve.add_argument("--config", type=Path, default=None, help="YAML settings file")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="create a demo school, classroom and live lesson; print its lecturer and agent links",
    )
    serve.set_defaults(func=_serve)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    sys.exit(args.func(args))
