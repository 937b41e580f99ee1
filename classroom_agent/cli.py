"""classroom-agent: enroll | run | join --lesson CODE | status | devices | doctor.

run and join use this PC's camera, microphone, screen and loudspeakers unless told otherwise
(tests and benchmarks pass --video-source testpattern --audio-source tone --display none
--audio-output none)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from pathlib import Path

from classroom_agent.agent import AgentOptions, ClassroomAgent
from classroom_agent.config import AgentConfig, config_path, load_config, save_config
from classroom_agent.devices import inventory, print_inventory
from classroom_agent.errors import ConfigError, CredentialRevoked
from classroom_agent.i18n import LANGUAGES
from classroom_agent.logs import setup_logging
from classroom_agent.media_sources import SourceSpec
from classroom_agent.status import StatusFile, read_status, state_path

EXIT_CONFIG = 2
EXIT_REVOKED = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="classroom-agent", description=__doc__)
    parser.add_argument("--config", type=Path, default=None, help="agent config file")
    commands = parser.add_subparsers(dest="command", required=True)

    enroll = commands.add_parser("enroll", help="store the hub URL and device credential")
    enroll.add_argument("--hub", required=True)
    enroll.add_argument("--credential", required=True)
    enroll.add_argument(
        "--ca-file",
        type=Path,
        default=None,
        help="the hub's CA certificate (from `streamhub tls init`), trusted besides the system's",
    )
    enroll.add_argument(
        "--language", choices=LANGUAGES, default="zh-CN", help="the projector's language"
    )

    for name, help_text in (("run", "join lessons as they go live"), ("join", "join now")):
        command = commands.add_parser(name, help=help_text)
        if name == "join":
            command.add_argument("--lesson", required=True, help="the lesson's join code")
        command.add_argument(
            "--display",
            default="window",
            type=_display,
            help="window (full screen on the first screen), window:N (the Nth), or none",
        )
        command.add_argument(
            "--audio-output", default="default", help="default, a device NAME or index, or none"
        )
        command.add_argument(
            "--video-source",
            default=SourceSpec("camera", "auto"),
            type=SourceSpec.video,
            help="camera[:auto|N|NAME] (default), testpattern, file:PATH or none",
        )
        command.add_argument(
            "--audio-source",
            default=SourceSpec("mic", "auto"),
            type=SourceSpec.audio,
            help="mic[:auto|NAME] (default), tone, file:PATH or none",
        )
        command.add_argument(
            "--no-echo-cancel",
            action="store_true",
            help="send the microphone as captured (a headset: no loudspeaker echo)",
        )
        command.add_argument("--record-received", type=Path, default=None)
        command.add_argument("--poll-interval", type=float, default=10.0)
        command.add_argument("--backoff-cap", type=float, default=5.0)
        command.add_argument(
            "--ice-host",
            action="append",
            default=None,
            help="address to send media from (default: every non-loopback address; loopback for a "
            "hub on this machine)",
        )
        command.add_argument("--log-file", type=Path, default=None)
        command.add_argument("--verbose", action="store_true")

    commands.add_parser("status", help="print the agent's last state")
    devices = commands.add_parser("devices", help="list cameras, microphones, outputs, screens")
    devices.add_argument("--json", action="store_true")

    doctor = commands.add_parser(
        "doctor", help="check this PC's connection to the hub, its devices and bandwidth"
    )
    doctor.add_argument("--lang", choices=("en", "zh-CN"), default=None)
    doctor.add_argument(
        "--video-source", default=SourceSpec("camera", "auto"), type=SourceSpec.video
    )
    doctor.add_argument("--audio-source", default=SourceSpec("mic", "auto"), type=SourceSpec.audio)
    doctor.add_argument("--audio-output", default="default", help="default, NAME, index or none")
    doctor.add_argument("--display", default="window", type=_display)
    doctor.add_argument(
        "--ice-host", action="append", default=None, help="address for the UDP check (auto)"
    )
    doctor.add_argument("--bandwidth-seconds", type=float, default=3.0)
    doctor.add_argument("--no-report", action="store_true", help="do not send the result")
    return parser


def _display(text: str) -> str:
    name, _, screen = text.partition(":")
    if name == "none" and not screen:
        return text
    if name == "window" and (not screen or screen.isdigit()):
        return text
    raise argparse.ArgumentTypeError(f"{text!r}: use window, window:N or none")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    path = config_path(args.config)
    if args.command == "enroll":
        ca_file = None
        if args.ca_file is not None:
            ca_file = str(args.ca_file.expanduser().resolve())
        config = AgentConfig(
            hub_url=args.hub, credential=args.credential, ca_file=ca_file, language=args.language
        )
        try:
            config.ssl_context()
        except ConfigError as exc:
            print(f"classroom-agent: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        save_config(config, path)
        print(f"enrolled: {path}")
        return 0
    if args.command == "devices":
        listing = inventory()
        if args.json:
            print(json.dumps(listing, indent=2, ensure_ascii=False))
        else:
            print_inventory(listing)
        return 0
    if args.command == "status":
        state = read_status(state_path(path))
        if state is None:
            print("no state yet (the agent has not run)")
            return 1
        print(json.dumps(state, indent=2, ensure_ascii=False))
        for problem in state.get("problems") or []:
            print(f"classroom-agent: {problem}", file=sys.stderr)
        return 0
    try:
        config = load_config(path)
        config.ssl_context()  # an unreadable --ca-file is a configuration error
    except ConfigError as exc:
        print(f"classroom-agent: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "doctor":
        return _doctor(config, args)
    setup_logging(args.log_file or path.with_name("agent.log"), args.verbose)
    options = AgentOptions(
        video_source=args.video_source,
        audio_source=args.audio_source,
        display=args.display,
        audio_output=args.audio_output,
        echo_cancel=not args.no_echo_cancel,
        record_received=args.record_received,
        poll_interval_s=args.poll_interval,
        backoff_cap_s=args.backoff_cap,
        ice_host_addresses=tuple(args.ice_host or default_ice_hosts(config.hub)),
    )
    agent = ClassroomAgent(config, options, StatusFile(state_path(path)))
    try:
        asyncio.run(_serve(agent, args.lesson if args.command == "join" else None))
    except CredentialRevoked as exc:
        print(f"classroom-agent: stopped: {exc}", file=sys.stderr)
        print("ask the school's admin for a new credential, then enroll again", file=sys.stderr)
        return EXIT_REVOKED
    return 0


def default_ice_hosts(hub_url: str) -> tuple[str, ...]:
    """Where media goes from when --ice-host is not given: every non-loopback address of the PC
    (``auto``), but loopback for a hub on this same machine (``make run``'s demo), which a
    non-loopback address has no business reaching."""
    from urllib.parse import urlsplit

    from streamhub.https import is_loopback

    return ("127.0.0.1",) if is_loopback(urlsplit(hub_url).hostname) else ("auto",)


def _doctor(config: AgentConfig, args: argparse.Namespace) -> int:
    from classroom_agent.doctor import Doctor, DoctorOptions, language

    # Every problem is a line of the report; library warnings would only repeat them.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    options = DoctorOptions(
        lang=language(args.lang),
        video_source=args.video_source,
        audio_source=args.audio_source,
        audio_output=args.audio_output,
        display=args.display,
        ice_host_addresses=tuple(args.ice_host or default_ice_hosts(config.hub)),
        bandwidth_seconds=args.bandwidth_seconds,
        report=not args.no_report,
    )
    doctor = Doctor(config, options, on_line=lambda line: print(doctor.format(line), flush=True))
    print(f"{config.hub}", flush=True)
    report = asyncio.run(doctor.run())
    return report.exit_code


async def _serve(agent: ClassroomAgent, lesson_code: str | None) -> None:
    from streamhub import heap

    # Everything the agent needs is imported: full collections need not walk it again (a
    # classroom PC is old; a full collection over the media libraries' objects stalls the
    # picture and the sound for as long as it runs).
    heap.settle()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, agent.stop)
    if lesson_code is None:
        await agent.run_schedule()
    else:
        await agent.join_lesson(lesson_code)


if __name__ == "__main__":
    sys.exit(main())
