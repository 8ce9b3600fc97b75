"""The Streamlit entry point: ``driftline dashboard`` runs ``streamlit run`` on this file."""

from __future__ import annotations

import streamlit as st

from dashboard.views import alerts, business, drift, overview, performance

__all__ = ["main"]


def main() -> None:
    """Configure the page and run the selected one (``streamlit run`` executes this file as ``__main__``)."""
    st.set_page_config(page_title="Driftline", page_icon=":material/monitoring:", layout="wide")
    st.navigation(
        [
            st.Page(overview.page, title="Overview", icon=":material/dashboard:", url_path="overview", default=True),
            st.Page(drift.page, title="Model drift", icon=":material/ssid_chart:", url_path="drift"),
            st.Page(performance.page, title="Performance & hardware", icon=":material/speed:", url_path="performance"),
            st.Page(business.page, title="Business impact", icon=":material/payments:", url_path="business"),
            st.Page(alerts.page, title="Alerts & actions", icon=":material/notifications:", url_path="alerts"),
        ]
    ).run()


if __name__ == "__main__":
    main()
