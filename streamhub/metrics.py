"""Prometheus metrics of one hub app, served at ``GET /metrics``.

Each ``HubMetrics`` owns its own ``CollectorRegistry`` (never prometheus_client's global one), so
several apps can live in one process (tests) without "duplicated timeseries" errors.

Two kinds of series:

* live state (lessons live, participants by role, hub bitrate) is read from the lesson registry
  at scrape time by ``_LiveCollector``, so it can never drift from the rooms;
* events (joins, errors, keyframe requests, per-participant stats samples, recordings) are
  recorded by the small methods below, which the hub calls where they happen.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    Summary,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from streamhub.media.keyframes import KeyframeRequester
from streamhub.protocol import Role, Slot

if TYPE_CHECKING:
    from streamhub.lesson.participant import Participant
    from streamhub.lesson.room import Room

PREFIX = "streamhub"
# Roles that take part in a live lesson; each always has a participants series (0 when absent).
LIVE_ROLES = (Role.LECTURER, Role.CLASSROOM, Role.RECORDER)
JOIN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FIRST_MEDIA_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
# Fraction of packets lost per participant per stats round; 0.02 and 0.08 are quality_of's edges.
LOSS_BUCKETS = (0.0, 0.005, 0.01, 0.02, 0.05, 0.08, 0.15, 0.3, 1.0)

RoomsSource = Callable[[], Iterable["Room"]]


class _LiveCollector(Collector):
    """Reads the live rooms when scraped (in the event loop: /metrics is an async route)."""

    def __init__(self, rooms: RoomsSource) -> None:
        self._rooms = rooms

    def collect(self) -> Iterator[Metric]:
        lessons = GaugeMetricFamily(
            f"{PREFIX}_lessons_live", "Lessons live on this hub node right now."
        )
        participants = GaugeMetricFamily(
            f"{PREFIX}_participants",
            "Participants connected to this node's live lessons, by role.",
            labels=["role"],
        )
        bitrate = GaugeMetricFamily(
            f"{PREFIX}_bitrate_kbps",
            "Media bitrate through this node (sum over participants, last stats round), "
            "direction in = received by the hub, out = sent by the hub.",
            labels=["direction"],
        )
        whip = GaugeMetricFamily(
            f"{PREFIX}_whip_sessions",
            "WHIP publishers in this node's live lessons, by what they publish (camera: camera "
            "and microphone; screen).",
            labels=["publishes"],
        )
        rtmp = GaugeMetricFamily(
            f"{PREFIX}_rtmp_pushes",
            "RTMP pushes (the RTMP bridge) publishing a lecturer's camera and microphone in this "
            "node's live lessons.",
        )
        packets = GaugeMetricFamily(
            f"{PREFIX}_media_packets",
            "Datagrams (RTP, RTCP, DTLS) through the peer connections open now, since each "
            "opened; direction in = received by the hub, out = sent by the hub.",
            labels=["direction"],
        )
        rooms = list(self._rooms())
        packets_in = packets_out = 0
        by_role = {role.value: 0 for role in LIVE_ROLES}
        feeds = {"camera": 0, "screen": 0}
        pushes = 0
        kbps_in = kbps_out = 0.0
        for room in rooms:
            for member in list(room.members.values()):
                by_role[member.role.value] = by_role.get(member.role.value, 0) + 1
                if member.feed is not None and member.ingest == "rtmp":
                    pushes += 1
                elif member.feed is not None:
                    kind = "screen" if member.feed is Slot.SCREEN else "camera"
                    feeds[kind] += 1
                counts = getattr(member.peer, "packet_counts", None)
                if counts is not None:
                    received, sent = counts()
                    packets_in += received
                    packets_out += sent
                if member.stats is not None:
                    kbps_in += member.stats.bitrate_in_kbps
                    kbps_out += member.stats.bitrate_out_kbps
        lessons.add_metric([], len(rooms))
        for role, count in sorted(by_role.items()):
            participants.add_metric([role], count)
        bitrate.add_metric(["in"], kbps_in)
        bitrate.add_metric(["out"], kbps_out)
        packets.add_metric(["in"], packets_in)
        packets.add_metric(["out"], packets_out)
        for kind, count in feeds.items():
            whip.add_metric([kind], count)
        yield lessons
        yield participants
        rtmp.add_metric([], pushes)
        yield whip
        yield rtmp
        yield bitrate
        yield packets


class HubMetrics:
    """The metrics of one hub app. Cheap to create; nothing global."""

    def __init__(self, node_id: str | None = None, *, process: bool = True) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        if process:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
        Info(f"{PREFIX}_node", "This hub node.", registry=r).info({"node_id": node_id or ""})
        self.join_latency = Histogram(
            f"{PREFIX}_join_latency_seconds",
            "Time from a join message received to its joined reply queued.",
            ["role"],
            buckets=JOIN_BUCKETS,
            registry=r,
        )
        self.first_media = Histogram(
            f"{PREFIX}_join_to_first_media_seconds",
            "Time from a join message received to the first media packet the hub sends to "
            "that participant.",
            ["role"],
            buckets=FIRST_MEDIA_BUCKETS,
            registry=r,
        )
        self.packet_loss = Histogram(
            f"{PREFIX}_packet_loss_ratio",
            "Packet loss of one participant over one stats round (measured or reported, the "
            "worse of the two).",
            ["role"],
            buckets=LOSS_BUCKETS,
            registry=r,
        )
        self.participant_bitrate = Summary(
            f"{PREFIX}_participant_bitrate_kbps",
            "Bitrate of one participant's peer connection over one stats round.",
            ["direction"],
            registry=r,
        )
        self.keyframe_requests = Counter(
            f"{PREFIX}_keyframe_requests",
            "Keyframe requests for published video (new subscribers, slot switches, slow "
            "subscribers), before coalescing.",
            registry=r,
        )
        self.keyframe_plis = Counter(
            f"{PREFIX}_keyframe_plis_sent",
            "PLIs sent to publishers (keyframe requests after coalescing, one per interval).",
            registry=r,
        )
        self.errors = Counter(
            f"{PREFIX}_signaling_errors",
            "Error messages sent to signaling clients, by error code.",
            ["code"],
            registry=r,
        )
        self.closes = Counter(
            f"{PREFIX}_signaling_closes",
            "Signaling connections closed by the hub, by reason code.",
            ["reason"],
            registry=r,
        )
        self.recordings = Gauge(
            f"{PREFIX}_recordings",
            "Recordings on this node, by recorder state.",
            ["state"],
            registry=r,
        )
        self._join_received: dict[str, tuple[float, str]] = {}
        self._recording_states: set[str] = set()

    # ------------------------------------------------------------ wiring

    def watch_rooms(self, rooms: RoomsSource) -> None:
        """Report lessons live, participants and hub bitrate from these rooms at scrape time."""
        self.registry.register(_LiveCollector(rooms))

    def watch_overload(self, lag_s: Callable[[], float], shed: Callable[[], int]) -> None:
        """Report how late the event loop runs and how many classrooms overload turned
        audio-only (streamhub.lesson.overload), at scrape time."""
        lag = Gauge(
            f"{PREFIX}_event_loop_lag_seconds",
            "How late this process's event loop runs (median of the last second).",
            registry=self.registry,
        )
        lag.set_function(lag_s)
        count = Gauge(
            f"{PREFIX}_classrooms_shed",
            "Classrooms whose video the hub stopped because this process is overloaded.",
            registry=self.registry,
        )
        count.set_function(lambda: float(shed()))

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition (Prometheus text, or OpenMetrics if ``accept`` asks) and its type."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type

    # ------------------------------------------------------------ signaling

    def joined(self, participant: Participant | None, received_at: float) -> None:
        """A join succeeded; ``received_at`` is the monotonic time its message arrived."""
        if participant is None:
            return
        role = participant.role.value
        self.join_latency.labels(role).observe(max(time.monotonic() - received_at, 0.0))
        self._join_received[participant.id] = (received_at, role)

    def error_sent(self, code: str) -> None:
        self.errors.labels(str(code)).inc()

    def connection_closed(self, reason: str) -> None:
        self.closes.labels(str(reason)).inc()

    # ------------------------------------------------------------ stats loop

    def observe_member(
        self, member: Participant, kbps_in: float, kbps_out: float, loss: float
    ) -> None:
        """One participant's stats round (called by the lesson registry's stats loop)."""
        self.packet_loss.labels(member.role.value).observe(min(max(loss, 0.0), 1.0))
        self.participant_bitrate.labels("in").observe(kbps_in)
        self.participant_bitrate.labels("out").observe(kbps_out)
        self._count_keyframes(member)
        self._check_first_media(member)

    def member_left(self, member: Participant) -> None:
        self._count_keyframes(member)
        self._join_received.pop(member.id, None)

    def _count_keyframes(self, member: Participant) -> None:
        for source in list(member.sources.values()):
            requester = getattr(source, "keyframes", None)
            if isinstance(requester, KeyframeRequester):
                requested, sent = requester.take_counts()
                self.keyframe_requests.inc(requested)
                self.keyframe_plis.inc(sent)

    def _check_first_media(self, member: Participant) -> None:
        joined = self._join_received.get(member.id)
        if joined is None:
            return
        firsts = [
            first
            for sink in list(member.sinks.values())
            if (first := getattr(sink, "first_packet_at", None)) is not None
        ]
        if firsts:
            received_at, role = self._join_received.pop(member.id)
            self.first_media.labels(role).observe(max(min(firsts) - received_at, 0.0))

    # ------------------------------------------------------------ recorder

    def set_recordings(self, state_counts: Mapping[str, int]) -> None:
        """Replace the recordings-by-state gauge; states not given (but seen before) read 0."""
        for state in self._recording_states - set(state_counts):
            self.recordings.labels(state).set(0)
        for state, count in state_counts.items():
            self.recordings.labels(state).set(count)
        self._recording_states |= set(state_counts)
