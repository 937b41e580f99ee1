"""`streamhub` command line: `streamhub serve [--host H] [--port P] [--config PATH]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamhub.errors import ConfigError

if TYPE_CHECKING:
    from streamhub.config import Settings
    from streamhub.services import Services


def _serve(args: argparse.Namespace) -> int:
    from streamhub.config import load_settings

    overrides: dict[str, Any] = {}
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    if args.workers is not None:
        overrides["workers"] = args.workers
    try:
        settings = load_settings(args.config, **overrides)
    except ConfigError as exc:
        print(f"streamhub: {exc}", file=sys.stderr)
        return 2
    # Imported after the settings are known good, so a bad config fails fast and clearly.
    from streamhub import workers
    from streamhub.auth.secrets import load_secrets
    from streamhub.logs import configure_logging

    configure_logging(settings.log_level, settings.log_json)
    if args.worker_index is not None:
        return _run_worker(settings, args)
    try:
        plan = workers.plan(settings)
    except RuntimeError as exc:
        print(f"streamhub: {exc}", file=sys.stderr)
        return 2
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
    print(f"  Processes:      {plan.reason}", flush=True)
    if plan.count > 1:
        passed = [
            a
            for flag, v in (("--host", args.host), ("--port", args.port))
            if v is not None
            for a in (flag, str(v))
        ]
        if args.config is not None:
            passed += ["--config", str(args.config)]
        return workers.Supervisor(settings, plan, passed, args.demo).run()
    import uvicorn

    from streamhub.app import create_app

    on_ready = _print_demo if args.demo else None
    uvicorn.run(
        create_app(settings, on_ready),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        ws_max_size=settings.signaling.max_message_bytes * 4,
        # Signaling messages are small and many: compressing each one costs the hub half
        # its CPU in a join storm (bench/signaling.py) and saves little.
        ws_per_message_deflate=False,
    )
    return 0


def _run_worker(settings: Settings, args: argparse.Namespace) -> int:
    """One worker of several (streamhub.workers): the shared port and its own."""
    import uvicorn

    from streamhub import workers
    from streamhub.app import create_app

    sockets = workers.listening_sockets(settings, args.worker_index)
    config = uvicorn.Config(
        create_app(settings, _print_demo if args.demo else None),
        log_config=None,
        access_log=False,
        ws_max_size=settings.signaling.max_message_bytes * 4,
        ws_per_message_deflate=False,
    )
    uvicorn.Server(config).run(sockets=sockets)
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
        "--workers",
        type=int,
        default=None,
        help="hub processes behind the port (default: the number of cores when Redis is "
        "configured or redis-server is installed, else 1)",
    )
    serve.add_argument("--worker-index", type=int, default=None, help=argparse.SUPPRESS)
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
