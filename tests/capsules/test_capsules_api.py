"""Capsules through the HTTP API of one in-process hub: cut from a real (small) archive, listed
with the shelf's filters, downloaded, kept when their recording and lesson are deleted, and
deleted with their files; replay reports validated and summed into views and heat."""

from __future__ import annotations

import io
from typing import Any

import av
import httpx
import pytest

from streamhub.client.synthetic import read_counter
from tests.capsules.archive import FPS, make_archive
from tests.support.hub import AdminApi, HubFactory, InProcessHub


@pytest.fixture
async def hub(make_hub: HubFactory) -> InProcessHub:
    return await make_hub(recorder={"enabled": False}, capsules={"max_length_s": 60})


async def _recording(hub: InProcessHub, admin: AdminApi) -> tuple[int, int]:
    """A ready recording of a 10-second lesson (key frames every 2 s), as finalize leaves one."""
    lesson = await admin.lesson(classrooms=0, start=False, title="分数的加法")
    catalog = hub.services.catalog
    folder = hub.settings.effective_recordings_dir / "lesson-test"
    folder.mkdir(parents=True)
    make_archive(folder / "lesson.mp4")
    rec = await catalog.create_recording(lesson.lesson_id, "lesson-test")
    await catalog.update_recording(rec.id, state="ready", duration_s=10.0, progress=1.0)
    return rec.id, lesson.lesson_id


def _frames(data: bytes) -> list[int]:
    with av.open(io.BytesIO(data)) as container:
        return [read_counter(f) for f in container.decode(video=0)]


async def test_capsules_are_cut_listed_kept_and_deleted(hub: InProcessHub, admin: AdminApi) -> None:
    rid, lesson_id = await _recording(hub, admin)
    http = admin.http
    # Subjects and grades are the county's lists (a capsule is refused one they lack).
    await admin.subject("数学")
    for grade in ("五年级", "六年级"):
        assert (await http.post("/api/grades", json={"name": grade})).status_code == 201
    body: dict[str, Any] = {
        "recording_id": rid,
        "start_s": 2.5,
        "end_s": 5.5,
        "title": "通分的常见错误",
        "subject": "数学",
        "grade": "五年级",
        "knowledge_point": "通分",
        "tags": ["common mistake", "common mistake", "fractions"],
        "source": "chapter",
        "source_label": "Lecturer",
    }
    made = await http.post("/api/capsules", json=body)
    assert made.status_code == 201, made.text
    exact = made.json()
    assert exact["reencoded"] is True and exact["start_s"] == 2.5
    assert abs(exact["duration_s"] - 3.0) <= 0.1
    assert exact["tags"] == ["common mistake", "fractions"]
    snapped = (await http.post("/api/capsules", json={**body, "snap": True, "grade": "六年级",
                                                      "tags": ["fractions"]})).json()  # fmt: skip
    assert snapped["reencoded"] is False and snapped["start_s"] == 2.0

    media = await http.get(exact["media_url"].split("?")[0])  # the admin key, no ticket
    assert media.status_code == 200 and media.headers["content-type"] == "video/mp4"
    numbers = _frames(media.content)
    assert numbers[0] == round(2.5 * FPS) and numbers == list(range(numbers[0], numbers[-1] + 1))
    download = await http.get(exact["download_url"])
    assert "attachment" in download.headers["content-disposition"]
    assert (await http.get(exact["poster_url"])).headers["content-type"] == "image/jpeg"
    # A capsule's ticket opens that capsule's files, no other's.
    ticket = exact["media_url"].split("?")[1]
    async with httpx.AsyncClient(base_url=hub.url) as anon:
        assert (await anon.get(exact["media_url"])).status_code == 200
        other = await anon.get(f"/api/capsules/{snapped['id']}/media?{ticket}")
        assert other.status_code == 401

    def ids(page: dict[str, Any]) -> list[int]:
        return [c["id"] for c in page["items"]]

    shelf = (await http.get("/api/capsules")).json()
    assert ids(shelf) == [snapped["id"], exact["id"]]
    assert ids((await http.get("/api/capsules", params={"grade": "五年级"})).json()) == [
        exact["id"]
    ]
    tagged = (await http.get("/api/capsules", params={"tag": "common mistake"})).json()
    assert ids(tagged) == [exact["id"]]
    point = (await http.get("/api/capsules", params={"knowledge_point": "通分"})).json()
    assert ids(point) == [snapped["id"], exact["id"]]
    facets = (await http.get("/api/capsules/facets")).json()
    assert facets == {
        "subjects": ["数学"],
        "grades": ["五年级", "六年级"],
        "knowledge_points": ["通分"],
        "tags": ["common mistake", "fractions"],
    }

    # A capsule's replay data: its own views, on the shelf too.
    watched = {"capsule_id": exact["id"], "session": "c3" * 8, "ranges": [[0.0, 2.0]]}
    assert (await http.post("/api/replay/watched", json=watched)).status_code == 204
    past = {**watched, "ranges": [[0.0, 5.0]]}  # the capsule is 3 s long
    assert (await http.post("/api/replay/watched", json=past)).status_code == 400
    replay = (await http.get(f"/api/capsules/{exact['id']}/replay")).json()
    assert (replay["views"], replay["watch_s"]) == (1, 2.0)
    assert replay["heat"][:2] == [1, 1] and sum(replay["heat"]) == 2
    listed = (await http.get("/api/capsules", params={"grade": "五年级"})).json()["items"]
    assert (listed[0]["views"], listed[0]["watch_s"]) == (1, 2.0)

    # Bad cuts: backwards, too long, past the end.
    for bad in ({"end_s": 2.0}, {"start_s": 0.0, "end_s": 70.0}, {"start_s": 9.0, "end_s": 12.0}):
        response = await http.post("/api/capsules", json={**body, **bad})
        assert response.status_code == 400, (bad, response.text)

    # The recording and its lesson go; the capsule stays, files and all.
    assert (await http.delete(f"/api/recordings/{rid}")).status_code == 204
    assert (await http.delete(f"/api/lessons/{lesson_id}")).status_code == 204
    kept = (await http.get(f"/api/capsules/{exact['id']}")).json()
    assert kept["recording_id"] is None and kept["lesson_title"] == "分数的加法"
    assert _frames((await http.get(kept["media_url"])).content) == numbers

    folder = hub.settings.effective_recordings_dir / "capsules"
    assert len(list(folder.iterdir())) == 2
    assert (await http.delete(f"/api/capsules/{exact['id']}")).status_code == 204
    assert (await http.get(f"/api/capsules/{exact['id']}")).status_code == 404
    assert len(list(folder.iterdir())) == 1


async def test_replay_reports_become_views_heat_and_suggestions(
    hub: InProcessHub, admin: AdminApi
) -> None:
    rid, _ = await _recording(hub, admin)
    http = admin.http

    async def watched(ranges: list[list[float]], session: str = "a1" * 8) -> int:
        body = {"recording_id": rid, "session": session, "ranges": ranges}
        return (await http.post("/api/replay/watched", json=body)).status_code

    assert await watched([[0.0, 10.0]]) == 204
    assert await watched([[2.0, 4.0], [2.0, 4.0]]) == 204  # the same replay, re-watched twice
    assert await watched([[3.0, 4.0]], session="b2" * 8) == 204  # another replay
    # Refused: past the end, backwards, too many ranges, no target, a bad session id.
    assert await watched([[5.0, 30.0]]) == 400
    assert await watched([[4.0, 3.0]]) == 422
    assert await watched([[0.0, 0.1]] * 65) == 422
    assert await watched([[0.0, 1.0]], session="not hex") == 422
    assert (
        await http.post("/api/replay/watched", json={"session": "a1" * 8, "ranges": [[0, 1]]})
    ).status_code == 422
    replay = (await http.get(f"/api/recordings/{rid}/replay")).json()
    assert (replay["views"], replay["viewers"]) == (2, 1)  # one admin key: one viewer
    assert replay["watch_s"] == 15.0
    assert replay["bucket_s"] == 1 and len(replay["heat"]) == 10
    assert replay["heat"] == [1, 1, 3, 4, 1, 1, 1, 1, 1, 1]
    assert replay["suggestions"] == [{"start_s": 0, "end_s": 10, "plays": 2}]
