from tests.media.conftest import hub

__all__ = ["hub"]
