"""The correlation engine: which model-side problem moves which business KPI, by how much, with what lag.

Pure numerical modules (:mod:`.align`, :mod:`.lagged`, :mod:`.granger`, :mod:`.events`,
:mod:`.impact`, :mod:`.findings`, :mod:`.engine`) work on numpy arrays on a common grid;
:mod:`.store` reads inputs from and writes findings to the database, and :mod:`.service`
runs the engine on demand and on a schedule. ``docs/correlation.md`` explains the method.
"""

from monitor.correlation.align import Grid, make_grid
from monitor.correlation.engine import EngineConfig, RunResult, Series, correlate, scan
from monitor.correlation.findings import Finding, IncidentEstimate
from monitor.correlation.impact import KpiUnit

__all__ = [
    "EngineConfig",
    "Finding",
    "Grid",
    "IncidentEstimate",
    "KpiUnit",
    "RunResult",
    "Series",
    "correlate",
    "make_grid",
    "scan",
]
