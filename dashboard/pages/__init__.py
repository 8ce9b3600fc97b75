"""One module per dashboard page; each exposes ``page()``, which ``dashboard.app`` navigates to."""

__all__: list[str] = []
