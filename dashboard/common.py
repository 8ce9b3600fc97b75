"""What every page shares: the API client, the sidebar controls and URL query parameters.

A view is fully described by its query parameters (``model``, ``version``, ``range``, ``refresh``
and the page's own, e.g. ``feature``), so a link reproduces what its sender saw.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import pandas as pd
import streamlit as st

from dashboard.client import DEFAULT_API, ApiError, DriftlineClient, ModelVersion, NotAvailable

__all__ = ["RANGES", "View", "api_url", "client", "coloured_table", "controls", "fmt_time", "not_available", "run_body"]

#: Time-range choices: label -> seconds back from now.
RANGES: dict[str, int] = {"1h": 3600, "6h": 6 * 3600, "24h": 24 * 3600, "7d": 7 * 86400, "30d": 30 * 86400}
DEFAULT_RANGE = "24h"
REFRESH_CHOICES = (0, 10, 30, 60)


def api_url() -> str:
    """The API base URL: session state (tests), then ``DRIFTLINE_API``, then the default."""
    return str(st.session_state.get("driftline_api") or os.environ.get("DRIFTLINE_API") or DEFAULT_API)


@st.cache_resource(show_spinner=False)
def _client(url: str) -> DriftlineClient:
    return DriftlineClient(url)


def client() -> DriftlineClient:
    return _client(api_url())


def fmt_time(t: float | None) -> str:
    """A unix time as ``YYYY-MM-DD HH:MM`` UTC (``—`` when unknown).

    >>> fmt_time(0.0), fmt_time(None)
    ('1970-01-01 00:00', '—')
    """
    return "—" if t is None else datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%d %H:%M")


#: Cell colours by word (white text on a saturated fill reads on light and dark themes alike).
BADGE_COLOURS = {
    "drift": "#c0392b",
    "firing": "#c0392b",
    "fail": "#c0392b",
    "ok": "#1e8449",
    "resolved": "#1e8449",
    "pass": "#1e8449",
    "no reference": "#b9770e",
    "pending": "#b9770e",
    "waiting": "#5d6d7e",
    "unknown": "#5d6d7e",
}


def _badge(value: object) -> str:
    colour = BADGE_COLOURS.get(str(value))
    return f"background-color: {colour}; color: #ffffff; font-weight: 600" if colour else ""


def coloured_table(rows: list[dict[str, Any]], badge_columns: str | list[str], *, key: str, **options: Any) -> None:
    """``st.dataframe`` of ``rows`` with the badge column(s) colour-coded (drift and fail red, ok and pass green …)."""
    subset = [badge_columns] if isinstance(badge_columns, str) else badge_columns
    styled = pd.DataFrame(rows).style.map(_badge, subset=subset) if rows else pd.DataFrame(rows)
    st.dataframe(styled, hide_index=True, width="stretch", key=key, **options)


def not_available(what: str, error: ApiError) -> None:
    """The empty state for an endpoint the server lacks, or an error it answered."""
    if isinstance(error, NotAvailable):
        st.info(f"{what}: not available yet — this Driftline server does not offer it.", icon=":material/hourglass_empty:")
    else:
        st.warning(f"{what}: the server answered {error.status}: {error.detail}", icon=":material/warning:")


T = TypeVar("T")


def fetch(what: str, call: Callable[[], T], *, missing: str | None = None) -> T | None:
    """``call()``'s answer, or None once the page has said why there is none.

    ``missing`` is the empty state for a 404 about data that does not exist yet (no labels
    joined, no GPUs linked); any other answer of the server goes to :func:`not_available`,
    and a failed connection to a warning.
    """
    try:
        return call()
    except ApiError as exc:
        if missing is not None and exc.status == 404 and not isinstance(exc, NotAvailable):
            st.info(missing, icon=":material/hourglass_empty:")
        else:
            not_available(what, exc)
    except httpx.HTTPError as exc:
        st.warning(f"Cannot read {what.lower()}: {exc}")
    return None


@dataclass(frozen=True, slots=True)
class View:
    """The selection every page renders: time range, model version, refresh period."""

    start: float
    end: float
    range_label: str
    model: str | None
    version: str | None
    refresh: int
    models: tuple[ModelVersion, ...]


def _param(name: str, choices: list[str], default: str | None) -> str | None:
    """The URL's choice for ``name``, else this session's last one (navigation drops the query), else ``default``."""
    for value in (st.query_params.get(name), st.session_state.get(f"chosen_{name}")):
        if value in choices:
            return str(value)
    return default


def controls(title: str) -> View | None:
    """Render the page title and sidebar controls, keep them in the URL, return the view.

    Returns ``None`` (after rendering the reason) when the API cannot be reached.
    """
    st.title(title)
    try:
        models = client().models()
    except (ApiError, httpx.HTTPError) as exc:
        st.error(f"Cannot read models from the Driftline API at {api_url()}: {exc}")
        return None
    sidebar = st.sidebar
    labels = list(RANGES)
    range_label = sidebar.selectbox(
        "Time range", labels, index=labels.index(_param("range", labels, DEFAULT_RANGE) or DEFAULT_RANGE), key="range"
    )
    names = sorted({m.model for m in models})
    model = version = None
    if names:
        model = sidebar.selectbox("Model", names, index=names.index(_param("model", names, names[0]) or names[0]), key="model")
        versions = sorted({m.version for m in models if m.model == model})
        wanted = _param("version", versions, None)
        # Default to the version with the most drift: the one worth looking at first.
        worst = max((m for m in models if m.model == model), key=lambda m: (m.features_drifting, m.version)).version
        version = sidebar.selectbox("Version", versions, index=versions.index(wanted or worst), key="version")
    refresh_labels = [str(s) for s in REFRESH_CHOICES]
    refresh = int(
        sidebar.selectbox(
            "Auto-refresh (s, 0 = off)",
            refresh_labels,
            index=refresh_labels.index(_param("refresh", refresh_labels, "0") or "0"),
            key="refresh",
        )
    )
    sidebar.caption(f"API: {api_url()}")
    wanted_params = {"range": range_label, "refresh": str(refresh)}
    if model is not None and version is not None:
        wanted_params.update(model=model, version=version)
    for key, value in wanted_params.items():
        st.session_state[f"chosen_{key}"] = value
        if st.query_params.get(key) != value:
            st.query_params[key] = value
    end = time.time()
    return View(
        start=end - RANGES[range_label],
        end=end,
        range_label=range_label,
        model=model,
        version=version,
        refresh=refresh,
        models=tuple(models),
    )


def run_body(view: View, body: Callable[[View], None]) -> None:
    """Render ``body``, re-running it every ``view.refresh`` seconds when auto-refresh is on."""
    if view.refresh <= 0:
        body(view)
        return

    def refreshed() -> None:
        end = time.time()
        body(dataclasses.replace(view, start=end - RANGES[view.range_label], end=end))

    st.fragment(run_every=view.refresh)(refreshed)()
