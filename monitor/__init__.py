"""Driftline's service: ingest log, pipeline, storage, API and CLI."""

from monitor.settings import Settings, load_settings

__all__ = ["Settings", "load_settings"]
