"""Online change-point detection: alarms now, change points dated in the past, no look-ahead.

See :mod:`detectors.changepoint.base` for the contract and :class:`BOCPD` for the detector.
"""

from detectors.changepoint.base import ChangePointDetector
from detectors.changepoint.bocpd import BOCPD

__all__ = ["BOCPD", "ChangePointDetector"]
