"""A joined session finds its handler by the message's class: every request has one."""

from __future__ import annotations

import typing

from streamhub.protocol import CLIENT_TYPES, ClientMessage, Join
from streamhub.signaling.session import _HANDLERS


def test_every_client_request_but_join_has_a_handler() -> None:
    union = typing.get_args(ClientMessage)[0]
    classes = set(typing.get_args(union))
    assert {c.model_fields["type"].default for c in classes} == CLIENT_TYPES
    assert set(_HANDLERS) == classes - {Join}
