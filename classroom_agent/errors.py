"""The agent's errors: one base, one family per way a session can end badly."""

from __future__ import annotations


class AgentError(Exception):
    """Base of every error the classroom agent raises on purpose."""


class ConfigError(AgentError):
    """The agent is not enrolled, or its config file is unreadable."""


class CredentialRevoked(AgentError):
    """The hub refused the device credential (revoked or unknown): retrying cannot help."""


class HubUnavailable(AgentError):
    """The hub could not be reached or answered with a server error; retry with backoff."""


class NoLiveLesson(AgentError):
    """The lesson is not live (not started yet, or ended)."""
