"""The link verdict: one set of thresholds for the lecturer's tiles and the agent's decisions."""

from __future__ import annotations

from classroom_agent.agent import _quality
from classroom_agent.quality import AudioOnlyPolicy
from streamhub.lesson.registry import link_verdict
from streamhub.protocol import StatsReport
from streamhub.quality import THRESHOLDS, judge


def test_verdicts_and_their_reasons() -> None:
    assert judge(None).quality == "unknown"
    assert judge(0.0, 40.0, 30.0, 900.0).quality == "good"
    fair = judge(0.03, 40.0, 30.0)
    assert (fair.quality, fair.reasons) == ("fair", ["high_loss"])
    poor = judge(0.12, 700.0, 12.0)
    assert poor.quality == "poor"
    # Most serious first: the poor ones, then the fair ones.
    assert poor.reasons == ["high_loss", "slow_round_trip", "low_fps"]
    assert judge(0.0, 40.0, 3.0).reasons == ["low_fps"]
    assert judge(0.0, 40.0, 25.0, 12.0).reasons == ["low_bitrate"]
    # No frames at all is "no camera", which the tile says on its own: not a poor link.
    assert judge(0.0, 40.0, 0.0).quality == "good"
    assert judge(0.0, audio_only=True).reasons == ["audio_only"]


def test_the_hub_takes_the_lower_frame_rate_of_what_it_measures_and_what_is_reported() -> None:
    received_slowly = StatsReport(fps=4.0, loss=0.0, bitrate_kbps=400.0)
    assert link_verdict(30.0, 0.0, 20.0, received_slowly, False).reasons == ["low_fps"]
    assert link_verdict(30.0, 0.0, 20.0, None, False).quality == "good"


def test_the_agent_uses_the_same_thresholds() -> None:
    policy = AudioOnlyPolicy()
    assert policy.max_loss == THRESHOLDS.audio_only_loss
    assert policy.poor_for_s == THRESHOLDS.audio_only_after_s
    assert policy.good_for_s == THRESHOLDS.video_again_after_s
    # The projector's word is the hub's verdict on the same report.
    for loss, rtt in ((0.0, 50.0), (0.03, 50.0), (0.0, 400.0), (0.2, 50.0)):
        report = StatsReport(loss=loss, rtt_ms=rtt, fps=25.0, bitrate_kbps=500.0)
        assert _quality(report) == judge(loss, rtt, 25.0, 500.0).quality
    assert _quality(None) == "unknown"
    assert _quality(None, audio_only=True) == "poor"
