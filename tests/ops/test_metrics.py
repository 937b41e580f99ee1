"""GET /metrics on a real in-process hub with a live lesson: lecturer publishing, a classroom
receiving; the Prometheus series match what the hub is doing."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from streamhub.client import LessonClient, signaling_url
from streamhub.client.synthetic import PatternVideoTrack
from streamhub.metrics import HubMetrics
from streamhub.protocol import Slot
from tests.support.hub import AdminApi, HubFactory, InProcessHub
from tests.support.wait import eventually

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
async def hub(make_hub: HubFactory) -> InProcessHub:
    return await make_hub(recorder={"enabled": False}, media={"stats_interval_s": 1.0})


async def scrape(hub: InProcessHub) -> Samples:
    async with httpx.AsyncClient(base_url=hub.url, timeout=5) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def test_metrics_of_a_live_lesson(hub: InProcessHub) -> None:
    admin = AdminApi(hub.url)
    lesson = await admin.lesson(classrooms=1)
    lecturer = LessonClient(hub.url, lesson.lecturer_token)
    classroom = LessonClient(hub.url, await admin.device_token(lesson.credentials[0]))
    try:
        await lecturer.connect({Slot.CAMERA: PatternVideoTrack(160, 120)})
        await classroom.connect({})
        for _ in range(3):  # the classroom really receives the lecturer's frames
            await asyncio.wait_for(classroom.tracks[Slot.LECTURER_VIDEO].recv(), 5)

        async def settled() -> Samples | None:
            # Bitrate needs two stats rounds (the first has no previous byte count).
            samples = await scrape(hub)
            ready = (
                value(samples, "streamhub_bitrate_kbps", direction="in") > 0
                and value(samples, "streamhub_keyframe_requests_total") >= 1
            )
            return samples if ready else None

        samples = await eventually(settled, timeout=15, interval=0.5)
        assert value(samples, "streamhub_lessons_live") == 1
        assert value(samples, "streamhub_participants", role="lecturer") == 1
        assert value(samples, "streamhub_participants", role="classroom") == 1
        assert value(samples, "streamhub_participants", role="recorder") == 0
        joins = sum(
            value(samples, "streamhub_join_latency_seconds_count", role=role)
            for role in ("lecturer", "classroom")
        )
        assert joins >= 2
        assert value(samples, "streamhub_bitrate_kbps", direction="in") > 0
        assert value(samples, "streamhub_bitrate_kbps", direction="out") > 0
        # Datagrams through the open peer connections (the benches' packets per second).
        assert value(samples, "streamhub_media_packets", direction="in") > 0
        assert value(samples, "streamhub_media_packets", direction="out") > 0
        assert value(samples, "streamhub_keyframe_requests_total") >= 1
        assert "streamhub_keyframe_plis_sent_total" in {name for name, _ in samples}
        assert value(samples, "streamhub_packet_loss_ratio_count", role="lecturer") >= 1
        assert value(samples, "streamhub_participant_bitrate_kbps_count", direction="in") >= 1
        # The classroom's first lecturer frame is known, so its join-to-media time is too.
        assert value(samples, "streamhub_join_to_first_media_seconds_count", role="classroom") == 1
        assert any(name == "streamhub_node_info" for name, _ in samples)
    finally:
        await classroom.close()
        await lecturer.close()
        await admin.close()

    async def emptied() -> bool:
        after = await scrape(hub)
        return (
            value(after, "streamhub_participants", role="lecturer") == 0
            and value(after, "streamhub_participants", role="classroom") == 0
        )

    await eventually(emptied, timeout=10, interval=0.2)


async def test_errors_sent_to_clients_are_counted_by_code(hub: InProcessHub) -> None:
    async with websockets.connect(signaling_url(hub.url)) as ws:
        await ws.send("this is not json")
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply["type"] == "error"
        code = reply["code"]
    samples = await scrape(hub)
    assert value(samples, "streamhub_signaling_errors_total", code=code) == 1


async def test_openmetrics_on_request(hub: InProcessHub) -> None:
    async with httpx.AsyncClient(base_url=hub.url, timeout=5) as http:
        response = await http.get(
            "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


def test_apps_have_separate_registries_and_recordings_by_state() -> None:
    first, second = HubMetrics("a"), HubMetrics("b")  # no duplicate-timeseries error
    first.set_recordings({"recording": 2, "finalizing": 1})
    first.set_recordings({"recording": 1})
    first.error_sent("bad_json")
    one = parse(first.render()[0].decode())
    two = parse(second.render()[0].decode())
    assert value(one, "streamhub_recordings", state="recording") == 1
    assert value(one, "streamhub_recordings", state="finalizing") == 0
    assert value(one, "streamhub_signaling_errors_total", code="bad_json") == 1
    assert value(two, "streamhub_signaling_errors_total", code="bad_json") == 0
    assert value(one, "streamhub_node_info", node_id="a") == 1


def exported_series() -> set[str]:
    metrics = HubMetrics("x")
    metrics.watch_rooms(lambda: [])
    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_count", "_sum"),
        "summary": ("_count", "_sum"),
        "info": ("_info",),
    }
    return {
        family.name + suffix
        for family in metrics.registry.collect()
        for suffix in suffixes.get(family.type, ("",))
    }


def test_grafana_dashboard_uses_only_exported_series() -> None:
    path = Path(__file__).resolve().parents[2] / "configs" / "grafana-dashboard.json"
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    exported = exported_series()
    expressions = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    assert len(expressions) >= 10
    used: set[str] = set()
    for expr in expressions:
        used |= set(re.findall(r"\b((?:streamhub|process)_[a-z_]+)\b", expr))
    unknown = used - exported
    assert not unknown, f"the dashboard queries series the hub does not export: {unknown}"
    wanted = {
        "streamhub_lessons_live",
        "streamhub_participants",
        "streamhub_bitrate_kbps",
        "streamhub_packet_loss_ratio_bucket",
        "streamhub_join_latency_seconds_bucket",
        "streamhub_keyframe_requests_total",
        "streamhub_recordings",
        "streamhub_signaling_errors_total",
    }
    assert wanted <= used, wanted - used
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
