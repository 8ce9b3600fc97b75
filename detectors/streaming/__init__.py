"""Streaming change detectors on scalar series (see :mod:`detectors.streaming.base`)."""

from detectors.streaming.adwin import ADWIN
from detectors.streaming.base import StreamDetector
from detectors.streaming.calibration import ArlEstimate, block_bootstrap, calibrate_threshold, estimate_arl, run_length
from detectors.streaming.cusum import CUSUM
from detectors.streaming.ddm import DDM
from detectors.streaming.eddm import EDDM
from detectors.streaming.ewma import EWMA
from detectors.streaming.hddm_a import HDDM_A
from detectors.streaming.hddm_w import HDDM_W
from detectors.streaming.kswin import KSWIN
from detectors.streaming.page_hinkley import PageHinkley

__all__ = [
    "ADWIN",
    "CUSUM",
    "DDM",
    "EDDM",
    "EWMA",
    "HDDM_A",
    "HDDM_W",
    "KSWIN",
    "ArlEstimate",
    "PageHinkley",
    "StreamDetector",
    "block_bootstrap",
    "calibrate_threshold",
    "estimate_arl",
    "run_length",
]
