"""CSV for spreadsheets: a BOM, and text that a spreadsheet would run as a formula kept text."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from streamhub.csv_export import csv_text


def test_names_that_look_like_formulas_stay_text_and_numbers_stay_numbers() -> None:
    at = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    text = csv_text(
        ["classroom", "minutes", "at", "note"],
        [
            ['=HYPERLINK("http://evil.example","Class 1")', 40, at, None],
            ["+1 班", -5, at, "@SUM(A1:A9)"],
            ["三年级二班", 12.5, None, "-5"],
        ],
    )
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert rows[0] == ["classroom", "minutes", "at", "note"]
    assert rows[1] == ['\'=HYPERLINK("http://evil.example","Class 1")', "40", at.isoformat(), ""]
    assert rows[2] == ["'+1 班", "-5", at.isoformat(), "'@SUM(A1:A9)"]
    assert rows[3] == ["三年级二班", "12.5", "", "-5"]  # a number written as text stays a number
