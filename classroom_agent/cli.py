"""classroom-agent: enroll | run | join --lesson CODE | status | devices.

run and join use this PC's camera, microphone, screen and loudspeakers unless told otherwise
(tests and benchmarks pass --video-source testpattern --audio-source tone --display none
--audio-output none)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
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
        command.add_argument("--ice-host", action="append", default=None)
        command.add_argument("--log-file", type=Path, default=None)
        command.add_argument("--verbose", action="store_true")

    commands.add_parser("status", help="print the agent's last state")
    devices = commands.add_parser("devices", help="list cameras, microphones, outputs, screens")
    devices.add_argument("--json", action="store_true")
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
        save_config(
            AgentConfig(hub_url=args.hub, credential=args.credential, language=args.language),
            path,
        )
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
    except ConfigError as exc:
        print(f"classroom-agent: {exc}", file=sys.stderr)
        return EXIT_CONFIG
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
