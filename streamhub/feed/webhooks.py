"""Sending the feed's events to webhooks: due deliveries are claimed from the catalog (so two
nodes never send one at once), POSTed signed, and retried with exponential back-off until the
receiver answers 2xx or the attempts run out. At least once: a receiver deduplicates on the
``StreamHub-Delivery`` id."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

import httpx

from streamhub import __version__
from streamhub.catalog.feed import DueDelivery, FeedStore
from streamhub.catalog.models import utcnow
from streamhub.config import WebhookSettings
from streamhub.feed.signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, sign

logger = logging.getLogger(__name__)

BATCH = 20  # deliveries claimed (and sent concurrently) per round


class WebhookSender:
    def __init__(self, catalog: FeedStore, settings: WebhookSettings) -> None:
        self.catalog = catalog
        self.settings = settings
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._http: httpx.AsyncClient | None = None
        self._stopping = False

    def start(self) -> None:
        # No redirects: a webhook's address is what the admin typed, and nothing else.
        self._http = httpx.AsyncClient(timeout=self.settings.timeout_s, follow_redirects=False)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="webhooks")

    def wake(self) -> None:
        """An event was added here: look for due deliveries now rather than at the next poll."""
        self._wake.set()

    async def close(self) -> None:
        # The loop ends its round first: cancelled inside a catalog transaction, a pooled
        # connection would be left closing while the catalog is disposed.
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), self.settings.timeout_s + 5)
            except TimeoutError:
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _run(self) -> None:
        while not self._stopping:
            due: list[DueDelivery] = []
            try:
                # Held long enough for every attempt of the batch to end first.
                due = await self.catalog.claim_deliveries(self.settings.timeout_s * 2 + 5, BATCH)
                await asyncio.gather(*(self._send(d) for d in due))
            except Exception:  # the catalog may be away a moment; the next round retries
                logger.exception("webhook deliveries failed")
            if len(due) == BATCH or self._stopping:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_s)
            self._wake.clear()

    async def _send(self, due: DueDelivery) -> None:
        assert self._http is not None
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"StreamHub-Webhooks/{__version__}",
            EVENT_HEADER: due.event_type,
            DELIVERY_HEADER: str(due.delivery_id),
            SIGNATURE_HEADER: sign(due.secret, due.body),
        }
        status: int | None = None
        error = ""
        try:
            # The answer's body is never read: a receiver cannot make the hub download much.
            async with self._http.stream("POST", due.url, content=due.body, headers=headers) as r:
                status = r.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        attempt = due.attempts + 1
        retry_at = None
        if error and attempt < self.settings.max_attempts:
            delay = min(self.settings.retry_base_s * 2 ** (attempt - 1), self.settings.retry_max_s)
            retry_at = utcnow() + timedelta(seconds=delay)
        if error:
            logger.info(
                "webhook delivery %s attempt %s failed: %s", due.delivery_id, attempt, error
            )
        await self.catalog.delivery_attempted(due.delivery_id, status, error, retry_at)
