"""The installed annoq version (single source for packaging and the User-Agent)."""

__version__ = "0.1.0"
