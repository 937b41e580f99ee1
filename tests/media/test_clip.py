"""The load generators' looped clips: encoded once, valid to a decoder at every restart."""

from __future__ import annotations

import av

from streamhub.client.clip import ClipTrack, encode_audio_clip, encode_video_clip
from streamhub.client.decode import FrameDecoder


async def test_a_clip_loops_and_restarts_at_its_key_frame_on_request() -> None:
    clip = encode_video_clip(96, 64, fps=30, seconds=0.2, bitrate_kbps=100)
    assert clip.frames[0][1] and not any(key for _, key in clip.frames[1:])
    track = ClipTrack(clip)
    decoder = FrameDecoder("VP8")
    seen = [await track.recv() for _ in range(len(clip.frames) + 2)]
    # Looping comes back to the key frame; timestamps keep growing by one frame.
    assert [p.is_keyframe for p in seen[: len(clip.frames) + 1]] == [True] + [False] * (
        len(clip.frames) - 1
    ) + [True]
    assert [p.pts for p in seen] == [i * clip.step for i in range(len(seen))]
    track.request_keyframe()
    restarted = await track.recv()
    assert restarted.is_keyframe and restarted.pts == len(seen) * clip.step
    # A decoder that sees the restart decodes it and the deltas after it.
    frames = decoder.decode(restarted) + decoder.decode(await track.recv())
    assert [(f.width, f.height) for f in frames] == [(96, 64), (96, 64)]


def test_an_audio_clip_is_opus_in_20_ms_packets() -> None:
    clip = encode_audio_clip(seconds=0.2)
    assert clip.step == 960 and len(clip.frames) >= 10
    decoder = FrameDecoder("opus")
    decoded = decoder.decode(av.Packet(clip.frames[3][0]))
    assert decoded and decoded[0].samples == 960
