"""The loudspeakers' jitter buffer: a steady delay, silence (not stutter) when it runs dry,
no creeping delay when audio comes faster than it plays."""

from __future__ import annotations

import numpy as np

from classroom_agent.playback import BLOCK, RATE, JitterBuffer


def test_playback_waits_for_its_target_then_plays_in_order() -> None:
    buffer = JitterBuffer(target_ms=80)
    ramp = np.arange(RATE // 10, dtype=np.int16)  # 100 ms
    buffer.push(ramp[: RATE // 20])  # 50 ms: below the target
    assert not buffer.pull(BLOCK).any()
    buffer.push(ramp[RATE // 20 :])
    out = np.concatenate([buffer.pull(BLOCK) for _ in range(4)])  # near the target: as is
    assert np.array_equal(out, ramp[: 4 * BLOCK])
    assert buffer.underruns == 0


def test_a_dry_buffer_is_one_gap_then_refills_to_the_target() -> None:
    buffer = JitterBuffer(target_ms=40)
    buffer.push(np.ones(RATE // 25, np.int16))  # exactly the target
    played = [buffer.pull(BLOCK).any() for _ in range(6)]
    assert played == [True, True, True, True, False, False]
    assert buffer.underruns == 1
    assert buffer.target_ms == 80  # it holds 40 ms more from now on
    buffer.push(np.ones(RATE * 60 // 1000, np.int16))  # 60 ms: not enough to restart
    assert not buffer.pull(BLOCK).any()
    buffer.push(np.ones(RATE * 20 // 1000, np.int16))
    assert buffer.pull(BLOCK).any()


def test_a_burst_beyond_the_limit_is_cut_back_to_the_target() -> None:
    buffer = JitterBuffer(target_ms=80, max_ms=240)
    for _ in range(30):  # 300 ms at once
        buffer.push(np.ones(BLOCK, np.int16))
    assert buffer.depth_ms <= 240
    assert buffer.dropped_samples > 0


def test_a_sender_slightly_faster_than_the_sound_card_is_absorbed_without_cuts() -> None:
    buffer = JitterBuffer(target_ms=80, max_ms=240)
    seconds = 60
    t = np.arange(RATE * seconds)
    tone = (8000 * np.sin(2 * np.pi * 440 * t / RATE)).astype(np.int16)
    pushed = played = 0
    out = []
    # A sender 0.4 % fast (four times a bad sound card): 240 ms would pile up in a minute.
    while played < len(tone) - RATE:
        arriving = min(round((played + BLOCK) * 1.004), len(tone))
        if arriving > pushed:
            buffer.push(tone[pushed:arriving])
            pushed = arriving
        out.append(buffer.pull(BLOCK))
        played += BLOCK
    assert buffer.dropped_samples == 0 and buffer.underruns == 0
    assert buffer.depth_ms <= 80 + 50 + 10
    assert buffer.stretched_samples > 0
    # Still a clean tone: 0.5 % faster moves 440 Hz by 2 Hz, with no click.
    signal = np.concatenate(out[len(out) // 2 :]).astype(np.float64)
    steps = np.abs(np.diff(signal))
    assert steps.max() < 8000 * 2 * np.pi * 445 / RATE * 1.1
