"""Driftline's HTTP API."""

from monitor.api.app import create_app

__all__ = ["create_app"]
