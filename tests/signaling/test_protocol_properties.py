"""Any input either parses to a protocol model or raises MessageError: never anything else."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streamhub import protocol
from streamhub.protocol import (
    CLIENT_TYPES,
    MessageError,
    parse_client_message,
    parse_server_message,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = "type id v token sdp candidate participant text on muted enabled fps loss sdp_mid"
field_names = st.sampled_from([*FIELDS.split(), "sdp_mline_index", "codecs", "name", "lesson"])
messages = st.fixed_dictionaries(
    {"type": st.sampled_from(sorted(CLIENT_TYPES)) | st.text(max_size=12)},
    optional={"id": json_values},
).flatmap(
    lambda base: st.dictionaries(field_names, json_values, max_size=6).map(
        lambda extra: {**extra, **base}
    )
)


def _check(raw: str | bytes) -> None:
    try:
        result = parse_client_message(raw, 65536)
    except MessageError as exc:
        assert exc.code in {c.value for c in protocol.ErrorCode}
        return
    assert isinstance(result, protocol.Request)
    assert result.type in CLIENT_TYPES


@settings(max_examples=400, deadline=None)
@given(messages)
def test_structured_messages_parse_or_fail_cleanly(message: dict[str, Any]) -> None:
    _check(json.dumps(message))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200))
def test_arbitrary_bytes_parse_or_fail_cleanly(raw: bytes | str) -> None:
    _check(raw)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_server_parser_never_raises_anything_else(value: Any) -> None:
    try:
        parse_server_message(json.dumps(value))
    except MessageError:
        pass


def test_an_older_client_reads_a_newer_hubs_messages_and_the_hub_stays_strict() -> None:
    """Fields a newer hub adds (at the top and inside a participant) are left out by the
    client's reader; what it knows is still checked; a client's extra field is refused."""
    person = {
        "id": "cls-1",
        "role": "classroom",
        "name": "Class 1",
        "classroom_id": 1,
        "next_year": {"x": 1},
    }
    message = {
        "type": "participant_joined",
        "participant": person,
        "added_later": [1, 2],
    }
    parsed = parse_server_message(json.dumps(message))
    assert parsed.participant.id == "cls-1" and parsed.participant.classroom_id == 1
    bad = {**message, "participant": {**person, "classroom_id": "not a number"}}
    try:
        parse_server_message(json.dumps(bad))
    except MessageError as exc:
        assert exc.code == "invalid_message"
    else:
        raise AssertionError("a wrong known field accepted")
    try:
        parse_client_message('{"type": "chat", "text": "hi", "added_later": 1}')
    except MessageError as exc:
        assert exc.code == "invalid_message"
    else:
        raise AssertionError("the hub accepted a field it does not know")


def test_duplicate_keys_are_rejected_not_last_wins() -> None:
    raw = '{"type": "chat", "text": "hi", "type": "stage_off"}'
    try:
        parse_client_message(raw)
    except MessageError as exc:
        assert exc.code == "duplicate_key"
    else:
        raise AssertionError("duplicate key accepted")


def test_deeply_nested_json_is_a_clean_error() -> None:
    raw = '{"type": "chat", "text": ' + "[" * 5000 + "]" * 5000 + "}"
    try:
        parse_client_message(raw, 1 << 20)
    except MessageError as exc:
        assert exc.code in ("bad_json", "invalid_message")
