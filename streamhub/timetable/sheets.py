"""Spreadsheet files in and out: an uploaded CSV or XLSX becomes numbered rows of cells, within
limits that keep a hostile file from costing the hub memory or time; rows become a CSV (UTF-8
with a BOM, so Excel reads Chinese right) or an XLSX workbook.

The kind is told from the bytes, not the name or the Content-Type: browsers send ``.csv`` as
``application/vnd.ms-excel`` on Windows, and a renamed file is common."""

from __future__ import annotations

import csv
import io
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException

from streamhub.errors import ErrorCode, StreamhubError

# An upload larger than this is refused before it is read (the body guard's cap for the route).
MAX_FILE_BYTES = 4 * 1024 * 1024
# Data rows one import takes (a county's term is a few thousand lessons, most as series).
MAX_ROWS = 5000
# Columns read; cells to the right of these are not looked at.
MAX_COLUMNS = 30
# An XLSX is a zip: what its parts may expand to, in all and per compressed byte. A real
# workbook of MAX_ROWS rows is a few MB of XML, compressed about tenfold.
MAX_XLSX_EXPANDED = 64 * 1024 * 1024
MAX_XLSX_RATIO = 200
MAX_XLSX_PARTS = 200

Kind = Literal["csv", "xlsx"]
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv; charset=utf-8"


class UnreadableTimetable(StreamhubError):
    """The file is not a timetable spreadsheet that can be read."""

    code = ErrorCode.TIMETABLE_UNREADABLE
    status = 400


class UnsupportedTimetable(StreamhubError):
    """Send the timetable as a CSV or an XLSX file."""

    code = ErrorCode.UNSUPPORTED_MEDIA_TYPE
    status = 415


class TimetableTooLarge(StreamhubError):
    """The timetable is larger than one import takes."""

    code = ErrorCode.TIMETABLE_TOO_LARGE
    status = 413


@dataclass(frozen=True)
class Sheet:
    kind: Kind
    # (row number as the spreadsheet shows it, the row's values); blank rows left out.
    rows: list[tuple[int, list[object]]]


def cell_ref(column_index: int, row: int) -> str:
    return f"{get_column_letter(column_index + 1)}{row}"


def read_sheet(data: bytes) -> Sheet:
    if not data.strip():
        raise UnreadableTimetable("the file is empty")
    if data.startswith(b"PK\x03\x04"):
        return Sheet("xlsx", _xlsx_rows(data))
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise UnsupportedTimetable(
            "an old Excel .xls workbook: save it as .xlsx (Excel Workbook) or CSV UTF-8"
        )
    return Sheet("csv", _csv_rows(_decode(data)))


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", errors="replace")  # Excel's "Unicode Text" (tabs)
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            # Chinese Excel and WPS save "CSV (comma delimited)" in the system's GB18030/GBK.
            try:
                text = data.decode("gb18030")
            except UnicodeDecodeError:
                raise UnsupportedTimetable(
                    "not a CSV or XLSX file (CSV is read as UTF-8, with or without a BOM, "
                    "or GB18030)"
                ) from None
    if "\x00" in text:
        raise UnsupportedTimetable("not a CSV or XLSX file: it holds binary data")
    return text


def _csv_rows(text: str) -> list[tuple[int, list[object]]]:
    first_line = text.split("\n", 1)[0]
    # The header line holds no lists, so its most frequent separator is the file's.
    delimiter = max(",\t;", key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return _limited((number, list(row[:MAX_COLUMNS])) for number, row in enumerate(reader, 1))
    except csv.Error as exc:
        raise UnreadableTimetable(f"not a readable CSV file: {exc}") from None


def _limited(rows: Iterable[tuple[int, list[object]]]) -> list[tuple[int, list[object]]]:
    """The non-blank rows, refused past the header and MAX_ROWS data rows."""
    kept: list[tuple[int, list[object]]] = []
    for number, values in rows:
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
            continue
        if len(kept) > MAX_ROWS:
            raise TimetableTooLarge(
                f"more than {MAX_ROWS} rows (row {number} is one too many): split the file"
            )
        kept.append((number, values))
    return kept


def _xlsx_rows(data: bytes) -> list[tuple[int, list[object]]]:
    _check_zip(data)
    try:
        # openpyxl warns about styles, data validation and other parts a timetable does not
        # need; they are not the uploader's problem.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise UnreadableTimetable(f"not a readable XLSX workbook: {exc}") from None
    try:
        if not book.worksheets:
            raise UnreadableTimetable("the workbook has no worksheet")
        sheet = book.worksheets[0]  # the first sheet, whichever was open when saved
        return _limited(_numbered(sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True)))
    except (ValueError, KeyError, TypeError, zipfile.BadZipFile, OSError) as exc:
        raise UnreadableTimetable(f"not a readable XLSX workbook: {exc}") from None
    finally:
        book.close()


def _numbered(rows: Iterable[tuple[object, ...]]) -> Iterator[tuple[int, list[object]]]:
    for number, row in enumerate(rows, 1):
        yield number, list(row)


def _check_zip(data: bytes) -> None:
    """Refuse a zip whose parts would expand past the limits, before anything inflates them
    (zipfile stops each part at its declared size, so the declared sizes are the bound)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            parts = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise UnreadableTimetable(f"not a readable XLSX workbook: {exc}") from None
    if len(parts) > MAX_XLSX_PARTS:
        raise TimetableTooLarge(f"the workbook has more than {MAX_XLSX_PARTS} parts")
    expanded = sum(p.file_size for p in parts)
    if expanded > MAX_XLSX_EXPANDED:
        raise TimetableTooLarge(
            f"the workbook expands to more than {MAX_XLSX_EXPANDED // (1024 * 1024)} MB"
        )
    for part in parts:
        if part.file_size > 1024 * 1024 and part.file_size > MAX_XLSX_RATIO * part.compress_size:
            raise UnreadableTimetable(
                f"the workbook's part {part.filename} is compressed {MAX_XLSX_RATIO} to 1 or "
                "more: not a spreadsheet anyone typed"
            )


def write_csv(rows: Sequence[Sequence[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(rows)
    return ("\ufeff" + buffer.getvalue()).encode()


def write_xlsx(rows: Sequence[Sequence[str]], title: str = "Timetable") -> bytes:
    """Every cell as text: dates and times come back exactly as written, whatever Excel's
    locale makes of date cells."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title)
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
