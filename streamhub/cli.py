"""`streamhub` command line: `streamhub serve [--host H] [--port P] [--config PATH]`, and
`streamhub tls init --name NAME --ip ADDRESS` (certificates for HTTPS on a LAN)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamhub.errors import ConfigError

if TYPE_CHECKING:
    from streamhub.config import Settings
    from streamhub.services import Services
    from streamhub.tls import ServerCertificate


def _serve(args: argparse.Namespace) -> int:
    from streamhub.config import load_settings

    overrides: dict[str, Any] = {}
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    try:
        settings = load_settings(args.config, **overrides)
        certificate = _check_tls(settings)
    except ConfigError as exc:
        print(f"streamhub: {exc}", file=sys.stderr)
        return 2
    # Imported after the settings are known good, so a bad config fails fast and clearly.
    import asyncio

    from streamhub.app import create_app
    from streamhub.auth.secrets import load_secrets
    from streamhub.http.server import raise_fd_limit
    from streamhub.https import serve
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
    _print_security(settings, certificate)
    on_ready = _print_demo if args.demo else None
    raise_fd_limit()
    asyncio.run(serve(create_app(settings, on_ready), settings))
    return 0


def _check_tls(settings: Settings) -> ServerCertificate | None:
    from streamhub.tls import check_server_files

    tls = settings.tls
    if tls.cert_file is None or tls.key_file is None:
        return None
    return check_server_files(tls.cert_file, tls.key_file)


def _print_security(settings: Settings, certificate: ServerCertificate | None) -> None:
    """HTTPS status, and the warning a lecturer on another PC would otherwise discover as a
    camera that never opens."""
    from streamhub.https import https_base, is_loopback

    if certificate is not None:
        names = ", ".join(certificate.names) or certificate.subject
        print(
            f"  HTTPS:          certificate for {names}, "
            f"valid until {certificate.not_after:%Y-%m-%d}",
            flush=True,
        )
        if certificate.expires_soon:
            print(
                f"  WARNING: the certificate expires in {certificate.days_left} days: "
                "renew it (streamhub tls init)",
                flush=True,
            )
        if settings.tls.redirect_http_port is not None:
            print(
                f"  Plain HTTP on port {settings.tls.redirect_http_port} redirects to HTTPS",
                flush=True,
            )
    elif https_base(settings) is None and not is_loopback(settings.host):
        print(
            "  WARNING: plain HTTP on a network address: browsers on other PCs give the "
            "lecturer page no camera or microphone. Serve HTTPS (streamhub tls init, or the "
            "Caddy proxy in configs/compose.yaml); see the README's deployment section.",
            flush=True,
        )


def _tls_init(args: argparse.Namespace) -> int:
    from streamhub.tls import issue

    try:
        issued = issue(args.dir, args.name or [], args.ip or [], days=args.days)
    except ConfigError as exc:
        print(f"streamhub tls init: {exc}", file=sys.stderr)
        return 2
    where = ", ".join([*issued.names, *issued.addresses])
    ca = issued.ca_cert.resolve()
    print(("Created" if issued.ca_created else "Reused") + f" the local CA:  {ca}")
    print(f"  (its key {issued.ca_key.resolve()} signs certificates: keep it off other PCs)")
    print(f"Server certificate for {where}, valid until {issued.not_after:%Y-%m-%d}:")
    print(f"  {issued.cert.resolve()}")
    print(f"  {issued.key.resolve()}")
    print()
    print("1. Serve HTTPS: in the hub's YAML settings")
    print("     tls:")
    print(f"       cert_file: {issued.cert.resolve()}")
    print(f"       key_file: {issued.key.resolve()}")
    print("       redirect_http_port: 80        # optional: plain http:// goes to https://")
    print(
        "   (or STREAMHUB_TLS__CERT_FILE / STREAMHUB_TLS__KEY_FILE); "
        "the same pair serves coturn's TLS (cert=/pkey=)."
    )
    print("2. Trust the CA on every lecturer and staff PC (once; then any re-issued")
    print(f"   certificate is trusted too). Copy {ca.name} there, then:")
    print(f"     Windows (admin prompt):  certutil -addstore -f Root {ca.name}")
    print(
        "     macOS:  sudo security add-trusted-cert -d -r trustRoot "
        f"-k /Library/Keychains/System.keychain {ca.name}"
    )
    print(
        f"     Debian/Ubuntu:  sudo cp {ca.name} /usr/local/share/ca-certificates/streamhub-ca.crt"
        " && sudo update-ca-certificates"
    )
    print(
        f"     Chrome/Chromium on Linux:  certutil -d sql:$HOME/.pki/nssdb -A -t C,, "
        f"-n streamhub-ca -i {ca.name}"
    )
    print("     Firefox:  Settings > Privacy & Security > Certificates > View > Authorities")
    print("               > Import, tick 'Trust this CA to identify websites'")
    print("3. Classroom PCs: the agent checks the hub's certificate against the system store,")
    print("   plus the CA file given at enrolment:")
    host = (issued.names or issued.addresses)[0]
    print(
        f"     classroom-agent enroll --hub https://{host} --credential <credential> "
        f"--ca-file {ca.name}"
    )
    print("   then `classroom-agent doctor` checks HTTPS, WebSocket, UDP and TURN from that PC.")
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

    tls = sub.add_parser("tls", help="certificates for HTTPS on a school network")
    tls_sub = tls.add_subparsers(dest="tls_command", required=True)
    init = tls_sub.add_parser(
        "init",
        help="create a local CA (kept if it exists) and a server certificate signed by it",
    )
    init.add_argument(
        "--name", action="append", help="a DNS name of the hub, e.g. hub.county.local (repeat)"
    )
    init.add_argument("--ip", action="append", help="an IP address of the hub (repeat)")
    init.add_argument(
        "--dir", type=Path, default=Path("data/tls"), help="where to write (default data/tls)"
    )
    init.add_argument(
        "--days", type=int, default=397, help="server certificate lifetime (default 397)"
    )
    init.set_defaults(func=_tls_init)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    sys.exit(args.func(args))
