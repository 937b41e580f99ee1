# Types of the compiled send path (streamhub/media/_rtpsend.c).

def send_frame(
    protect: int,
    session: int,
    fd: int,
    address: bytes,
    first_byte: int,
    payload_type: int,
    seq: int,
    timestamp: int,
    ssrc: int,
    extensions: bytes,
    picture_id: int,
    parts: list[bytes],
    /,
) -> tuple[int, int, list[bytes] | None]: ...
def sockaddr(host: str, port: int, /) -> bytes: ...
