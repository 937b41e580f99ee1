"""Finding lessons (issue 17): subjects and grades as the county's lists (added, renamed, retired;
an unknown one refused for a lesson and in a timetable row), and the library's filters and
Chinese search, ranked, on SQLite (FTS5 trigram) and PostgreSQL (pg_trgm). One hub per backend;
recordings are catalog rows with a manifest on disk, as the recorder leaves them."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text

from streamhub.auth.roles import AccountRole
from streamhub.lesson.ports import LessonEvent
from tests.support.hub import AdminApi, HubFactory, InProcessHub

SHARED = pytest.mark.asyncio(loop_scope="module")
PROBLEM = "application/problem+json"
ZONE = ZoneInfo("Asia/Shanghai")


@dataclass
class Library:
    hub: InProcessHub
    admin: AdminApi

    async def get(self, **params: Any) -> httpx.Response:
        return await self.admin.http.get("/api/recordings", params={"limit": 200, **params})

    async def titles(self, **params: Any) -> list[str]:
        response = await self.get(**params)
        assert response.status_code == 200, response.text
        return [r["title"] for r in response.json()["items"]]

    async def recording(
        self,
        lesson_id: int,
        chapters: tuple[str, ...] = (),
        started: datetime | None = None,
    ) -> int:
        """A ready recording of the lesson, its manifest holding these chapters."""
        catalog = self.hub.services.catalog
        directory = f"rec-{secrets.token_hex(4)}"
        root = self.hub.settings.effective_recordings_dir / directory
        root.mkdir(parents=True)
        listed = [{"start_s": 0.0, "title": "Lesson"}] + [
            {"start_s": 60.0 * (i + 1), "title": t} for i, t in enumerate(chapters)
        ]
        (root / "manifest.json").write_text(json.dumps({"duration_s": 600, "chapters": listed}))
        rec = await catalog.create_recording(lesson_id, directory)
        if started is not None:
            await catalog.update_recording(rec.id, started_at=started)
        await catalog.update_recording(rec.id, state="ready", duration_s=600.0, progress=1.0)
        return int(rec.id)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def library(
    module_database_url: str | None, make_module_hub: HubFactory
) -> AsyncIterator[Library]:
    hub = await make_module_hub(
        recorder={"enabled": False},
        county_timezone="Asia/Shanghai",
        database_url=module_database_url,
    )
    admin = AdminApi(hub.url)
    yield Library(hub, admin)
    await admin.close()


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


async def lesson(admin: AdminApi, title: str, **fields: Any) -> dict[str, Any]:
    body = {
        "title": title,
        "scheduled_start": "2026-11-24T08:00:00Z",
        "scheduled_end": "2026-11-24T08:45:00Z",
        **fields,
    }
    made: dict[str, Any] = await admin.post("/api/lessons", body)
    return made


@SHARED
async def test_subjects_are_the_countys_list(library: Library) -> None:
    admin = library.admin
    http = admin.http
    math = await admin.post("/api/subjects", {"name": "数学"})
    # The same name in other case, width or spacing is the same subject.
    problem(await http.post("/api/subjects", json={"name": " 数学 "}), 409, "name_taken")
    grade = await admin.post("/api/grades", {"name": "八年级"})
    made = await lesson(admin, "勾股定理", subject="数学", grade_id=grade["id"])
    assert (made["subject"], made["subject_id"], made["grade_id"]) == (
        "数学",
        math["id"],
        grade["id"],
    )
    # Free text is no longer a subject: an unknown one is refused, by name or by id.
    problem(await http.post("/api/lessons", json={**_body("x"), "subject": "炼金术"}), 400,
            "unknown_subject")  # fmt: skip
    problem(await http.post("/api/lessons", json={**_body("x"), "subject_id": 999_999}), 400,
            "unknown_subject")  # fmt: skip
    problem(await http.post("/api/lessons", json={**_body("x"), "grade_id": 999_999}), 400,
            "unknown_grade")  # fmt: skip
    # Renamed: its lessons follow. Retired: kept by its lessons, refused for new ones.
    await http.patch(f"/api/subjects/{math['id']}", json={"name": "数学（初中）"})
    lesson_now = (await http.get(f"/api/lessons/{made['id']}")).json()
    assert lesson_now["subject"] == "数学（初中）"
    retired = (await http.patch(f"/api/subjects/{math['id']}", json={"retired": True})).json()
    assert retired["retired"] and retired["lessons"] == 1
    problem(await http.post("/api/lessons", json={**_body("y"), "subject_id": math["id"]}), 400,
            "unknown_subject")  # fmt: skip
    active = (await http.get("/api/subjects", params={"retired": "false"})).json()
    assert math["id"] not in {s["id"] for s in active}
    problem(await http.patch("/api/subjects/0", json={"name": "x"}), 422, "validation_failed")
    problem(await http.post("/api/grades", json={"name": ""}), 422, "validation_failed")


def _body(title: str) -> dict[str, Any]:
    return {
        "title": title,
        "scheduled_start": "2026-11-24T08:00:00Z",
        "scheduled_end": "2026-11-24T08:45:00Z",
    }


@SHARED
async def test_an_unknown_subject_in_a_timetable_row_is_an_error_of_that_cell(
    library: Library,
) -> None:
    admin = library.admin
    school = await admin.post("/api/schools", {"name": f"城东{secrets.token_hex(2)}"})
    await admin.post("/api/classrooms", {"name": "一班", "school_id": school["id"]})
    await admin.subject("语文")
    grade = await admin.post("/api/grades", {"name": f"七年级{school['id']}"})
    room = f"{school['name']}/一班"
    csv = (
        "课程,科目,年级,日期,开始时间,结束时间,教室\n"
        f"古诗,语文,{grade['name']},2027-09-01,08:00,08:45,{room}\n"
        f"未知,天文学,,2027-09-01,09:00,09:45,{room}\n"
        # A row with other errors too: all are listed.
        f"坏行,占星,九年级,2027-02-30,10:00,10:45,{room}\n"
    )
    response = await admin.http.post(
        "/api/timetable/import",
        params={"dry_run": "true"},
        content=csv.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    errors = {(e["row"], e["column"], e["code"]) for e in response.json()["errors"]}
    assert errors == {
        (3, "subject", "unknown_subject"),
        (4, "date", "bad_date"),
        (4, "subject", "unknown_subject"),
        (4, "grade", "unknown_grade"),
    }
    # The good row alone imports with its subject and grade.
    good = csv.splitlines()[:2]
    done = await admin.http.post(
        "/api/timetable/import",
        content="\n".join(good).encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert done.status_code == 200 and done.json()["lessons"]["create"] == 1, done.text
    listed = (await admin.http.get("/api/lessons", params={"limit": 500})).json()["items"]
    made = next(x for x in listed if x["title"] == "古诗")
    assert made["subject"] == "语文" and made["grade_id"] == grade["id"]


@SHARED
async def test_chinese_search_finds_titles_chapters_and_descriptions_ranked(
    library: Library,
) -> None:
    admin = library.admin
    tag = secrets.token_hex(2)  # the other tests' lessons never match
    a = await lesson(admin, f"二次函数的图像 {tag}")
    b = await lesson(admin, f"几何初步 {tag}")
    c = await lesson(admin, f"英语阅读 {tag}", description="顺便复习函数的概念")
    await library.recording(a["id"])
    rec_b = await library.recording(b["id"], chapters=("二次函数复习",))
    await library.recording(c["id"])

    # Two characters (under a trigram: the LIKE path) and four (the trigram index); a title
    # ranks over a chapter over a description.
    assert await library.titles(q=f"函数 {tag}") == [
        f"二次函数的图像 {tag}",
        f"几何初步 {tag}",
        f"英语阅读 {tag}",
    ]
    assert await library.titles(q=f"二次函数 {tag}") == [
        f"二次函数的图像 {tag}",
        f"几何初步 {tag}",
    ]
    assert await library.titles(q=f"函数的图像 {tag}") == [f"二次函数的图像 {tag}"]
    # The index each backend searches through: FTS5 trigram, or pg_trgm's GIN index.
    catalog = library.hub.services.catalog
    async with catalog.session() as session:
        if catalog.engine.dialect.name == "sqlite":
            assert catalog.search_fts
        else:
            found_index = await session.execute(
                text("SELECT 1 FROM pg_indexes WHERE indexname = 'ix_search_entries_folded_trgm'")
            )
            assert found_index.first() is not None
    # Why it was found: the chapter, and where it starts.
    found = (await library.get(q=f"二次函数 {tag}")).json()["items"]
    chapter = next(r for r in found if r["id"] == rec_b)["matches"]
    assert {"source": "chapter", "text": "二次函数复习", "at_s": 60.0} in chapter
    # The recorder's automatic chapters are not content.
    assert await library.titles(q=f"Lesson {tag}") == []
    # A renamed lesson is found by its new title only.
    await admin.http.patch(f"/api/lessons/{a['id']}", json={"title": f"三角函数 {tag}"})
    assert await library.titles(q=f"二次函数 {tag}") == [f"几何初步 {tag}"]
    assert await library.titles(q=f"三角 {tag}") == [f"三角函数 {tag}"]
    # Full-width letters and case fold: ＴＡＧ finds tag.
    wide = "".join(chr(ord(ch) + 0xFEE0) if ch.isalnum() else ch for ch in tag.upper())
    assert len(await library.titles(q=wide)) == 3
    # LIKE's wildcards are plain characters.
    assert await library.titles(q=f"%{tag[0]}") == []


@SHARED
async def test_filters_by_subject_grade_school_and_county_weekdays(library: Library) -> None:
    admin = library.admin
    tag = secrets.token_hex(2)
    physics = await admin.subject(f"物理{tag}")
    grade = await admin.post("/api/grades", {"name": f"高一{tag}"})
    school = await admin.post("/api/schools", {"name": f"山区{tag}"})
    room = await admin.post("/api/classrooms", {"name": "一班", "school_id": school["id"]})
    now = datetime.now(UTC).astimezone(ZONE)
    monday = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0)
    # 00:30 on this week's Monday in Shanghai is Sunday 16:30 UTC: last week in UTC's eyes.
    this_week = monday + timedelta(minutes=30)
    last_week = monday - timedelta(days=7) + timedelta(hours=9)
    long_ago = monday - timedelta(weeks=57) + timedelta(days=2, hours=9)  # a Wednesday
    one = await lesson(admin, f"力学 {tag}", subject_id=physics, grade_id=grade["id"],
                       classroom_ids=[room["id"]])  # fmt: skip
    two = await lesson(admin, f"光学 {tag}", subject_id=physics)
    three = await lesson(admin, f"热学 {tag}")
    await library.recording(one["id"], started=this_week.astimezone(UTC))
    await library.recording(two["id"], started=last_week.astimezone(UTC))
    await library.recording(three["id"], started=long_ago.astimezone(UTC))

    assert await library.titles(q=tag, subject_id=physics) == [f"力学 {tag}", f"光学 {tag}"]
    assert await library.titles(q=tag, grade_id=grade["id"]) == [f"力学 {tag}"]
    assert await library.titles(q=tag, school_id=school["id"]) == [f"力学 {tag}"]
    assert await library.titles(q=tag, weekday=1) == [f"力学 {tag}", f"光学 {tag}"]
    assert await library.titles(q=tag, weekday=[3, 7]) == [f"热学 {tag}"]
    assert await library.titles(q=tag, period="this_week") == [f"力学 {tag}"]
    assert await library.titles(q=tag, period="last_week") == [f"光学 {tag}"]
    page = (await library.get(q=tag, period="last_week")).json()
    assert page["period"]["timezone"] == "Asia/Shanghai"
    assert page["period"]["first_day"] == (monday - timedelta(days=7)).date().isoformat()
    term = await library.titles(q=tag, period="this_term")
    assert f"热学 {tag}" not in term and f"力学 {tag}" in term


@SHARED
@pytest.mark.parametrize(
    "params",
    [
        {"weekday": 8},
        {"weekday": "mon"},
        {"period": "yesterday"},
        {"subject_id": 0},
        {"grade_id": 2**31},
        {"school_id": -1},
        {"q": "a\x00b"},
        {"q": "x" * 121},
        {"date_from": "2026-01-01T00:00:00"},  # no zone
        {"sort": "popular"},
        {"sort": ""},
    ],
)
async def test_bad_library_queries_are_problems(library: Library, params: dict[str, Any]) -> None:
    problem(await library.get(**params), 422, "validation_failed")


@SHARED
async def test_dates_out_of_order_are_a_problem(library: Library) -> None:
    response = await library.get(date_from="2026-02-01T00:00:00Z", date_to="2026-01-01T00:00:00Z")
    problem(response, 400, "validation_failed")


@SHARED
async def test_a_search_is_scoped_as_the_callers_list(library: Library) -> None:
    """A school admin finds their school's lessons only, a lecturer's account its own: the
    search narrows the caller's list, never widens it."""
    admin, catalog = library.admin, library.hub.services.catalog
    tag = secrets.token_hex(2)
    mine = await catalog.create_school(f"本校{tag}")
    other = await catalog.create_school(f"外校{tag}")
    teacher = await catalog.create_account(login=f"t{tag}@x.cn", role=AccountRole.LECTURER)
    head = await catalog.create_account(
        login=f"h{tag}@x.cn", role=AccountRole.SCHOOL_ADMIN, school_id=mine.id
    )
    own = await lesson(admin, f"函数 本校 {tag}", school_id=mine.id,
                       lecturer_account_id=teacher.id)  # fmt: skip
    theirs = await lesson(admin, f"函数 外校 {tag}", school_id=other.id)
    for made in (own, theirs):
        await library.recording(made["id"])
    tokens = library.hub.services.tokens
    for account in (teacher, head):
        token = tokens.issue_session(account.id, account.session_key, 600)
        found = await admin.http.get(
            "/api/recordings",
            params={"q": f"函数 {tag}"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert found.status_code == 200, found.text
        assert [r["title"] for r in found.json()["items"]] == [f"函数 本校 {tag}"]
    assert len(await library.titles(q=f"函数 {tag}")) == 2  # the county sees both


@SHARED
@pytest.mark.parametrize(
    "q", ['"函数"', "a*b", "NEAR(abc", "' OR 1=1 --", "%_%", "\\", "AND OR NOT"]
)
async def test_query_syntax_is_just_text(library: Library, q: str) -> None:
    """FTS5's query syntax and LIKE's wildcards in a search are plain characters."""
    response = await library.get(q=q)
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 0


@SHARED
async def test_marks_questions_and_capsules_are_found_where_they_are(library: Library) -> None:
    """The lecturer's marks and questions (lesson events, written in batches as the registry
    does) and a capsule's title, knowledge point and tags find the recording, at their time."""
    catalog = library.hub.services.catalog
    tag = secrets.token_hex(2)
    a = await lesson(library.admin, f"代数 {tag}")
    b = await lesson(library.admin, f"几何 {tag}")
    started = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    rec_a = await library.recording(a["id"], started=started)
    rec_b = await library.recording(b["id"], started=started)
    await catalog.update_recording(rec_a, ended_at=started + timedelta(minutes=45))
    await catalog.add_lesson_events(
        [
            LessonEvent(a["id"], "question", started + timedelta(seconds=90), question=1,
                        data={"text": "二次函数的顶点在哪里", "question_kind": "choice"}),
            LessonEvent(a["id"], "mark", started + timedelta(seconds=300),
                        data={"label": "易错点：配方"}),
            # Before the recording began: it finds the lesson's recordings, with no time.
            LessonEvent(a["id"], "mark", started - timedelta(minutes=5),
                        data={"label": "课前提醒"}),
            LessonEvent(a["id"], "quick_reply", started, data={"reply": "顶点"}),
        ]
    )  # fmt: skip
    found = (await library.get(q=f"顶点 {tag}")).json()["items"]
    assert [r["id"] for r in found] == [rec_a]
    assert {"source": "question", "text": "二次函数的顶点在哪里", "at_s": 90.0} in found[0][
        "matches"
    ]
    assert await library.titles(q=f"配方 {tag}") == [f"代数 {tag}"]
    marks = (await library.get(q=f"易错点 {tag}")).json()["items"][0]["matches"]
    assert {"source": "mark", "text": "易错点：配方", "at_s": 300.0} in marks
    early = (await library.get(q=f"课前 {tag}")).json()["items"][0]["matches"]
    assert {"source": "mark", "text": "课前提醒", "at_s": None} in early

    capsule = await catalog.create_capsule(
        ["常见错误"],
        recording_id=rec_b,
        lesson_id=b["id"],
        title="三角形内角和",
        knowledge_point="内角和定理",
        start_s=120.0,
        end_s=240.0,
        requested_start_s=120.0,
        directory=f"capsules/capsule-{tag}",
    )
    by_title = (await library.get(q=f"内角 {tag}")).json()["items"]
    assert [r["id"] for r in by_title] == [rec_b]
    assert {"source": "capsule", "text": "三角形内角和", "at_s": 120.0} in by_title[0]["matches"]
    by_tag = (await library.get(q=f"常见错误 {tag}")).json()["items"]
    assert {"source": "capsule_topic", "text": "常见错误", "at_s": 120.0} in by_tag[0]["matches"]
    # Deleted, it finds nothing more.
    await catalog.delete_capsule(capsule.id)
    assert await library.titles(q=f"内角 {tag}") == []
    assert await library.titles(q=f"常见错误 {tag}") == []


@SHARED
async def test_a_capsules_subject_and_grade_are_the_countys(library: Library) -> None:
    """A capsule is refused a subject or grade the county lacks or has retired (checked before
    anything is cut); a capsule's names follow a rename; an old free-text one stays readable."""
    admin, http = library.admin, library.admin.http
    catalog = library.hub.services.catalog
    tag = secrets.token_hex(2)
    subject = await admin.subject(f"化学{tag}")
    grade = (await admin.post("/api/grades", {"name": f"九年级{tag}"}))["id"]
    made = await lesson(admin, f"酸碱 {tag}", subject_id=subject, grade_id=grade)
    rec = await library.recording(made["id"])
    cut = {"recording_id": rec, "start_s": 1.0, "end_s": 5.0, "title": "中和反应"}
    for bad, code in (
        ({"subject": "炼金术"}, "unknown_subject"),
        ({"subject_id": 999_999}, "unknown_subject"),
        ({"grade": "十三年级"}, "unknown_grade"),
        ({"grade_id": 999_999}, "unknown_grade"),
    ):
        problem(await http.post("/api/capsules", json={**cut, **bad}), 400, code)
    retired = await admin.post("/api/grades", {"name": f"已停用{tag}"})
    await http.patch(f"/api/grades/{retired['id']}", json={"retired": True})
    problem(await http.post("/api/capsules", json={**cut, "grade_id": retired["id"]}), 400,
            "unknown_grade")  # fmt: skip
    problem(await http.post("/api/capsules", json={**cut, "subject_id": "x"}), 422,
            "validation_failed")  # fmt: skip

    picked = await catalog.create_capsule(
        [], lesson_id=made["id"], recording_id=rec, title="中和", subject=f"化学{tag}",
        subject_id=subject, grade=f"九年级{tag}", grade_id=grade, start_s=0.0, end_s=4.0,
        requested_start_s=0.0, directory=f"capsules/capsule-a{tag}",
    )  # fmt: skip
    old = await catalog.create_capsule(
        [], lesson_id=made["id"], title="旧胶囊", subject=f"自由文本{tag}", start_s=0.0,
        end_s=4.0, requested_start_s=0.0, directory=f"capsules/capsule-b{tag}",
    )  # fmt: skip
    await http.patch(f"/api/subjects/{subject}", json={"name": f"化学（初中）{tag}"})
    await http.patch(f"/api/grades/{grade}", json={"name": f"初三{tag}"})
    now = (await http.get(f"/api/capsules/{picked.id}")).json()
    assert (now["subject"], now["subject_id"], now["grade"], now["grade_id"]) == (
        f"化学（初中）{tag}", subject, f"初三{tag}", grade
    )  # fmt: skip
    kept = (await http.get(f"/api/capsules/{old.id}")).json()
    assert (kept["subject"], kept["subject_id"]) == (f"自由文本{tag}", None)
    # The shelf filters by name (its facets) and by id.
    listed = (await http.get("/api/capsules", params={"subject_id": subject})).json()["items"]
    assert [c["id"] for c in listed] == [picked.id]
    by_name = (await http.get("/api/capsules", params={"subject": f"自由文本{tag}"})).json()
    assert [c["id"] for c in by_name["items"]] == [old.id]
    facets = (await http.get("/api/capsules/facets")).json()
    assert {f"化学（初中）{tag}", f"自由文本{tag}"} <= set(facets["subjects"])
    # The shelf's title search: LIKE's wildcards are plain characters.
    found = (await http.get("/api/capsules", params={"q": "中和"})).json()["items"]
    assert picked.id in [c["id"] for c in found]
    assert (await http.get("/api/capsules", params={"q": "%"})).json()["items"] == []


@SHARED
async def test_the_library_sorts_by_most_rewatched(library: Library) -> None:
    """``sort=rewatched``: most seconds played first (a stretch played again counts again),
    then most replays, then newest; never-watched recordings last. Cards carry the figures."""
    tag = secrets.token_hex(2)
    http = library.admin.http
    base = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    recs = {}
    for i, name in enumerate(("甲", "乙", "丙", "丁")):
        made = await lesson(library.admin, f"{name} {tag}")
        recs[name] = await library.recording(made["id"], started=base + timedelta(days=i))

    async def watched(name: str, session: str, ranges: list[list[float]]) -> None:
        body = {"recording_id": recs[name], "session": session * 16, "ranges": ranges}
        response = await http.post("/api/replay/watched", json=body)
        assert response.status_code == 204, response.text

    await watched("甲", "a", [[0.0, 30.0]])
    await watched("乙", "b", [[0.0, 20.0], [10.0, 30.0]])  # 10-20 re-watched: 40 s
    await watched("丙", "c", [[0.0, 15.0]])
    await watched("丙", "d", [[0.0, 15.0]])  # two replays, 30 s: ahead of 甲's one
    newest = await library.titles(q=tag)
    assert newest == [f"丁 {tag}", f"丙 {tag}", f"乙 {tag}", f"甲 {tag}"]
    assert await library.titles(q=tag, sort="rewatched") == [
        f"乙 {tag}", f"丙 {tag}", f"甲 {tag}", f"丁 {tag}"
    ]  # fmt: skip
    items = {r["title"]: r for r in (await library.get(q=tag, sort="rewatched")).json()["items"]}
    assert (items[f"乙 {tag}"]["views"], items[f"乙 {tag}"]["watch_s"]) == (1, 40.0)
    assert (items[f"丙 {tag}"]["views"], items[f"丙 {tag}"]["watch_s"]) == (2, 30.0)
    assert (items[f"丁 {tag}"]["views"], items[f"丁 {tag}"]["watch_s"]) == (0, 0.0)
    # Paging keeps the order.
    page = (await library.get(q=tag, sort="rewatched", limit=2, offset=2)).json()["items"]
    assert [r["title"] for r in page] == [f"甲 {tag}", f"丁 {tag}"]
