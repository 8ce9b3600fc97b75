"""Storage: SQLAlchemy tables, engines and migrations."""

from monitor.store.db import make_engine, migrate

__all__ = ["make_engine", "migrate"]
