"""The echo canceller removes what the agent plays from the microphone, not the classroom."""

from __future__ import annotations

import numpy as np

from classroom_agent.echo import BLOCK, RATE, EchoCanceller

TONES = (300.0, 520.0, 1100.0)  # the "near-end voice": kept out of the far end's spectrum


def far_end(n: int, rng: np.random.Generator) -> np.ndarray:
    """Speech-band noise with a slow envelope and notches at the near-end tones."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    keep = (freqs > 100) & (freqs < 4000)
    for tone in TONES:
        keep &= np.abs(freqs - tone) > 30
    signal = np.fft.irfft(spectrum * keep, n)
    signal *= 0.6 + 0.4 * np.sin(2 * np.pi * 2 * np.arange(n) / RATE)
    return (signal / np.abs(signal).max() * 10000).astype(np.int16)


def band_energy_db(x: np.ndarray) -> tuple[float, float]:
    """(energy at the near-end tones, energy elsewhere in the speech band) in dB."""
    power = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / RATE)
    at_tones = np.zeros_like(freqs, bool)
    away = (freqs > 100) & (freqs < 4000)
    for tone in TONES:
        at_tones |= np.abs(freqs - tone) < 5
        away &= np.abs(freqs - tone) > 30
    return 10 * np.log10(power[at_tones].sum() + 1e-9), 10 * np.log10(power[away].sum() + 1e-9)


def cancel(far: np.ndarray, mic: np.ndarray) -> np.ndarray:
    echo = EchoCanceller()
    out = []
    for i in range(0, len(far), BLOCK):
        echo.feed_far(far[i : i + BLOCK])
        out.append(echo.process_near(mic[i : i + BLOCK]))
    return np.concatenate(out).astype(np.float64)


def test_far_end_drops_20db_while_the_near_end_voice_survives() -> None:
    seconds = 8
    n = RATE * seconds
    t = np.arange(n) / RATE
    far = far_end(n, np.random.default_rng(7))
    delay = int(0.04 * RATE)  # loudspeaker to microphone: 40 ms, attenuated
    echo = np.zeros(n)
    echo[delay:] = 0.4 * far[:-delay]
    near = sum(400 * np.sin(2 * np.pi * f * t) for f in TONES)
    near[: n // 2] = 0  # the room is quiet for the first half: the filter converges
    mic = np.clip(echo + near, -32768, 32767).astype(np.int16)

    out = cancel(far, mic)

    tail = slice(n - 3 * RATE, n)  # the last 3 s: both talk
    mic_near, mic_far = band_energy_db(mic[tail].astype(np.float64))
    out_near, out_far = band_energy_db(out[tail])
    assert mic_far - out_far >= 20, f"echo reduced by only {mic_far - out_far:.1f} dB"
    assert mic_near - out_near <= 6, f"near end lost {mic_near - out_near:.1f} dB"


def test_echo_alone_is_removed() -> None:
    n = RATE * 6
    far = far_end(n, np.random.default_rng(3))
    delay = int(0.03 * RATE)
    echo = np.zeros(n)
    echo[delay:] = 0.5 * far[:-delay]
    out = cancel(far, echo.astype(np.int16))
    tail = slice(n - 2 * RATE, n)
    before = 10 * np.log10(np.mean(echo[tail] ** 2))
    after = 10 * np.log10(np.mean(out[tail] ** 2) + 1e-9)
    assert before - after >= 20
