"""The county's data feed (issue 16): webhooks signed with HMAC and retried with back-off, their
delivery log, and the same events by pull. A receiver on loopback that fails twice and then
accepts gets each event exactly once per delivery id, its signature verified."""

from __future__ import annotations

import asyncio
import gc
import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from streamhub.catalog.replay import Watched
from streamhub.client import LessonClient
from streamhub.config import load_settings
from streamhub.feed.events import Feed
from streamhub.feed.signing import verify
from tests.support.hub import AdminApi, HubFactory, InProcessHub
from tests.support.wait import eventually
from tests.support.webhook_receiver import Received, WebhookReceiver


@pytest.fixture
async def hub(database_url: str | None, make_hub: HubFactory) -> InProcessHub:
    # Retries a fifth of a second apart, doubling: the test sees three attempts quickly.
    webhooks = {"retry_base_s": 0.2, "poll_s": 0.2}
    return await make_hub(recorder={"enabled": False}, webhooks=webhooks, database_url=database_url)


def sent(receiver: WebhookReceiver, event_type: str) -> list[Received]:
    return [r for r in receiver.requests if r.headers["streamhub-event"] == event_type]


def accepted(receiver: WebhookReceiver, event_type: str) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in sent(receiver, event_type) if r.answered == 200]


async def pull(admin: AdminApi, **params: int) -> dict[str, Any]:
    response = await admin.http.get("/api/events", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_a_receiver_that_fails_twice_gets_each_event_once(hub: InProcessHub) -> None:
    admin = AdminApi(hub.url)
    classroom: LessonClient | None = None
    async with WebhookReceiver([500, 503]) as receiver:
        try:
            created = await admin.post(
                "/api/webhooks",
                {
                    "url": receiver.url,
                    "events": ["lesson.started", "classroom.dropped", "attendance.final"],
                    "description": "county platform",
                },
            )
            secret = created["secret"]
            assert secret.startswith("whsec_")
            listed = (await admin.http.get("/api/webhooks")).json()
            assert [w["url"] for w in listed] == [receiver.url] and "secret" not in listed[0]

            lesson = await admin.lesson(classrooms=1)  # goes live: lesson.started
            started = await eventually(
                lambda: accepted(receiver, "lesson.started") or None, timeout=30
            )
            # Two failures, then the accepted one: three attempts of one delivery, each signed.
            attempts = [
                r for r in receiver.requests if r.headers["streamhub-event"] == "lesson.started"
            ]
            assert [r.answered for r in attempts] == [500, 503, 200]
            assert len({r.headers["streamhub-delivery"] for r in attempts}) == 1
            for request in attempts:
                assert verify(secret, request.body, request.headers["streamhub-signature"])
                assert not verify(
                    "whsec_wrong", request.body, request.headers["streamhub-signature"]
                )
            assert started[0]["lesson_id"] == lesson.lesson_id
            assert started[0]["data"]["join_code"] == lesson.code
            # The hub records the accepted attempt just after the receiver answered.
            log = await eventually(lambda: _delivered(admin, created["id"]), timeout=30)
            assert [(d["event_type"], d["attempts"]) for d in log] == [("lesson.started", 3)]

            # A classroom drops out of the live lesson; then the lesson ends.
            token = await admin.device_token(lesson.credentials[0])
            classroom = LessonClient(hub.url, token)
            await classroom.connect({})
            await classroom.close()
            classroom = None
            dropped = await eventually(
                lambda: accepted(receiver, "classroom.dropped") or None, timeout=30
            )
            assert dropped[0]["data"]["classroom_id"] == lesson.classroom_ids[0]
            await admin.post(f"/api/lessons/{lesson.lesson_id}/end")
            final = await eventually(
                lambda: accepted(receiver, "attendance.final") or None, timeout=30
            )
            (line,) = final[0]["data"]["classrooms"]
            assert line["classroom_id"] == lesson.classroom_ids[0] and line["sessions"] == 1
            # lesson.ended was not asked for: never sent.
            assert not [
                r for r in receiver.requests if r.headers["streamhub-event"] == "lesson.ended"
            ]

            # Each delivery id was accepted exactly once.
            ids = [r.headers["streamhub-delivery"] for r in receiver.requests if r.answered == 200]
            assert len(ids) == len(set(ids)) == 3

            # The same events by pull, in order, resumable after the last id seen.
            page = await pull(admin, limit=2)
            assert [e["type"] for e in page["events"]] == ["lesson.started", "classroom.dropped"]
            rest = (
                await admin.http.get("/api/events", params={"after": page["next_after"]})
            ).json()
            assert [e["type"] for e in rest["events"]] == ["lesson.ended", "attendance.final"]
            again = (
                await admin.http.get("/api/events", params={"after": rest["next_after"]})
            ).json()
            assert again == {"events": [], "next_after": rest["next_after"]}
        finally:
            if classroom is not None:
                await classroom.close()
            await admin.close()


async def test_bad_webhooks_are_refused_and_a_deleted_one_gets_nothing(hub: InProcessHub) -> None:
    admin = AdminApi(hub.url)
    try:
        for body in (
            {"url": "ftp://example.test/hook"},
            {"url": "http://user:pw@127.0.0.1/hook"},
            {"url": "http://127.0.0.1/hook", "events": ["lesson.exploded"]},
            {"url": "http://127.0.0.1/hook", "secret": "mine"},
            {"url": "http://127.0.0.1/hook\x00"},
        ):
            refused = await admin.http.post("/api/webhooks", json=body)
            assert refused.status_code == 422, (body, refused.text)
            assert refused.headers["content-type"].startswith("application/problem+json")
        beyond = await admin.http.get("/api/events", params={"after": 2**40})
        assert beyond.status_code == 422, beyond.text
        async with WebhookReceiver() as receiver:
            created = await admin.post("/api/webhooks", {"url": receiver.url})
            deleted = await admin.http.delete(f"/api/webhooks/{created['id']}")
            assert deleted.status_code == 204
            assert (await admin.http.delete(f"/api/webhooks/{created['id']}")).status_code == 404
            await admin.lesson(classrooms=1)
            # The event is kept for pull; with no webhook left, nobody is sent it.
            events = await eventually(lambda: _events(admin), timeout=30)
            assert [e["type"] for e in events] == ["lesson.started"]
            assert receiver.requests == []
    finally:
        await admin.close()


async def _events(admin: AdminApi) -> list[dict[str, Any]] | None:
    found: list[dict[str, Any]] = (await pull(admin))["events"]
    return found or None


async def _delivered(admin: AdminApi, webhook_id: int) -> list[dict[str, Any]] | None:
    log: list[dict[str, Any]] = (
        await admin.http.get(f"/api/webhooks/{webhook_id}/deliveries")
    ).json()
    return log if log and all(d["state"] == "delivered" for d in log) else None


async def test_an_event_spawned_as_the_hub_stops_is_closed_not_left_unawaited(
    tmp_path: Path,
) -> None:
    """A classroom leaving while the hub stops spawns its event just before Feed.close():
    cancelled before it ran, its coroutine must be closed (an un-awaited one warns when the
    garbage collector finds it, failing whichever test runs then), and after close nothing
    is spawned at all."""
    settings = load_settings(None, data_dir=tmp_path, jwt_secret="s" * 32, admin_key="k" * 32)
    feed = Feed(settings, catalog=Any, lessons=Any)  # type: ignore[arg-type]
    ran: list[str] = []

    async def publish(name: str) -> None:
        ran.append(name)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        feed._spawn(publish("before close"), "classroom.dropped")
        await feed.close()
        feed._spawn(publish("after close"), "classroom.dropped")
        gc.collect()
    assert ran == []
    assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []


async def test_replay_summaries_carry_views_and_watch_time_of_what_was_replayed(
    hub: InProcessHub,
) -> None:
    """``replay.summary``: per recording and capsule replayed since the last summary, views
    and watch time so far and the replays begun since; nobody in it; none when nothing was
    replayed. Webhooks may subscribe to it."""
    admin = AdminApi(hub.url)
    async with WebhookReceiver() as receiver:
        await admin.post("/api/webhooks", {"url": receiver.url, "events": ["replay.summary"]})
        catalog = hub.services.catalog
        feed = hub.services.feed
        assert feed is not None
        lesson = await admin.lesson(classrooms=0, start=False, title="二次函数")
        recs = []
        for name in ("a", "b"):
            rec = await catalog.create_recording(lesson.lesson_id, f"rec-{name}")
            await catalog.update_recording(rec.id, state="ready", duration_s=600.0, progress=1.0)
            recs.append(rec.id)
        capsule = await catalog.create_capsule(
            [], recording_id=recs[0], lesson_id=lesson.lesson_id, title="顶点", start_s=0.0,
            end_s=4.0, requested_start_s=0.0, duration_s=4.0, directory="capsules/capsule-x",
        )  # fmt: skip

        async def watched(session: str, ranges: list[list[float]], **target: int) -> None:
            body = {**target, "session": session * 16, "ranges": ranges}
            response = await admin.http.post("/api/replay/watched", json=body)
            assert response.status_code == 204, response.text

        assert await feed.replay_summary() is None  # nothing replayed yet
        await watched("a", [[0.0, 30.0], [10.0, 20.0]], recording_id=recs[0])
        await watched("b", [[0.0, 5.0]], recording_id=recs[0])
        await watched("c", [[0.0, 4.0]], capsule_id=capsule.id)
        first = await feed.replay_summary()
        assert first is not None and first["since"] is None
        assert first["recordings"] == [
            {"recording_id": recs[0], "lesson_id": lesson.lesson_id, "title": "二次函数",
             "duration_s": 600.0, "views": 2, "watch_s": 45.0, "new_views": 2}
        ]  # fmt: skip
        assert first["capsules"] == [
            {"capsule_id": capsule.id, "recording_id": recs[0], "lesson_id": lesson.lesson_id,
             "title": "顶点", "duration_s": 4.0, "views": 1, "watch_s": 4.0, "new_views": 1}
        ]  # fmt: skip
        assert await feed.replay_summary() is None  # nothing new since
        # A replay going on (its session reports again) and a new one of the other recording.
        await watched("a", [[30.0, 40.0]], recording_id=recs[0])
        await watched("d", [[0.0, 60.0]], recording_id=recs[1])
        second = await feed.replay_summary()
        assert second is not None and second["since"] == first["until"]
        assert [(r["recording_id"], r["views"], r["watch_s"], r["new_views"])
                for r in second["recordings"]] == [(recs[1], 1, 60.0, 1),
                                                   (recs[0], 2, 55.0, 0)]  # fmt: skip
        assert second["capsules"] == []
        pulled = (await pull(admin, after=0))["events"]
        summaries = [e["data"] for e in pulled if e["type"] == "replay.summary"]
        assert summaries == [first, second]
        assert "viewer" not in json.dumps(summaries)
        got = await eventually(lambda: len(accepted(receiver, "replay.summary")) == 2 or None,
                               timeout=20)  # fmt: skip
        assert got and [e["data"] for e in accepted(receiver, "replay.summary")] == summaries
    await admin.close()


async def test_replay_summaries_come_on_their_timer(tmp_path: Path) -> None:
    """The summary timer (``webhooks.replay_summary_every_s``) makes one each round there was
    replay data, and a round whose catalog failed does not end it."""
    settings = load_settings(None, data_dir=tmp_path, jwt_secret="s" * 32, admin_key="k" * 32)
    published: list[dict[str, Any]] = []
    rounds: list[int] = []
    watched = Watched(recording_id=1, capsule_id=None, lesson_id=1, title="x", views=1,
                      watch_s=2.0, new_views=1, duration_s=60.0)  # fmt: skip

    class Catalog:
        async def latest_feed_event(self, _type: str) -> None:
            return None

        async def watched_between(self, *_: object) -> tuple[list[Watched], list[Watched]]:
            rounds.append(1)
            if len(rounds) == 1:
                raise OSError("catalog away")
            return [watched], []

        async def add_feed_event(self, event_type: str, _lesson: None, data: Any) -> None:
            published.append({"type": event_type, **data})

    feed = Feed(settings, catalog=Catalog(), lessons=Any)  # type: ignore[arg-type]
    timer = asyncio.get_running_loop().create_task(feed._summarize_every(0.01))
    try:
        await eventually(lambda: len(published) >= 2 or None, timeout=10)
    finally:
        timer.cancel()
        await asyncio.gather(timer, return_exceptions=True)
    assert published[0]["type"] == "replay.summary"
    assert published[0]["recordings"] == [watched.as_data()]
