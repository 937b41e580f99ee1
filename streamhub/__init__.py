"""StreamHub: live dual-teacher classroom streaming hub."""

__version__ = "0.1.0"
