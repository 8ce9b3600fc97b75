"""One module per dashboard page; each exposes ``page()``, which ``dashboard.app`` navigates to.

Not named ``pages/``: Streamlit would list the files of a ``pages/`` folder beside the app as pages.
"""

__all__: list[str] = []
