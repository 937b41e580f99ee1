"""The doctor's lines that need no hub: a proxy's error status is a line, not a crash."""

from __future__ import annotations

import httpx

from classroom_agent.config import AgentConfig
from classroom_agent.doctor import FAIL, Doctor, DoctorOptions


async def test_a_hub_answering_an_error_status_is_a_failed_https_line() -> None:
    doctor = Doctor(AgentConfig("http://hub.invalid", "dc_x"), DoctorOptions(lang="en"))

    def proxy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, request=request)

    async with httpx.AsyncClient(
        base_url=doctor.hub, transport=httpx.MockTransport(proxy)
    ) as doctor.http:
        await doctor._https()
    (line,) = doctor.lines
    assert (line.check, line.status) == ("https", FAIL)
    assert "HTTP 502" in line.detail
