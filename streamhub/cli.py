"""`streamhub` command line: `streamhub serve [--host H] [--port P] [--config PATH]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from streamhub.errors import ConfigError


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
    from streamhub.logs import configure_logging

    configure_logging(settings.log_level, settings.log_json)
    secrets = load_secrets(settings)
    base = settings.effective_public_url
    print("StreamHub is starting.", flush=True)
    print(f"  Admin pages:    {base}/admin", flush=True)
    print(f"  Staff library:  {base}/library", flush=True)
    print(f"  API docs:       {base}/docs", flush=True)
    if secrets.admin_key_generated:
        print(f"  Admin key (generated, stored in {secrets.admin_key_file}):", flush=True)
    elif secrets.admin_key_file is not None:
        print(f"  Admin key (from {secrets.admin_key_file}):", flush=True)
    else:
        print("  Admin key (from configuration):", flush=True)
    print(f"    {secrets.admin_key}", flush=True)
    print("  Start a lesson and open the lecturer page:", flush=True)
    print(f"    {sys.executable} -m streamhub demo --hub {base}", flush=True)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        ws_max_size=settings.signaling.max_message_bytes * 4,
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    from streamhub.demo import run_demo

    return run_demo(args.hub, args.admin_key, args.data_dir)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streamhub", description="StreamHub live lesson hub")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the hub (HTTP API, signaling, media, recorder)")
    serve.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port to listen on (default 8000)")
    serve.add_argument("--config", type=Path, default=None, help="YAML settings file")
    serve.set_defaults(func=_serve)
    demo = sub.add_parser(
        "demo", help="create a demo school, classroom and live lesson on a running hub"
    )
    demo.add_argument("--hub", default="http://127.0.0.1:8000")
    demo.add_argument("--admin-key", default=None, help="default: read from the data folder")
    demo.add_argument("--data-dir", type=Path, default=Path("data"))
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    sys.exit(args.func(args))
