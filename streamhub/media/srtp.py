"""pylibsrtp's per-packet calls without their per-call checks and allocations.

``pylibsrtp.Session.protect``/``unprotect`` allocate a length pointer, check types and sizes and
go through two Python calls per packet: twice the cost of the AES-GCM work itself in the hub's
profile, on every packet it sends and every packet it receives. An ``SrtpCall`` makes the
pointer once and reuses the session's own buffer (one thread uses a session at a time, the event
loop's, and every result is copied out before the next call).

pylibsrtp internals used (pinned by tests/media/test_rtp_send.py and test_rtp_receive.py):
``Session._srtp``, ``_cdata``, ``_buffer`` and its cffi ``lib``; the address of its
``srtp_protect`` for ``streamhub/media/_rtpsend.c``, with its C signature checked first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pylibsrtp import SRTP_MAX_TRAILER_LEN
from pylibsrtp import Error as SrtpError
from pylibsrtp._binding import ffi, lib


class SrtpCall:
    """One libsrtp transform (``lib.srtp_protect``, ``lib.srtp_unprotect``, ...) bound to a
    session; the result is a copy. ``SrtpError`` when libsrtp refuses the packet (an unprotect
    that fails authentication or replays), ValueError when it does not fit the buffer."""

    __slots__ = (
        "_buffer",
        "_cdata",
        "_length",
        "_room",
        "_srtp",
        "_transform",
        "address",
        "session",
    )

    def __init__(
        self, session: Any, transform: Callable[[Any, Any, Any], int], trailer: int = 0
    ) -> None:
        self.session = session
        self._srtp = session._srtp[0]
        self._cdata = session._cdata
        self._buffer = session._buffer
        self._room = len(session._cdata) - trailer
        self._length = ffi.new("int *")
        self._transform = transform
        # The session (srtp_t) for C code that calls libsrtp itself (streamhub/media/_rtpsend.c).
        self.address = int(ffi.cast("uintptr_t", self._srtp))

    def __call__(self, packet: bytes) -> bytes:
        size = len(packet)
        if size > self._room:
            raise ValueError("packet is too long")
        self._length[0] = size
        self._buffer[0:size] = packet
        if self._transform(self._srtp, self._cdata, self._length):
            raise SrtpError("SRTP transform refused the packet")
        result: bytes = self._buffer[0 : self._length[0]]  # a copy: cffi slices to bytes
        return result


# libsrtp's srtp_protect, for the same C code: the copy inside pylibsrtp, which holds the keys.
_PROTECT = ffi.addressof(lib, "srtp_protect")
PROTECT_ADDRESS = int(ffi.cast("uintptr_t", _PROTECT))
# The C code calls it as libsrtp 2 declares it (protect in place, the length through a pointer).
# A pylibsrtp built on another libsrtp would be called wrongly: the C code is then not used.
PROTECT_IS_LIBSRTP2 = [arg.cname for arg in ffi.typeof(_PROTECT).args] == [
    "struct srtp_ctx_t_ *",
    "void *",
    "int *",
]


def protector(session: Any) -> SrtpCall:
    return SrtpCall(session, lib.srtp_protect, SRTP_MAX_TRAILER_LEN)


def unprotector(session: Any) -> SrtpCall:
    return SrtpCall(session, lib.srtp_unprotect)


def rtcp_unprotector(session: Any) -> SrtpCall:
    return SrtpCall(session, lib.srtp_unprotect_rtcp)
