from tests.media.conftest import admin, hub

__all__ = ["admin", "hub"]
