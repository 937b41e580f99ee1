"""`classroom-agent doctor`: can this classroom PC run a lesson, and if not, why?

Checks, in order, with one plain verdict per line (English or 简体中文): the hub's name (DNS),
HTTPS (certificate trusted? clock skew?), the device credential, the WebSocket upgrade through
any proxy, UDP to the hub's media ports (a real ICE probe against the hub), a TURN allocation
over each transport the hub hands out (UDP, TCP, TLS), camera, microphone, loudspeaker and
screen, and the bandwidth down and up (a short probe against the hub). A last line says what it
means for a lesson ("UDP blocked, TURN over TLS works"). The result is sent to the hub, where
admins read it on the classroom's page.

Statuses: ``ok``; ``warn`` (a way that is blocked while another works, a slow link); ``fail``
(no lesson possible, or a setting that is wrong: a refused TURN secret, an untrusted
certificate); ``skip``. The exit code is 1 when any line failed, else 0.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import math
import os
import ssl
import statistics
import sys
import time
import unicodedata
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from classroom_agent.config import AgentConfig
from classroom_agent.media_sources import SourceSpec
from streamhub.client.session import signaling_url
from streamhub.media.turn_probe import TurnProbe, probe_turn

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
HTTP_TIMEOUT_S = 8.0
ICE_TIMEOUT_S = 6.0  # a working path connects in a second or two, even through TURN
# What one lesson needs: the lecturer's camera and voice down, the classroom's camera up.
DOWN_GOOD_MBPS, DOWN_MIN_MBPS = 2.0, 0.5
UP_GOOD_MBPS, UP_MIN_MBPS = 1.0, 0.3

LABELS = {
    "en": {
        OK: "OK",
        WARN: "WARN",
        FAIL: "FAIL",
        SKIP: "SKIP",
        "dns": "Hub name",
        "https": "HTTPS",
        "clock": "Clock",
        "credential": "Credential",
        "websocket": "WebSocket",
        "udp": "UDP media",
        "turn_udp": "TURN/UDP",
        "turn_tcp": "TURN/TCP",
        "turn_tls": "TURN/TLS",
        "camera": "Camera",
        "microphone": "Microphone",
        "loudspeaker": "Loudspeaker",
        "screen": "Screen",
        "download": "Download",
        "upload": "Upload",
        "verdict": "Verdict",
        "report": "Report",
    },
    "zh-CN": {
        OK: "正常",
        WARN: "注意",
        FAIL: "失败",
        SKIP: "跳过",
        "dns": "服务器名称",
        "https": "HTTPS",
        "clock": "时钟",
        "credential": "设备凭证",
        "websocket": "WebSocket",
        "udp": "UDP 媒体",
        "turn_udp": "TURN/UDP",
        "turn_tcp": "TURN/TCP",
        "turn_tls": "TURN/TLS",
        "camera": "摄像头",
        "microphone": "麦克风",
        "loudspeaker": "扬声器",
        "screen": "屏幕",
        "download": "下行带宽",
        "upload": "上行带宽",
        "verdict": "结论",
        "report": "上报",
    },
}

MESSAGES = {
    "en": {
        "dns_literal": "{host} is an address: no name to look up",
        "dns_ok": "{host} is {addresses}",
        "dns_fail": "cannot resolve {host}: {error}",
        "https_ok": "certificate trusted ({issuer}), answered in {ms:.0f} ms",
        "http_ok": "answered in {ms:.0f} ms (plain HTTP on loopback)",
        "http_plain": "plain HTTP, not encrypted: enroll with the hub's https:// address",
        "https_untrusted": (
            "certificate not trusted ({reason}): run `classroom-agent enroll --hub {hub} "
            "--credential ... --ca-file ca.crt` with the hub's CA, or add it to the system store"
        ),
        "https_tls": "TLS failed: {reason}",
        "https_connect": "cannot connect to {where}: {reason}",
        "https_timeout": "no answer from {where} within {seconds:.0f} s",
        "https_status": "the hub (or a proxy) answered HTTP {status}",
        "clock_ok": "within {skew:.0f} s of the hub",
        "clock_warn": "{skew:.0f} s off the hub's clock: set the time (NTP)",
        "clock_fail": (
            "{skew:.0f} s off the hub's clock: time-limited tokens and TURN credentials, and "
            "certificates, fail; set the time (NTP)"
        ),
        "credential_ok": "accepted by the hub",
        "credential_fail": "refused ({detail}): ask the school's admin for a new one, enroll again",
        "not_checked": "not checked: the hub could not be reached",
        "ws_ok": "upgrade works, the hub answers",
        "ws_refused": (
            "the upgrade was refused (HTTP {status}): a proxy between here and the hub does not "
            "pass WebSockets"
        ),
        "ws_fail": "cannot open the WebSocket: {reason}",
        "udp_ok": "UDP to the hub's media ports works (round trip {rtt:.1f} ms)",
        "udp_blocked": "UDP blocked: no answer from the hub's media ports {where}",
        "udp_error": "the hub refused the probe: {reason}",
        "turn_ok": "{name} works: relay {relay} (allocated in {ms:.0f} ms)",
        "turn_fail": "{name} at {server}: {reason}",
        "turn_none": "the hub hands out no TURN server (ice.turn_servers)",
        "source_test": "{what} (test source, no device used)",
        "camera_ok": "camera {index}: {width}x{height}",
        "camera_fail": "no picture from camera {index}",
        "mic_ok": "microphone records (level {level:.0f} dBFS)",
        "mic_fail": "the microphone cannot be opened: {reason}",
        "speaker_ok": "default output: {name}",
        "speaker_fail": "no audio output device: {reason}",
        "screen_ok": "display {name}",
        "screen_fail": "no display ({reason}): the agent cannot show the lecturer",
        "off": "turned off by option",
        "bandwidth": "{mbps:.1f} Mbit/s",
        "bandwidth_low": "{mbps:.1f} Mbit/s: video will stall; expect audio only",
        "bandwidth_fail": "{mbps:.2f} Mbit/s: too little for a lesson",
        "bandwidth_error": "the probe failed: {reason}",
        "verdict_direct": "UDP works: media goes straight to the hub",
        "verdict_turn": "UDP blocked, {name} works: the lesson goes through the TURN relay",
        "verdict_none": (
            "no way for media: open UDP {ports} to the hub, or TCP 443 to the TURN server"
        ),
        "verdict_hub": "the hub cannot be reached: see the lines above",
        "verdict_problems": "; other problems above must be fixed first",
        "report_ok": "sent to the hub: admins see it on the classroom's page",
        "report_fail": "could not be sent to the hub: {reason}",
        "summary_ok": "ready for lessons",
    },
    "zh-CN": {
        "dns_literal": "{host} 是 IP 地址，无需域名解析",
        "dns_ok": "{host} 解析为 {addresses}",
        "dns_fail": "无法解析 {host}：{error}",
        "https_ok": "证书可信（{issuer}），{ms:.0f} 毫秒内应答",
        "http_ok": "{ms:.0f} 毫秒内应答（本机明文 HTTP）",
        "http_plain": "明文 HTTP，未加密：请用服务器的 https:// 地址重新登记",
        "https_untrusted": (
            "证书不受信任（{reason}）：请运行 `classroom-agent enroll --hub {hub} "
            "--credential ... --ca-file ca.crt` 并提供服务器的 CA，或将其加入系统证书库"
        ),
        "https_tls": "TLS 失败：{reason}",
        "https_connect": "无法连接 {where}：{reason}",
        "https_timeout": "{where} 在 {seconds:.0f} 秒内无应答",
        "https_status": "服务器（或代理）返回 HTTP {status}",
        "clock_ok": "与服务器相差 {skew:.0f} 秒以内",
        "clock_warn": "与服务器时钟相差 {skew:.0f} 秒：请校准时间（NTP）",
        "clock_fail": (
            "与服务器时钟相差 {skew:.0f} 秒：有时限的令牌、TURN 凭证和证书都会失效；"
            "请校准时间（NTP）"
        ),
        "credential_ok": "服务器已接受",
        "credential_fail": "被拒绝（{detail}）：请向学校管理员申请新凭证并重新登记",
        "not_checked": "未检查：无法连接服务器",
        "ws_ok": "升级成功，服务器有应答",
        "ws_refused": "升级被拒绝（HTTP {status}）：本机与服务器之间的代理不转发 WebSocket",
        "ws_fail": "无法建立 WebSocket：{reason}",
        "udp_ok": "到服务器媒体端口的 UDP 畅通（往返 {rtt:.1f} 毫秒）",
        "udp_blocked": "UDP 被阻断：服务器媒体端口 {where} 无应答",
        "udp_error": "服务器拒绝了探测：{reason}",
        "turn_ok": "{name} 可用：中继地址 {relay}（{ms:.0f} 毫秒内分配）",
        "turn_fail": "{name}（{server}）：{reason}",
        "turn_none": "服务器未配置 TURN（ice.turn_servers）",
        "source_test": "{what}（测试信号，未使用设备）",
        "camera_ok": "摄像头 {index}：{width}x{height}",
        "camera_fail": "摄像头 {index} 没有画面",
        "mic_ok": "麦克风可以录音（电平 {level:.0f} dBFS）",
        "mic_fail": "无法打开麦克风：{reason}",
        "speaker_ok": "默认输出：{name}",
        "speaker_fail": "没有音频输出设备：{reason}",
        "screen_ok": "显示器 {name}",
        "screen_fail": "没有显示器（{reason}）：无法显示主讲教师画面",
        "off": "已按选项关闭",
        "bandwidth": "{mbps:.1f} Mbit/s",
        "bandwidth_low": "{mbps:.1f} Mbit/s：视频会卡顿，可能只有声音",
        "bandwidth_fail": "{mbps:.2f} Mbit/s：不足以上课",
        "bandwidth_error": "测速失败：{reason}",
        "verdict_direct": "UDP 畅通：媒体直达服务器",
        "verdict_turn": "UDP 被阻断，{name} 可用：课程将经 TURN 中继进行",
        "verdict_none": "媒体无法传输：请放行到服务器的 UDP {ports}，或到 TURN 服务器的 TCP 443",
        "verdict_hub": "无法连接服务器：见以上各行",
        "verdict_problems": "；请先解决以上其他问题",
        "report_ok": "已上报服务器：管理员可在该教室页面查看",
        "report_fail": "无法上报服务器：{reason}",
        "summary_ok": "可以上课",
    },
}

TURN_NAMES = {
    "en": {"udp": "TURN over UDP", "tcp": "TURN over TCP", "tls": "TURN over TLS"},
    "zh-CN": {"udp": "UDP 上的 TURN", "tcp": "TCP 上的 TURN", "tls": "TLS 上的 TURN"},
}


def language(preferred: str | None = None) -> str:
    """zh-CN or en: the option, else the environment's locale."""
    text = preferred or os.environ.get("LC_ALL") or os.environ.get("LANG") or ""
    return "zh-CN" if text.lower().replace("_", "-").startswith("zh") else "en"


@dataclass
class Line:
    check: str
    status: str
    detail: str


@dataclass
class DoctorOptions:
    lang: str = "en"
    video_source: SourceSpec = field(default_factory=lambda: SourceSpec("camera", "auto"))
    audio_source: SourceSpec = field(default_factory=lambda: SourceSpec("mic", "auto"))
    audio_output: str = "default"
    display: str = "window"
    ice_host_addresses: tuple[str, ...] = ("auto",)
    bandwidth_seconds: float = 3.0
    report: bool = True


@dataclass
class Report:
    lines: list[Line]
    summary: str
    ok: bool

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def line(self, check: str) -> Line | None:
        return next((x for x in self.lines if x.check == check), None)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return exc.verify_message or str(exc)
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, httpx.HTTPError) and cause is not None and str(cause):
        return _reason(cause)
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text[:200]


def _find_cert_error(exc: BaseException | None) -> ssl.SSLCertVerificationError | None:
    while exc is not None:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


class Doctor:
    def __init__(
        self,
        config: AgentConfig,
        options: DoctorOptions,
        on_line: Callable[[Line], None] = lambda line: None,
    ) -> None:
        self.config = config
        self.options = options
        self.lang = options.lang if options.lang in MESSAGES else "en"
        self.on_line = on_line
        self.lines: list[Line] = []
        self.hub = config.hub
        self.parts = urlsplit(self.hub)
        self.ssl_context = config.ssl_context()
        self.network: dict[str, Any] | None = None
        self.reachable = False

    # ------------------------------------------------------------ output

    def _say(self, key: str, **values: Any) -> str:
        return MESSAGES[self.lang][key].format(**values)

    def _add(self, check: str, status: str, key: str, /, **values: Any) -> Line:
        # Positional only: a message's values may be named "status" (an HTTP status) too.
        line = Line(check, status, self._say(key, **values))
        self.lines.append(line)
        self.on_line(line)
        return line

    def format(self, line: Line) -> str:
        labels = LABELS[self.lang]
        status = _pad(labels[line.status], 4, center=True)
        return f"[{status}] {_pad(labels.get(line.check, line.check), 12)} {line.detail}"

    # ------------------------------------------------------------ the run

    async def run(self) -> Report:
        from streamhub.media import aiortc_hooks

        # Held for the doctor's life: its probes gather on these addresses.
        self._hooks = aiortc_hooks.install(self.options.ice_host_addresses)
        aiortc_hooks.set_turn_ssl_context(self.ssl_context)
        async with httpx.AsyncClient(
            base_url=self.hub,
            verify=self.ssl_context,
            timeout=HTTP_TIMEOUT_S,
            headers={"Authorization": f"Bearer {self.config.credential}"},
        ) as http:
            self.http = http
            await self._dns()
            await self._https()
            if self.reachable:
                await self._credential()
                await self._websocket()
            else:
                for check in ("credential", "websocket"):
                    self._add(check, SKIP, "not_checked")
            # The media ways are probed together (a blocked one costs its full timeout), and
            # reported in order.
            media = await self._media_ways()
            await self._devices()
            if self.reachable:
                await self._download()
                await self._upload()
            else:
                for check in ("download", "upload"):
                    self._add(check, SKIP, "not_checked")
            summary = self._verdict(media)
            report = Report(self.lines, summary, ok=all(x.status != FAIL for x in self.lines))
            if self.options.report and self.reachable:
                await self._send(report)
        return report

    # ------------------------------------------------------------ hub

    async def _dns(self) -> None:
        host = self.parts.hostname or ""
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            self._add("dns", OK, "dns_literal", host=host)
            return
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, self.parts.port or 443, type=0), HTTP_TIMEOUT_S
            )
        except (OSError, TimeoutError) as exc:
            self._add("dns", FAIL, "dns_fail", host=host, error=_reason(exc))
            return
        addresses = ", ".join(dict.fromkeys(str(i[4][0]) for i in infos))
        self._add("dns", OK, "dns_ok", host=host, addresses=addresses)

    def _is_loopback(self) -> bool:
        host = self.parts.hostname or ""
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return host == "localhost"

    async def _https(self) -> None:
        where = self.parts.netloc
        started = time.monotonic()
        issuer = ""
        try:
            async with self.http.stream("GET", "/healthz") as response:
                await response.aread()
                issuer = _issuer(response)
        except httpx.ConnectTimeout:
            self._add("https", FAIL, "https_timeout", where=where, seconds=HTTP_TIMEOUT_S)
            return
        except httpx.HTTPError as exc:
            cert = _find_cert_error(exc)
            if cert is not None:
                self._add("https", FAIL, "https_untrusted", reason=_reason(cert), hub=self.hub)
            elif isinstance(exc.__cause__ or exc.__context__, ssl.SSLError):
                self._add("https", FAIL, "https_tls", reason=_reason(exc))
            elif isinstance(exc, httpx.TimeoutException):
                self._add("https", FAIL, "https_timeout", where=where, seconds=HTTP_TIMEOUT_S)
            else:
                self._add("https", FAIL, "https_connect", where=where, reason=_reason(exc))
            return
        ms = (time.monotonic() - started) * 1000
        if response.status_code != 200:
            self._add("https", FAIL, "https_status", status=response.status_code)
            return
        self.reachable = True
        if self.parts.scheme == "https":
            self._add("https", OK, "https_ok", issuer=issuer or "?", ms=ms)
        elif self._is_loopback():
            self._add("https", OK, "http_ok", ms=ms)
        else:
            self._add("https", WARN, "http_plain")

    async def _credential(self) -> None:
        try:
            response = await self.http.get("/api/device/network")
        except httpx.HTTPError as exc:
            self._add(
                "credential", FAIL, "https_connect", where=self.parts.netloc, reason=_reason(exc)
            )
            return
        if response.status_code != 200:
            detail = response.json().get("detail", "") if response.content else ""
            self._add("credential", FAIL, "credential_fail", detail=detail or response.status_code)
            self._add("clock", SKIP, "not_checked")
            return
        self.network = response.json()
        self._add("credential", OK, "credential_ok")
        skew = abs(time.time() - float(self.network.get("server_time", time.time())))
        if skew <= 30:
            self._add("clock", OK, "clock_ok", skew=max(skew, 1))
        elif skew <= 300:
            self._add("clock", WARN, "clock_warn", skew=skew)
        else:
            self._add("clock", FAIL, "clock_fail", skew=skew)

    async def _websocket(self) -> None:
        import websockets

        url = signaling_url(self.hub)
        secure: dict[str, Any] = {"ssl": self.ssl_context} if url.startswith("wss:") else {}
        try:
            async with websockets.connect(url, open_timeout=HTTP_TIMEOUT_S, **secure) as ws:
                # Not a join: the hub answers anything else with a typed error.
                await ws.send(json.dumps({"type": "doctor"}))
                reply = json.loads(await asyncio.wait_for(ws.recv(), HTTP_TIMEOUT_S))
                if not isinstance(reply, dict) or "type" not in reply:
                    raise ValueError("the hub's answer is not a StreamHub message")
        except websockets.InvalidStatus as exc:
            self._add("websocket", FAIL, "ws_refused", status=exc.response.status_code)
            return
        except websockets.ConnectionClosed as exc:
            if exc.rcvd is not None and exc.rcvd.code >= 4000:
                self._add("websocket", OK, "ws_ok")  # the hub itself closed it, with a reason
                return
            self._add("websocket", FAIL, "ws_fail", reason=_reason(exc))
            return
        except (OSError, TimeoutError, ValueError, websockets.WebSocketException) as exc:
            self._add("websocket", FAIL, "ws_fail", reason=_reason(exc))
            return
        self._add("websocket", OK, "ws_ok")

    # ------------------------------------------------------------ media ways

    async def _media_ways(self) -> dict[str, bool]:
        """Probe UDP and every TURN URL at once; report in order; return what worked."""
        if self.network is None:
            self._add("udp", SKIP, "not_checked")
            return {}
        turn = [
            (url, server)
            for server in self.network.get("ice_servers", [])
            for url in server.get("urls", [])
            if url.lower().startswith(("turn:", "turns:"))
        ]
        udp_task = asyncio.ensure_future(self._ice_probe())
        turn_tasks = [
            asyncio.ensure_future(probe_turn(url, server.get("username"), server.get("credential")))
            for url, server in turn
        ]
        worked: dict[str, bool] = {}
        udp = await udp_task
        probes: list[TurnProbe] = list(await asyncio.gather(*turn_tasks))
        if isinstance(udp, float):
            self._add("udp", OK, "udp_ok", rtt=udp)
            worked["udp"] = True
        else:
            where = ", ".join(self.network.get("host_addresses", []))
            ports = self.network.get("udp_port_range")
            if ports:
                where += f" UDP {ports[0]}-{ports[1]}"
            status = WARN if turn else FAIL
            if udp == "blocked":
                self._add("udp", status, "udp_blocked", where=where)
            else:
                self._add("udp", FAIL, "udp_error", reason=udp)
            worked["udp"] = False
        if not turn:
            self._add("turn_udp", SKIP, "turn_none")
        names = TURN_NAMES[self.lang]
        for probe in probes:
            kind = probe.transport if probe.transport in names else "udp"
            check = f"turn_{kind}"
            name = names[kind]
            server = urlsplit("//" + probe.url.split(":", 1)[1].split("?")[0]).netloc
            if probe.ok:
                relay = f"{probe.relayed[0]}:{probe.relayed[1]}" if probe.relayed else "?"
                self._add(check, OK, "turn_ok", name=name, relay=relay, ms=probe.elapsed_s * 1000)
                worked.setdefault(kind, True)
            else:
                reason = probe.error or "?"
                # Blocked (no answer) is the network's doing; anything else is a setting.
                blocked = "no answer" in reason or "blocked" in reason
                self._add(check, WARN if blocked else FAIL, "turn_fail", name=name, server=server,
                          reason=reason)  # fmt: skip
                worked.setdefault(kind, False)
        return worked

    async def _ice_probe(self) -> float | str:
        """Round trip in ms over a data channel to the hub's media ports; "blocked"; or why
        the hub refused the probe."""
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        channel = pc.createDataChannel("doctor")
        echoes: asyncio.Queue[float] = asyncio.Queue()
        opened = asyncio.Event()
        channel.on("open", opened.set)
        channel.on("message", lambda message: echoes.put_nowait(time.monotonic()))
        try:
            await pc.setLocalDescription(await pc.createOffer())
            try:
                response = await self.http.post(
                    "/api/device/ice-probe", json={"sdp": pc.localDescription.sdp}
                )
            except httpx.HTTPError as exc:
                return _reason(exc)
            if response.status_code != 200:
                return f"HTTP {response.status_code}: {response.text[:200]}"
            await pc.setRemoteDescription(RTCSessionDescription(response.json()["sdp"], "answer"))
            try:
                await asyncio.wait_for(opened.wait(), ICE_TIMEOUT_S)
            except TimeoutError:
                return "blocked"
            rtts = []
            for _ in range(5):
                sent = time.monotonic()
                channel.send("ping")
                try:
                    back = await asyncio.wait_for(echoes.get(), 2.0)
                except TimeoutError:
                    continue
                rtts.append((back - sent) * 1000)
            return statistics.median(rtts) if rtts else "blocked"
        finally:
            await pc.close()

    # ------------------------------------------------------------ devices

    async def _devices(self) -> None:
        from classroom_agent.camera import Camera
        from classroom_agent.health import Health
        from classroom_agent.media_sources import audio_track, video_track
        from classroom_agent.microphone import Microphone

        video = self.options.video_source
        if video.kind == "none":
            self._add("camera", SKIP, "off")
        elif video.kind != "camera":
            self._add("camera", OK, "source_test", what=str(video))
        else:
            camera = Camera(video.arg or "auto", Health())
            frame = None
            try:
                # Listing first: with no camera at all there is nothing to wait 5 s for.
                if await asyncio.to_thread(camera.check):
                    frame = await self._first_frame(video_track(video, camera))
            finally:
                await asyncio.to_thread(camera.close)
            if frame is None:
                self._add("camera", FAIL, "camera_fail", index=video.arg or "auto")
            else:
                self._add("camera", OK, "camera_ok", index=video.arg or "auto",
                          width=frame.width, height=frame.height)  # fmt: skip

        audio = self.options.audio_source
        if audio.kind == "none":
            self._add("microphone", SKIP, "off")
        elif audio.kind != "mic":
            self._add("microphone", OK, "source_test", what=str(audio))
        else:
            microphone: Microphone | None = None
            try:
                microphone = Microphone(audio.arg or "auto", Health(), None)
                frame = await self._first_frame(audio_track(audio, microphone))
                if frame is None:
                    raise OSError("no sound arrives from it")
            except Exception as exc:  # PortAudio errors of every kind
                self._add("microphone", FAIL, "mic_fail", reason=_reason(exc))
            else:
                samples = frame.to_ndarray().astype("float64") / 32768
                rms = float((samples**2).mean() ** 0.5) or 1e-9
                self._add("microphone", OK, "mic_ok", level=20 * math.log10(rms))
            finally:
                if microphone is not None:
                    microphone.close()

        if self.options.audio_output == "none":
            self._add("loudspeaker", SKIP, "off")
        else:
            status, key, values = await asyncio.to_thread(_loudspeaker, self.options.audio_output)
            self._add("loudspeaker", status, key, **values)

        if self.options.display == "none":
            self._add("screen", SKIP, "off")
        else:
            status, key, values = _screen()
            self._add("screen", status, key, **values)

    async def _first_frame(self, track: Any) -> Any:
        if track is None:
            return None
        try:
            return await asyncio.wait_for(track.recv(), 5.0)
        except Exception:  # a device that opens but never delivers
            return None
        finally:
            track.stop()

    # ------------------------------------------------------------ bandwidth

    async def _download(self) -> None:
        seconds = self.options.bandwidth_seconds
        received = 0
        started = time.monotonic()
        try:
            async with self.http.stream(
                "GET", "/api/device/bandwidth", params={"size": 16 * 1024 * 1024}
            ) as response:
                if response.status_code != 200:
                    raise OSError(f"HTTP {response.status_code}")
                async for chunk in response.aiter_raw():
                    received += len(chunk)
                    if time.monotonic() - started > seconds:
                        break
        except (httpx.HTTPError, OSError) as exc:
            self._add("download", FAIL, "bandwidth_error", reason=_reason(exc))
            return
        self._rate("download", received, time.monotonic() - started, DOWN_GOOD_MBPS, DOWN_MIN_MBPS)

    async def _upload(self) -> None:
        seconds = self.options.bandwidth_seconds
        sent = 0
        chunk = os.urandom(64 * 1024)
        started = time.monotonic()

        async def body() -> AsyncIterator[bytes]:
            nonlocal sent
            while time.monotonic() - started < seconds and sent < 16 * 1024 * 1024 - len(chunk):
                sent += len(chunk)
                yield chunk

        try:
            response = await self.http.post(
                "/api/device/bandwidth",
                content=body(),
                timeout=HTTP_TIMEOUT_S + seconds,
            )
            if response.status_code != 200:
                raise OSError(f"HTTP {response.status_code}")
        except (httpx.HTTPError, OSError) as exc:
            self._add("upload", FAIL, "bandwidth_error", reason=_reason(exc))
            return
        self._rate("upload", sent, time.monotonic() - started, UP_GOOD_MBPS, UP_MIN_MBPS)

    def _rate(self, check: str, size: int, seconds: float, good: float, minimum: float) -> None:
        mbps = size * 8 / 1e6 / max(seconds, 1e-3)
        if mbps >= good:
            self._add(check, OK, "bandwidth", mbps=mbps)
        elif mbps >= minimum:
            self._add(check, WARN, "bandwidth_low", mbps=mbps)
        else:
            self._add(check, FAIL, "bandwidth_fail", mbps=mbps)

    # ------------------------------------------------------------ verdict and report

    def _verdict(self, worked: dict[str, bool]) -> str:
        names = TURN_NAMES[self.lang]
        if self.network is None:
            status, text = FAIL, self._say("verdict_hub")
        elif worked.get("udp"):
            status, text = OK, self._say("verdict_direct")
        else:
            way = next((k for k in ("udp", "tcp", "tls") if worked.get(k) and k in names), None)
            if way is not None and any(k != "udp" and v for k, v in worked.items()):
                status, text = OK, self._say("verdict_turn", name=names[way])
            else:
                ports = self.network.get("udp_port_range") or ["?", "?"]
                status, text = FAIL, self._say("verdict_none", ports=f"{ports[0]}-{ports[1]}")
        if status == OK and any(x.status == FAIL for x in self.lines):
            status, text = FAIL, text + self._say("verdict_problems")
        self.lines.append(Line("verdict", status, text))
        self.on_line(self.lines[-1])
        return text

    async def _send(self, report: Report) -> None:
        body = {
            "ok": report.ok,
            "summary": report.summary[:600],
            "lines": [asdict(x) for x in report.lines],
            "agent": f"classroom-agent doctor, Python {sys.version.split()[0]}, {sys.platform}",
        }
        try:
            response = await self.http.post("/api/device/connection-check", json=body)
            if response.status_code != 201:
                raise OSError(f"HTTP {response.status_code}: {response.text[:200]}")
        except (httpx.HTTPError, OSError) as exc:
            self.on_line(Line("report", WARN, self._say("report_fail", reason=_reason(exc))))
            return
        self.on_line(Line("report", OK, self._say("report_ok")))


def _loudspeaker(choice: str) -> tuple[str, str, dict[str, Any]]:
    try:
        import numpy as np
        import sounddevice

        from classroom_agent.devices import pick_sound_device

        index = pick_sound_device("output", choice)
        device = sounddevice.query_devices(index, kind="output")
        with sounddevice.OutputStream(
            device=index, samplerate=48_000, channels=1, dtype="int16"
        ) as stream:
            stream.write(np.zeros((4800, 1), np.int16))  # 100 ms of silence: the device plays
        return OK, "speaker_ok", {"name": device.get("name", "?")}
    except Exception as exc:  # PortAudio missing, no device, device busy
        return FAIL, "speaker_fail", {"reason": _reason(exc)}


def _screen() -> tuple[str, str, dict[str, Any]]:
    if sys.platform.startswith(("win", "darwin")):
        return OK, "screen_ok", {"name": "desktop"}
    name = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    if not name:
        return FAIL, "screen_fail", {"reason": "DISPLAY is not set"}
    if name.startswith(":"):
        number = name[1:].split(".")[0]
        if not Path(f"/tmp/.X11-unix/X{number}").exists():
            return FAIL, "screen_fail", {"reason": f"no X server on {name}"}
    return OK, "screen_ok", {"name": name}


def _pad(text: str, width: int, center: bool = False) -> str:
    """Align in a terminal, where each CJK character takes two columns."""
    room = max(width - sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text), 0)
    left = room // 2 if center else 0
    return " " * left + text + " " * (room - left)


def _issuer(response: httpx.Response) -> str:
    """The common name of the CA that signed the hub's certificate (for the HTTPS line)."""
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    if ssl_object is None:
        return ""
    cert = ssl_object.getpeercert() or {}
    for rdn in cert.get("issuer", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return ""
