"""`streamhub` command line: `streamhub serve [--host H] [--port P] [--config PATH] [--demo]`, and
`streamhub tls init --name NAME --ip ADDRESS` (certificates for HTTPS on a LAN)."""

from __future__ import annotations

import argparse
import errno
import importlib
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamhub.errors import ConfigError, StreamhubError

if TYPE_CHECKING:
    from streamhub.app import ExtensionFactory
    from streamhub.banner import Announcer, Commands
    from streamhub.config import Settings
    from streamhub.tls import ServerCertificate

# The plug-ins `streamhub serve` composes into the hub, named "module:factory" as uvicorn names an
# app: the hub's packages never import a plug-in, so the recorder depends on the hub and never
# the reverse (tests/test_architecture.py holds that).
SERVE_EXTENSIONS = ("recorder.plugin:recorder_extension",)


def serve_extensions() -> list[ExtensionFactory]:
    """What `streamhub serve` runs the hub with: it records every lesson, as it always has."""
    factories = []
    for spec in SERVE_EXTENSIONS:
        module, _, name = spec.partition(":")
        factories.append(getattr(importlib.import_module(module), name))
    return factories


def _serve(args: argparse.Namespace) -> int:
    from streamhub.config import load_settings

    overrides: dict[str, Any] = {}
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    if args.log_file is not None:
        overrides["log_file"] = args.log_file
    if args.workers is not None:
        overrides["workers"] = args.workers
    try:
        settings = load_settings(args.config, **overrides)
        certificate = _check_tls(settings)
        from streamhub.media.aiortc_hooks import check_aiortc_version

        # One line at start-up, not a failed lifespan, when pip brought another aiortc.
        check_aiortc_version()
    except ConfigError as exc:
        print(f"streamhub: {exc}", file=sys.stderr)
        return 2
    commands = _commands(args, settings)
    worker = args.worker_index is not None
    # Before anything is made or logged: a taken port is one line, not a traceback. (A worker's
    # supervisor checked; the workers share the port on purpose.)
    problem = None if worker else _listen_problem(settings, commands)
    if problem is not None:
        print(f"streamhub: {problem}", file=sys.stderr)
        return 1
    # Imported after the settings are known good, so a bad config fails fast and clearly.
    import asyncio

    from streamhub import workers
    from streamhub.app import create_app
    from streamhub.auth.secrets import load_secrets
    from streamhub.http.server import raise_fd_limit
    from streamhub.https import serve
    from streamhub.logs import configure_logging

    configure_logging(settings.log_level, settings.log_json, settings.log_file)
    if worker:
        return _run_worker(settings, args, commands, certificate)
    try:
        plan = workers.plan(settings)
    except RuntimeError as exc:
        print(f"streamhub: {exc}", file=sys.stderr)
        return 2
    # The secrets exist before any worker starts, so that every worker reads the same ones.
    secrets = load_secrets(settings)
    print(f"StreamHub is starting on {settings.effective_public_url} ...", flush=True)
    if plan.count > 1:
        passed = [
            a
            for flag, v in (("--host", args.host), ("--port", args.port))
            if v is not None
            for a in (flag, str(v))
        ]
        if args.config is not None:
            passed += ["--config", str(args.config)]
        if args.log_file is not None:
            passed += ["--log-file", str(args.log_file)]
        if args.started_by is not None:
            passed += ["--started-by", args.started_by]
        # Worker 0 prints the banner once it listens; it is told when the admin key is new
        # (the key itself stays out of argv).
        first = [*(["--demo"] if args.demo else []), *(["--demo-reset"] if args.demo_reset else [])]
        if secrets.admin_key_generated:
            first.append("--admin-key-new")
        first.append(f"--processes={plan.reason}")
        code = workers.Supervisor(settings, plan, passed, first).run()
        print("StreamHub stopped.", flush=True)
        return code
    announcer = _announcer(args, settings, commands, certificate, secrets.admin_key_generated)
    raise_fd_limit()
    asyncio.run(
        serve(
            create_app(settings, announcer.on_ready, serve_extensions()),
            settings,
            announcer.on_started,
        )
    )
    print("StreamHub stopped.", flush=True)
    return 0


def _announcer(
    args: argparse.Namespace,
    settings: Settings,
    commands: Commands,
    certificate: ServerCertificate | None,
    key_is_new: bool,
) -> Announcer:
    """The banner (and the demo it presents), printed once the hub listens."""
    from streamhub.auth.secrets import load_secrets
    from streamhub.banner import AdminKey, Announcer
    from streamhub.workers import plan

    secrets = load_secrets(settings)
    # The key is shown once, when it is made; after that it is read from its file, never
    # echoed into logs that outlive the terminal.
    key_file = secrets.admin_key_file.resolve() if secrets.admin_key_file else None
    key = AdminKey(secrets.admin_key if key_is_new else None, key_file)
    processes = args.processes or plan(settings).reason
    notes = [*_security_notes(settings, certificate), f"Processes: {processes}"]
    if settings.rtmp.enabled:
        notes.append(
            f"RTMP bridge: capture boxes push to {settings.effective_rtmp_url}/<the lesson's "
            "stream key> (admin page: Lecturer link)"
        )
    return Announcer(
        settings,
        key,
        notes,
        commands,
        demo=args.demo or args.demo_reset,
        demo_reset=args.demo_reset,
    )


def _run_worker(
    settings: Settings,
    args: argparse.Namespace,
    commands: Commands,
    certificate: ServerCertificate | None,
) -> int:
    """One worker of several (streamhub.workers): the shared port and its own. Worker 0
    presents the demo and prints the banner; only it runs the plain-HTTP redirect."""
    import asyncio

    from streamhub import workers
    from streamhub.app import create_app
    from streamhub.http.server import raise_fd_limit
    from streamhub.https import serve

    raise_fd_limit()
    sockets = workers.listening_sockets(settings, args.worker_index)
    first = args.worker_index == 0
    if first:
        announcer = _announcer(args, settings, commands, certificate, args.admin_key_new)
        app = create_app(settings, announcer.on_ready, serve_extensions())
        asyncio.run(serve(app, settings, announcer.on_started, sockets=sockets))
    else:
        app = create_app(settings, extensions=serve_extensions())
        asyncio.run(serve(app, settings, sockets=sockets, redirect=False))
    return 0


def _commands(args: argparse.Namespace, settings: Settings) -> Commands:
    """The commands the banner and the port message suggest, in the form this person used."""
    from streamhub.banner import Commands

    if args.started_by == "make":
        host = "" if settings.host == "127.0.0.1" else f"HOST={settings.host} "
        return Commands(
            restart="`make run`",
            reset="`make run ARGS=--demo-reset`",
            port=f"make run {host}PORT={{port}}",
        )
    host = "" if args.host is None else f"--host {args.host} "
    demo = "--demo " if args.demo else ""
    return Commands(
        restart="`streamhub serve --demo`",
        reset="`streamhub serve --demo --demo-reset`",
        port=f"streamhub serve {demo}{host}--port {{port}}",
    )


def _bind_error(host: str, port: int) -> OSError | None:
    """Whether the hub could listen on ``host:port`` now (with the address reuse uvicorn uses,
    so a port left in TIME_WAIT by a hub that just stopped is free)."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return exc
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                return exc
    return None


def _free_port_near(host: str, port: int) -> int | None:
    start = 8000 if port < 1024 else port + 10
    for candidate in range(start, min(start + 200, 65536)):
        if candidate != port and _bind_error(host, candidate) is None:
            return candidate
    return None


def _listen_problem(settings: Settings, commands: Commands) -> str | None:
    """One line saying why the hub cannot listen, and what to try; None if it can."""
    host = settings.host
    ports = [("", settings.port)]
    if settings.tls.enabled and settings.tls.redirect_http_port is not None:
        ports.append((" (tls.redirect_http_port)", settings.tls.redirect_http_port))
    for what, port in ports:
        error = _bind_error(host, port)
        if error is None:
            continue
        if isinstance(error, socket.gaierror):
            return f"cannot listen on {host}: no such address ({error.strerror})"
        if error.errno == errno.EADDRNOTAVAIL:
            return (
                f"{host} is not an address of this machine; use 127.0.0.1 (this machine only) "
                "or 0.0.0.0 (every network)"
            )
        free = _free_port_near(host, port) if not what else None
        hint = f"; try `{commands.port.format(port=free)}`" if free is not None else ""
        if error.errno == errno.EADDRINUSE:
            return f"port {port}{what} is in use{hint}"
        if error.errno == errno.EACCES:
            return f"port {port}{what} needs administrator rights (below 1024){hint}"
        return f"cannot listen on {host} port {port}{what}: {error.strerror}"
    return None


def _check_tls(settings: Settings) -> ServerCertificate | None:
    from streamhub.tls import check_server_files

    tls = settings.tls
    if tls.cert_file is None or tls.key_file is None:
        return None
    return check_server_files(tls.cert_file, tls.key_file)


def _security_notes(settings: Settings, certificate: ServerCertificate | None) -> list[str]:
    """HTTPS status, and the warning a lecturer on another PC would otherwise discover as a
    camera that never opens."""
    from streamhub.https import https_base, is_loopback

    notes = []
    if certificate is not None:
        names = ", ".join(certificate.names) or certificate.subject
        notes.append(
            f"HTTPS: certificate for {names}, valid until {certificate.not_after:%Y-%m-%d}"
        )
        if certificate.expires_soon:
            notes.append(
                f"WARNING: the certificate expires in {certificate.days_left} days: "
                "renew it (streamhub tls init)"
            )
        if settings.tls.redirect_http_port is not None:
            notes.append(f"Plain HTTP on port {settings.tls.redirect_http_port} redirects to HTTPS")
    elif https_base(settings) is None and not is_loopback(settings.host):
        notes.append(
            "WARNING: plain HTTP on a network address: browsers on other PCs give the "
            "lecturer page no camera or microphone. Serve HTTPS (streamhub tls init, or the "
            "Caddy proxy in configs/compose.yaml); see the README's deployment section."
        )
    return notes


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


def _account_add(args: argparse.Namespace) -> int:
    """Add a person's account (the first county admin, typically) and print how they sign in."""
    import asyncio

    from streamhub.account_setup import add_account
    from streamhub.auth.passwords import MAX_LENGTH, MIN_LENGTH
    from streamhub.auth.roles import AccountRole
    from streamhub.config import load_settings

    password = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
            print(
                f"streamhub: a password has {MIN_LENGTH} to {MAX_LENGTH} characters",
                file=sys.stderr,
            )
            return 2
    role = AccountRole(args.role)
    if role is AccountRole.SCHOOL_ADMIN and args.school_id is None:
        print("streamhub: a school admin needs --school-id", file=sys.stderr)
        return 2
    try:
        # The link names the hub as it was started: `serve --port` is not in the settings.
        settings = load_settings(args.config, **({"port": args.port} if args.port else {}))
        added = asyncio.run(
            add_account(
                settings,
                login=args.email,
                role=role,
                display_name=args.name or "",
                school_id=args.school_id,
                password=password,
            )
        )
    except StreamhubError as exc:
        print(f"streamhub: {exc}", file=sys.stderr)
        return 2
    print(f"account {added.id}: {added.login} ({added.role.value})")
    if added.link is not None:
        minutes = added.link_ttl_s // 60
        print(f"one-time sign-in link (works once, for {minutes} minutes):")
        print(f"  {added.link}")
    else:
        print("sign in at /admin with this email and the password given")
    return 0


def _search_rebuild(args: argparse.Namespace) -> int:
    """Index every lesson for the library's search afresh (after an upgrade, the chapters of
    earlier recordings; on PostgreSQL, the trigram index once pg_trgm can be had)."""
    import asyncio

    from streamhub.catalog.store import Catalog
    from streamhub.config import load_settings

    async def rebuild() -> int:
        catalog = await Catalog.open(load_settings(args.config))
        try:
            return await catalog.rebuild_search_index()
        finally:
            await catalog.close()

    try:
        count = asyncio.run(rebuild())
    except StreamhubError as exc:
        print(f"streamhub: {exc}", file=sys.stderr)
        return 2
    print(f"search index rebuilt: {count} lessons")
    return 0


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
    # Worker 0 of several: the supervisor generated the admin key, so the banner shows it.
    serve.add_argument("--admin-key-new", action="store_true", help=argparse.SUPPRESS)
    serve.add_argument("--processes", default=None, help=argparse.SUPPRESS)  # for its banner
    serve.add_argument(
        "--demo",
        action="store_true",
        help="a demo school with two classrooms and a live lesson; print how to try it",
    )
    serve.add_argument(
        "--demo-reset",
        action="store_true",
        help="the demo, with new device credentials for its classrooms (the old ones are "
        "revoked; otherwise they are kept across restarts)",
    )
    serve.add_argument(
        "--log-file",
        type=Path,
        default=None,
        help="write the logs to this file (the terminal keeps warnings and errors)",
    )
    # `make run` says so, and is then suggested in the messages (`make run PORT=...`).
    serve.add_argument("--started-by", choices=["make"], default=None, help=argparse.SUPPRESS)
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

    account = sub.add_parser("account", help="people's accounts (docs/roles.md)")
    account_sub = account.add_subparsers(dest="account_command", required=True)
    add = account_sub.add_parser(
        "add", help="add an account (e.g. the first county admin) and print a sign-in link"
    )
    add.add_argument("--email", required=True, help="the sign-in name, an email address")
    add.add_argument(
        "--role",
        required=True,
        choices=["county_admin", "school_admin", "lecturer", "staff"],
        help="what the person may do",
    )
    add.add_argument("--name", default=None, help="the name shown")
    add.add_argument("--school-id", type=int, default=None, help="a school admin's school")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read a password from the first line of stdin instead of printing a sign-in link",
    )
    add.add_argument("--config", type=Path, default=None, help="YAML settings file")
    add.add_argument(
        "--port",
        type=int,
        default=None,
        help="the port the hub was started on (`make run PORT=…`), for the link's address "
        "when the settings give no public_url",
    )
    add.set_defaults(func=_account_add)

    search = sub.add_parser("search-index", help="the library's search index")
    search_sub = search.add_subparsers(dest="search_command", required=True)
    rebuild = search_sub.add_parser(
        "rebuild",
        help="index every lesson afresh (titles, descriptions, recordings' chapters); safe "
        "while the hub runs",
    )
    rebuild.add_argument("--config", type=Path, default=None, help="YAML settings file")
    rebuild.set_defaults(func=_search_rebuild)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        # Ctrl+C before the command had its own handling in place (a hub still importing its
        # modules on a slow PC): a stop the user asked for, not a crash to show a traceback of.
        sys.exit(130)
    sys.exit(code)
