"""Every error and close code is an ``ErrorCode``; the close codes and docs/protocol.md agree."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from streamhub.protocol import (
    CLOSE_CODES,
    PROTOCOL_VERSION,
    Error,
    ErrorCode,
    Join,
    MessageError,
    parse_client_message,
    parse_server_message,
)

ROOT = Path(__file__).resolve().parents[2]
# A row of the code table: | `code` | close | meaning |
ROW = re.compile(r"^\|\s*`([a-z_]+)`\s*\|\s*(\d{4})\s*\|")


def documented_codes() -> dict[str, int]:
    text = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    section = text.split("\n## Error and close codes\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, int] = {}
    for line in section.splitlines():
        if match := ROW.match(line):
            assert match[1] not in rows, f"{match[1]} is in the table twice"
            rows[match[1]] = int(match[2])
    return rows


def test_the_close_code_map_covers_every_code() -> None:
    assert set(CLOSE_CODES) == set(ErrorCode)
    assert all(isinstance(code, ErrorCode) for code in CLOSE_CODES)
    assert all(code == 1000 or code == 1001 or code == 1011 or 4000 <= code < 5000
               for code in CLOSE_CODES.values())  # fmt: skip


def test_the_protocol_doc_lists_every_code_with_its_close_code() -> None:
    documented = documented_codes()
    assert documented.keys() == {code.value for code in ErrorCode}, (
        "docs/protocol.md and ErrorCode list different codes: "
        f"{sorted(documented.keys() ^ {c.value for c in ErrorCode})}"
    )
    wrong = {
        code: close for code, close in documented.items() if CLOSE_CODES[ErrorCode(code)] != close
    }
    assert not wrong, f"docs/protocol.md gives other close codes than CLOSE_CODES: {wrong}"


def _literal_codes(path: Path) -> list[str]:
    """Where a plain string (or an f-string) stands for a code: ``code="..."``, a class's
    ``code = "..."``, or the code argument of ``close``, ``shutdown``, ``send_error``,
    ``ClientError`` or ``send_problem``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        value: ast.expr | None = None
        if isinstance(node, ast.keyword) and node.arg == "code":
            value = node.value
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "code" for t in node.targets
        ):
            value = node.value
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("close", "shutdown", "send_error", "ClientError", "send_problem"):
                value = node.args[0] if name != "send_problem" else node.args[2]
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            found.append(f"{path.relative_to(ROOT)}:{value.lineno}: {value.value!r}")
        elif isinstance(value, ast.JoinedStr):
            found.append(f"{path.relative_to(ROOT)}:{value.lineno}: an f-string")
    return found


def test_no_code_is_a_plain_string() -> None:
    sources = [
        path
        for package in ("streamhub", "recorder", "classroom_agent")
        for path in sorted((ROOT / package).rglob("*.py"))
    ]
    literals = [hit for path in sources for hit in _literal_codes(path)]
    assert not literals, "use an ErrorCode member:\n" + "\n".join(literals)


@pytest.mark.parametrize("version", [0, 2, 99])
def test_a_join_of_another_version_is_unsupported(version: int) -> None:
    raw = f'{{"type": "join", "id": "j", "v": {version}, "token": "abcdefghijkl"}}'
    with pytest.raises(MessageError) as refused:
        parse_client_message(raw)
    assert refused.value.code is ErrorCode.UNSUPPORTED_VERSION
    assert refused.value.request_id == "j"


def test_a_join_of_this_version_or_a_malformed_one_is_not_a_version_question() -> None:
    raw = f'{{"type": "join", "v": {PROTOCOL_VERSION}, "token": "abcdefghijkl"}}'
    assert isinstance(parse_client_message(raw), Join)
    with pytest.raises(MessageError) as refused:
        parse_client_message('{"type": "join", "v": "2", "token": "abcdefghijkl"}')
    assert refused.value.code is ErrorCode.INVALID_MESSAGE


def test_a_client_reads_an_error_code_of_a_newer_hub_as_unknown() -> None:
    raw = '{"type": "error", "id": "r1", "code": "brand_new_code", "message": "later"}'
    error = parse_server_message(raw)
    assert isinstance(error, Error) and error.code is ErrorCode.UNKNOWN
    assert (error.id, error.message) == ("r1", "later")
    known = parse_server_message('{"type": "error", "code": "lesson_full", "message": "x"}')
    assert known.code is ErrorCode.LESSON_FULL
