"""Alert rules, lifecycle, notifiers and rollback actions."""

__all__: list[str] = []
