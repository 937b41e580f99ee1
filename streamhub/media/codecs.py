"""Key frame detection on encoded VP8 and H.264 frames (and on the first packet of one)."""

from __future__ import annotations

# RFC 6386 9.1: a VP8 key frame's 3-byte tag is followed by this start code.
VP8_KEY_START = b"\x9d\x01\x2a"
# NAL unit types of an IDR slice and a sequence parameter set (RFC 6184 1.3).
H264_KEY_NALS = (5, 7)


def vp8_is_keyframe(data: bytes) -> bool:
    # RFC 6386 9.1: bit 0 of the frame tag is 0 for a key frame.
    return len(data) >= 3 and (data[0] & 0x01) == 0


def h264_is_keyframe(data: bytes) -> bool:
    """True when the Annex-B access unit holds an IDR slice or a sequence parameter set."""
    i, n = 0, len(data)
    while i + 3 < n:
        three = data[i + 2] == 1
        four = data[i + 2] == 0 and i + 4 < n and data[i + 3] == 1
        if data[i] == 0 and data[i + 1] == 0 and (three or four):
            start = i + 3 if three else i + 4
            if start < n and (data[start] & 0x1F) in H264_KEY_NALS:
                return True
            i = start
        else:
            i += 1
    return False


def starts_keyframe(data: bytes) -> bool:
    """True when depayloaded ``data`` is the first packet of a key frame, of either codec.

    The receive buffers do not know the negotiated codec; the two are told apart by H.264's
    Annex-B start code, which aiortc's depayloader puts before each NAL unit it begins.
    """
    if data[:3] == b"\x00\x00\x01" or data[:4] == b"\x00\x00\x00\x01":
        return h264_is_keyframe(data)
    return vp8_is_keyframe(data) and data[3:6] == VP8_KEY_START


ANNEX_B = (b"\x00\x00\x01", b"\x00\x00\x00\x01")
# RFC 7741 4.2: the first octet of a VP8 payload descriptor is |X|R|N|S|R|PID (3 bits)|.
VP8_START_BIT = 0x10
VP8_PID_MASK = 0x07


def begins_frame(payload: bytes, data: bytes) -> bool:
    """True when an RTP packet (``payload`` as received, ``data`` as depayloaded) may be the
    first packet of a frame; False for a packet that continues one.

    H.264: aiortc's depayloader puts an Annex-B start code before each NAL unit a packet begins;
    a fragment that continues a NAL unit has none. VP8: the payload descriptor's S bit with
    partition index 0 marks a frame's first packet (an H.264 FU-A continuation's first octet
    is type 28, 0b11100, whose low three bits are never 0, so it never passes for one).
    Padding-only packets (no payload) make no frame and may sit anywhere between frames."""
    if not payload or data.startswith(ANNEX_B):
        return True
    return bool(payload[0] & VP8_START_BIT) and payload[0] & VP8_PID_MASK == 0


def vp8_whole(data: bytes) -> bool:
    """False when a VP8 frame is shorter than its own header says (RFC 6386 9.1): the frame
    tag declares the first partition's size, which must fit after the 3-byte tag (and, on a
    key frame, the 7 bytes of start code and picture size). Annex-B (H.264) data passes."""
    if data.startswith(ANNEX_B):
        return True
    if len(data) < 3:
        return False
    tag = int.from_bytes(data[:3], "little")
    header = 3 if tag & 0x01 else 10
    return len(data) >= header + (tag >> 5)


def vp8_payload(payload: bytes) -> bytes:
    """The VP8 data of an RTP payload: what follows its payload descriptor (RFC 7741 4.2), as
    aiortc's ``vp8_depayload`` returns it, without building a descriptor object for each
    packet; ValueError when the descriptor is cut short."""
    size = len(payload)
    if not size:
        raise ValueError("VPX descriptor is too short")
    if not payload[0] & 0x80:  # no extended control bits
        return payload[1:]
    if size < 2:
        raise ValueError("VPX descriptor has truncated extended bits")
    bits = payload[1]
    pos = 2
    if bits & 0x80:  # I: a picture ID, 7 or 15 bits
        if size < pos + 1 or (payload[pos] & 0x80 and size < pos + 2):
            raise ValueError("VPX descriptor has truncated PictureID")
        pos += 2 if payload[pos] & 0x80 else 1
    if bits & 0x40:  # L: TL0PICIDX
        pos += 1
    if bits & 0x30:  # T or K: one octet for both
        pos += 1
    if size < pos:
        raise ValueError("VPX descriptor has truncated TL0PICIDX or T/K")
    return payload[pos:]
