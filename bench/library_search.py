"""The library's search on a county's years of recordings: N lessons with Chinese titles and a
description, each with a ready recording, indexed by `rebuild_search_index`; then the time of a
2-character query (the LIKE/ILIKE path), a 4-character one (FTS5 trigram / pg_trgm) and a
filtered one, each the median of several runs.

    python bench/library_search.py --lessons 20000 [--database-url postgresql+asyncpg://…]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from streamhub.catalog.models import Lesson, Recording  # noqa: E402
from streamhub.catalog.store import Catalog  # noqa: E402
from streamhub.config import load_settings  # noqa: E402

TOPICS = ("二次函数的图像", "一元一次方程", "勾股定理", "古诗两首", "光的折射", "细胞的结构",
          "英语阅读", "分数的加减", "三角形的内角和", "化学反应速率")  # fmt: skip
QUERIES = {"2 characters": "函数", "4 characters": "二次函数", "2 terms": "函数 图像"}


async def main(lessons: int, database_url: str | None, runs: int, analyze: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(None, data_dir=Path(tmp), database_url=database_url)
        catalog = await Catalog.open(settings)
        rng = random.Random(17)
        start = datetime(2024, 9, 1, tzinfo=UTC)
        rows = [
            {
                "title": f"{rng.choice(TOPICS)} 第{i}课",
                "subject": "",
                "lecturer_name": "",
                "description": f"复习{rng.choice(TOPICS)}",
                "scheduled_start": start + timedelta(hours=i),
                "scheduled_end": start + timedelta(hours=i, minutes=45),
                "status": "ended",
                "join_code": f"B{i:09d}",
                "row_key": "k",
                "open_to_all": False,
            }
            for i in range(lessons)
        ]
        async with catalog.session() as session, session.begin():
            ids = (await session.scalars(insert(Lesson).returning(Lesson.id), rows)).all()
            await session.execute(
                insert(Recording),
                [
                    {
                        "lesson_id": lesson_id,
                        "state": "ready",
                        "directory": f"r{lesson_id}",
                        "started_at": start + timedelta(hours=n),
                        "row_key": "k",
                    }
                    for n, lesson_id in enumerate(ids)
                ],
            )
        began = time.perf_counter()
        await catalog.rebuild_search_index()
        print(f"{catalog.engine.dialect.name}: {lessons} lessons indexed in "
              f"{time.perf_counter() - began:.1f} s")  # fmt: skip
        if analyze:
            # What autovacuum (PostgreSQL) or `PRAGMA optimize` (SQLite) does in time.
            async with catalog.engine.begin() as connection:
                await connection.exec_driver_sql("ANALYZE")
        for name, query in QUERIES.items():
            times = []
            for _ in range(runs):
                began = time.perf_counter()
                page = await catalog.list_recordings(24, 0, q=query)
                times.append(time.perf_counter() - began)
            print(f"  {name} ({query}): {page.total} found, median "
                  f"{statistics.median(times) * 1000:.0f} ms")  # fmt: skip
        await catalog.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lessons", type=int, default=20000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--analyze", action="store_true", help="ANALYZE before the queries")
    args = parser.parse_args()
    asyncio.run(main(args.lessons, args.database_url, args.runs, args.analyze))
