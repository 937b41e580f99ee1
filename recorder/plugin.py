"""The recorder as a plug-in of the hub: ``create_app(settings, extensions=[recorder_extension])``
(``streamhub serve`` composes it; the hub itself never imports the recorder)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from recorder.service import RecorderService

if TYPE_CHECKING:
    from streamhub.services import Services


def recorder_extension(services: Services) -> RecorderService:
    """Record every lesson this hub holds (``recorder.enabled``), as ``streamhub serve`` does."""
    return RecorderService(services.settings, services.catalog, services.tokens, services.lessons)
