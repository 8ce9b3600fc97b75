"""Rendering dashboard pages headless with Streamlit's AppTest, against a running API."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

__all__ = ["PAGES", "render", "run_page", "texts"]

PAGES = ["overview", "drift", "performance", "business", "alerts"]


def render(name: str) -> None:
    import importlib

    importlib.import_module(f"dashboard.views.{name}").page()


def run_page(name: str, url: str, **query: str) -> AppTest:
    app = AppTest.from_function(render, args=(name,), default_timeout=60)
    app.session_state["driftline_api"] = url
    for key, value in query.items():
        app.query_params[key] = value
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def texts(app: AppTest) -> str:
    parts = [m.value for m in app.markdown] + [i.value for i in app.info] + [w.value for w in app.warning]
    parts += [e.value for e in app.error] + [s.value for s in app.success] + [c.value for c in app.caption]
    parts += [f"{m.label}={m.value}" for m in app.metric]
    return "\n".join(str(p) for p in parts)
