"""A private PulseAudio for tests: its own runtime folder and socket (no system daemon, no
user session touched), a null sink as the room's loudspeakers, and as the room's microphone
the monitor of a second null sink into which a 660 Hz sine plays; both are the defaults.
(module-sine-source would be simpler, but it delivers in 2 s blocks: no real microphone does.)
PortAudio programs reach it through ALSA's pulse plugin with ``PULSE_SERVER`` set
(``env()``); ``record`` captures what the loudspeakers play from the sink's monitor (parec).

Helpers to measure sound: the level and dominant frequency of a recording, and its gaps.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

RATE = 48_000
SINK = "classroom_speakers"
ROOM = "classroom_room"  # what the room's microphone picks up
MIC = f"{ROOM}.monitor"
MIC_HZ = 660.0


class PulseServer:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="agent-pulse-"))
        self.socket = self.root / "native"
        self._process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        return {"PULSE_SERVER": f"unix:{self.socket}", "PULSE_COOKIE": str(self.root / "cookie")}

    def _daemon_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_", "XDG_"))}
        env.update(
            HOME=str(self.root),
            XDG_RUNTIME_DIR=str(self.root),
            XDG_CONFIG_HOME=str(self.root / "config"),
            PULSE_RUNTIME_PATH=str(self.root / "runtime"),
            PULSE_STATE_PATH=str(self.root / "state"),
        )
        env.pop("DISPLAY", None)  # no X11 bell or session modules
        return env

    def start(self) -> None:
        command = [
            "pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
            "--disable-shm=yes", "--log-target=stderr", "--log-level=error",
            "-L", f"module-native-protocol-unix socket={self.socket} auth-anonymous=1",
            "-L", f"module-null-sink sink_name={SINK} rate={RATE} channels=1",
            "-L", f"module-null-sink sink_name={ROOM} rate={RATE} channels=1",
            "-L", f"module-sine sink={ROOM} frequency={MIC_HZ:.0f}",
        ]  # fmt: skip
        # The daemon writes to its own copy of the descriptor: ours is closed once it runs.
        with (self.root / "pulse.log").open("ab") as log:
            self._process = subprocess.Popen(
                command, env=self._daemon_env(), stdout=log, stderr=log
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise AssertionError(f"pulseaudio exited: {self.log()}")
            if self.socket.exists() and self.pactl("info", check=False).returncode == 0:
                self.pactl("set-default-sink", SINK)
                self.pactl("set-default-source", MIC)
                return
            time.sleep(0.1)
        raise AssertionError(f"pulseaudio did not start: {self.log()}")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(10)
        self._process = None
        self.socket.unlink(missing_ok=True)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "pulse.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def pactl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["pactl", *args], env={**os.environ, **self.env()}, capture_output=True, text=True,
            check=check, timeout=20,
        )  # fmt: skip

    def record(self, seconds: float, source: str = f"{SINK}.monitor") -> np.ndarray:
        """What the loudspeakers play, for ``seconds`` (mono int16 at 48 kHz)."""
        command = ["parec", "-d", source, "--raw", "--format=s16le", f"--rate={RATE}"]
        command += ["--channels=1", "--latency-msec=20"]
        wanted = int(seconds * RATE) * 2
        data = b""
        # The context closes the pipe once parec is gone.
        with subprocess.Popen(
            command, env={**os.environ, **self.env()}, stdout=subprocess.PIPE
        ) as process:
            assert process.stdout is not None
            try:
                while len(data) < wanted:
                    chunk = process.stdout.read(min(65536, wanted - len(data)))
                    if not chunk:
                        break
                    data += chunk
            finally:
                process.kill()
                process.wait(10)
        return np.frombuffer(data, np.int16)

    def source_outputs(self) -> list[str]:
        """The index of every recording stream (the agent's microphone among them)."""
        out = self.pactl("list", "short", "source-outputs").stdout
        return [line.split()[0] for line in out.splitlines() if line.strip()]


def dominant_hz(samples: np.ndarray, rate: int = RATE) -> float:
    x = samples.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(spectrum))])


def band_level_db(samples: np.ndarray, hz: float, rate: int = RATE, width: float = 20.0) -> float:
    """The RMS level (dBFS) of the signal within ``width`` Hz of ``hz``."""
    x = samples.astype(np.float64) / 32768
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    band = np.abs(freqs - hz) <= width
    power = 2 * np.sum(np.abs(spectrum[band]) ** 2) / len(x) ** 2
    return float(10 * np.log10(power + 1e-12))


def gaps(samples: np.ndarray, expected_rms: float, block_ms: int = 10) -> list[float]:
    """Runs of 10 ms blocks far below the expected level: their lengths in ms."""
    block = RATE * block_ms // 1000
    count = len(samples) // block
    blocks = samples[: count * block].astype(np.float64).reshape(count, block)
    quiet = np.sqrt((blocks**2).mean(axis=1)) < expected_rms * 0.25
    runs, length = [], 0
    for q in quiet:
        if q:
            length += 1
        elif length:
            runs.append(length * block_ms)
            length = 0
    if length:
        runs.append(length * block_ms)
    return [float(r) for r in runs]


async def collect_decoded(track: Any, into: list[tuple[float, np.ndarray]]) -> None:
    """Decode a received Opus track as it arrives: (arrival time, mono int16) chunks."""
    from streamhub.client.decode import FrameDecoder

    decoder = FrameDecoder("opus")
    while True:
        packet = await track.recv()
        for frame in decoder.decode(packet):
            data = frame.to_ndarray()
            if data.dtype != np.int16:
                data = np.clip(data * 32767, -32768, 32767)
            channels = len(frame.layout.channels)
            mono = data.reshape(-1, channels).mean(axis=1) if channels > 1 else data.reshape(-1)
            into.append((time.monotonic(), mono.astype(np.int16)))
