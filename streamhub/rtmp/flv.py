"""RTMP's audio and video messages (FLV tag bodies): H.264 access units out as Annex-B, which is
what the hub's H.264 packetizer and every WebRTC receiver take, and AAC frames with their
configuration. Pure byte slicing: cheap enough to run on the event loop."""

from __future__ import annotations

from dataclasses import dataclass, field

START_CODE = b"\x00\x00\x00\x01"
CODEC_AVC = 7
SOUND_AAC = 10
FRAME_KEY = 1
FRAME_INFO = 5  # video info/command frames carry no picture
NAL_SPS, NAL_PPS, NAL_AUD = 7, 8, 9


class FlvError(ValueError):
    """A media message that cannot be read as H.264 or AAC."""


@dataclass
class AvcConfig:
    """An AVCDecoderConfigurationRecord (ISO 14496-15): NAL length size, SPS and PPS."""

    length_size: int
    sps: list[bytes] = field(default_factory=list)
    pps: list[bytes] = field(default_factory=list)

    @property
    def profile(self) -> str:
        """profile_idc, constraint flags and level_idc as SDP's profile-level-id spells them."""
        return self.sps[0][1:4].hex() if self.sps and len(self.sps[0]) >= 4 else ""


def parse_avc_config(data: bytes) -> AvcConfig:
    if len(data) < 7 or data[0] != 1:
        raise FlvError("not an AVCDecoderConfigurationRecord")
    config = AvcConfig(length_size=(data[4] & 0x03) + 1)
    pos = 5
    for target, count_mask in ((config.sps, 0x1F), (config.pps, 0xFF)):
        if pos >= len(data):
            raise FlvError("truncated AVCDecoderConfigurationRecord")
        count = data[pos] & count_mask
        pos += 1
        for _ in range(count):
            size = int.from_bytes(data[pos : pos + 2], "big")
            unit = data[pos + 2 : pos + 2 + size]
            if len(unit) != size or size == 0:
                raise FlvError("truncated parameter set")
            target.append(unit)
            pos += 2 + size
    if not config.sps or not config.pps:
        raise FlvError("no SPS or PPS in the AVC configuration")
    return config


def nal_units(data: bytes, length_size: int) -> list[bytes]:
    """The NAL units of a length-prefixed (AVCC) access unit."""
    units = []
    pos = 0
    view = memoryview(data)
    while pos + length_size <= len(data):
        size = int.from_bytes(view[pos : pos + length_size], "big")
        pos += length_size
        if size == 0 or pos + size > len(data):
            raise FlvError("NAL unit length past the end of the frame")
        units.append(bytes(view[pos : pos + size]))
        pos += size
    if pos != len(data):
        raise FlvError("trailing bytes after the last NAL unit")
    return units


@dataclass(frozen=True)
class VideoFrame:
    annexb: bytes
    keyframe: bool
    composition_ms: int


class AvcReader:
    """Video messages of one publisher → Annex-B access units. A key frame is sent with the
    SPS and PPS in front: RTMP carries them once, in the sequence header, and a WebRTC
    receiver that joins mid-stream needs them with every key frame."""

    def __init__(self) -> None:
        self.config: AvcConfig | None = None

    def read(self, payload: bytes) -> VideoFrame | None:
        """A frame to forward, or None (a sequence header, an info frame, end of sequence)."""
        if len(payload) < 5:
            raise FlvError("video message too short")
        head = payload[0]
        if head & 0x80:
            raise FlvError("enhanced RTMP video (HEVC, AV1, VP9) is not taken: send H.264")
        frame_type, codec = head >> 4, head & 0x0F
        if codec != CODEC_AVC:
            raise FlvError(f"video codec {codec} is not H.264 (7)")
        if frame_type == FRAME_INFO:
            return None
        packet_type = payload[1]
        composition = int.from_bytes(payload[2:5], "big", signed=True)
        body = payload[5:]
        if packet_type == 0:
            self.config = parse_avc_config(body)
            return None
        if packet_type != 1:
            return None  # end of sequence
        if self.config is None:
            return None  # frames before the sequence header cannot be decoded anyway
        units = [u for u in nal_units(body, self.config.length_size) if u[0] & 0x1F != NAL_AUD]
        if not units:
            return None
        keyframe = frame_type == FRAME_KEY
        if keyframe and not any(u[0] & 0x1F == NAL_SPS for u in units):
            units = self.config.sps + self.config.pps + units
        return VideoFrame(b"".join(START_CODE + u for u in units), keyframe, composition)


@dataclass(frozen=True)
class AudioMessage:
    config: bytes | None  # an AudioSpecificConfig
    frame: bytes | None  # one raw AAC frame


def read_audio(payload: bytes) -> AudioMessage:
    if len(payload) < 2:
        raise FlvError("audio message too short")
    sound_format = payload[0] >> 4
    if sound_format != SOUND_AAC:
        raise FlvError(f"audio format {sound_format} is not AAC (10)")
    if payload[1] == 0:
        return AudioMessage(config=payload[2:], frame=None)
    return AudioMessage(config=None, frame=payload[2:])
