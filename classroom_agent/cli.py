"""classroom-agent: enroll | run | join --lesson CODE | status | doctor."""

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
from classroom_agent.errors import ConfigError, CredentialRevoked
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

    for name, help_text in (("run", "join lessons as they go live"), ("join", "join now")):
        command = commands.add_parser(name, help=help_text)
        if name == "join":
            command.add_argument("--lesson", required=True, help="the lesson's join code")
        command.add_argument("--display", choices=("window", "none"), default="window")
        command.add_argument("--audio-output", choices=("device", "none"), default="device")
        command.add_argument("--video-source", default="testpattern", type=SourceSpec.parse)
        command.add_argument("--audio-source", default="tone", type=SourceSpec.parse)
        command.add_argument("--record-received", type=Path, default=None)
        command.add_argument("--poll-interval", type=float, default=10.0)
        command.add_argument("--backoff-cap", type=float, default=5.0)
        command.add_argument("--ice-host", action="append", default=None)
        command.add_argument("--log-file", type=Path, default=None)
        command.add_argument("--verbose", action="store_true")

    commands.add_parser("status", help="print the agent's last state")

    doctor = commands.add_parser(
        "doctor", help="check this PC's connection to the hub, its devices and bandwidth"
    )
    doctor.add_argument("--lang", choices=("en", "zh-CN"), default=None)
    doctor.add_argument("--video-source", default="camera:0", type=SourceSpec.parse)
    doctor.add_argument("--audio-source", default="mic", type=SourceSpec.parse)
    doctor.add_argument("--audio-output", choices=("device", "none"), default="device")
    doctor.add_argument("--display", choices=("window", "none"), default="window")
    doctor.add_argument(
        "--ice-host", action="append", default=None, help="address for the UDP check (auto)"
    )
    doctor.add_argument("--bandwidth-seconds", type=float, default=3.0)
    doctor.add_argument("--no-report", action="store_true", help="do not send the result")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    path = config_path(args.config)
    if args.command == "enroll":
        ca_file = None
        if args.ca_file is not None:
            ca_file = str(args.ca_file.expanduser().resolve())
        config = AgentConfig(hub_url=args.hub, credential=args.credential, ca_file=ca_file)
        try:
            config.ssl_context()
        except ConfigError as exc:
            print(f"classroom-agent: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        save_config(config, path)
        print(f"enrolled: {path}")
        return 0
    if args.command == "status":
        state = read_status(state_path(path))
        if state is None:
            print("no state yet (the agent has not run)")
            return 1
        print(json.dumps(state, indent=2))
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
        record_received=args.record_received,
        poll_interval_s=args.poll_interval,
        backoff_cap_s=args.backoff_cap,
        ice_host_addresses=tuple(args.ice_host or ("127.0.0.1",)),
    )
    agent = ClassroomAgent(config, options, StatusFile(state_path(path)))
    try:
        asyncio.run(_serve(agent, args.lesson if args.command == "join" else None))
    except CredentialRevoked as exc:
        print(f"classroom-agent: stopped: {exc}", file=sys.stderr)
        print("ask the school's admin for a new credential, then enroll again", file=sys.stderr)
        return EXIT_REVOKED
    return 0


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
        ice_host_addresses=tuple(args.ice_host or ("auto",)),
        bandwidth_seconds=args.bandwidth_seconds,
        report=not args.no_report,
    )
    doctor = Doctor(config, options, on_line=lambda line: print(doctor.format(line), flush=True))
    print(f"{config.hub}", flush=True)
    report = asyncio.run(doctor.run())
    return report.exit_code


async def _serve(agent: ClassroomAgent, lesson_code: str | None) -> None:
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
