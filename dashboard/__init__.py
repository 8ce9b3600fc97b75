"""Streamlit dashboard; talks to the HTTP API only."""

__all__: list[str] = []
