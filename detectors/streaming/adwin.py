"""ADWIN: adaptive windowing over an exponential histogram of buckets."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.streaming._checks import check_int, check_real, finite_array, finite_value
from detectors.streaming.base import StreamDetector

__all__ = ["ADWIN"]

# update_many works through its input in chunks of up to _MAX_CHECKS_PER_CHUNK checks. After an
# alarm the next chunk is small and sizes double while none is raised, so that frequent alarms do
# not each cost a full chunk of wasted work.
_FIRST_CHUNK = 2048
_MAX_CHECKS_PER_CHUNK = 1024
# Keeps the bucket-layout arithmetic far inside int64 (and no window needs more buckets per row).
_MAX_BUCKETS = 1 << 20
# Shorter inputs go through update() one value at a time.
_SMALL_BATCH = 64
# Below this many checks per chunk, one accumulate call beats a Python loop over the buckets.
_LOOP_MIN_CHECKS = 64


class ADWIN(StreamDetector):
    r"""Adaptive windowing (ADWIN2) change detector for the mean of a series.

    ADWIN keeps the values seen since the last alarm in an exponential histogram: row ``i``
    holds up to ``max_buckets`` buckets that each summarise ``2**i`` consecutive values, so
    the window costs O(``max_buckets`` log n) memory. Every ``clock`` values it tests each
    bucket boundary as a cut of the window into an older part ``W0`` and a newer part ``W1``
    and alarms when, for some cut, :math:`|\hat\mu_{W_0} - \hat\mu_{W_1}| > \epsilon_{cut}`,
    the Bernstein-style bound of Bifet & Gavaldà [1]_ with
    :math:`\delta' = \ln(2 \ln n / \delta)` and :math:`m^{-1} = 1/(n_0 - \ell + 1) + 1/(n_1 - \ell + 1)`
    (:math:`\ell` = ``min_window_length``):
    :math:`\epsilon = \sqrt{2 m^{-1} \hat\sigma^2 \delta'} + \tfrac{2}{3} \delta' m^{-1}`.

    Prefer ADWIN when nothing is known about the size or the time scale of a change: it needs
    no reference mean, no drift magnitude and no window length, and it adapts to both abrupt
    and gradual shifts. For a known pre-change mean and a known shift size, CUSUM or
    Page-Hinkley detect sooner; for changes in shape rather than in mean, use KSWIN.

    The arithmetic follows river's ``ADWIN`` operation for operation, so on the same stream
    the alarms fall on the same positions (see Notes). :meth:`update_many` is vectorised:
    the bucket layout after ``n`` values is a closed-form function of ``n``, bucket sums are
    pairwise sums of aligned blocks, and all cut tests of all checks in a chunk run as one
    array computation.

    Parameters
    ----------
    delta : float, default 0.002
        Confidence of the cut test, in (0, 1). Smaller: wider bound, fewer false alarms,
        later detection.
    clock : int, default 32
        Test for a cut every ``clock`` values (>= 1). Larger: cheaper, detection up to
        ``clock - 1`` values later.
    max_buckets : int, default 5
        Buckets kept per row before the two oldest merge (>= 1). Larger: finer cut
        positions, more memory and work per test.
    min_window_length : int, default 5
        Smallest ``W0`` or ``W1`` a cut may leave (>= 1). Larger: fewer alarms on short
        bursts, a little later detection.
    grace_period : int, default 10
        No test until the window holds more than this many values (>= 0). Larger: no alarms
        right after a restart.

    Attributes
    ----------
    drift_detected : bool
        Whether the last value raised an alarm. After an alarm the window restarts empty.

    Notes
    -----
    Deviations from river's ``ADWIN`` (0.26): on an alarm river drops buckets until no cut
    remains and clears the window on the next value; here the window clears at once. Alarm
    positions are the same because river's shrunken window is discarded before it is used.
    Per-bucket variances are not kept, since they serve only that discarded shrinking.
    river's ``estimation`` reads the shrunken window right after an alarm; here it reads 0.
    ``max_buckets`` is capped at 2**20.

    Speed: :meth:`update` runs in Python, about 0.5 M values/s, ten times slower than river's
    compiled ADWIN; :meth:`update_many` overtakes river from about a thousand values per call
    and reaches 8-16 M values/s on 1M-value arrays (``python -m bench --only adwin_kswin``).

    Examples
    --------
    A mean shift from 0 to 1 at position 1000 of a noisy series:

    >>> import numpy as np
    >>> rng = np.random.default_rng(7)
    >>> x = np.concatenate([rng.normal(0.0, 1.0, 1000), rng.normal(1.0, 1.0, 1000)])
    >>> detector = ADWIN()
    >>> detector.update_many(x)
    array([1055])

    One value at a time gives the same alarm:

    >>> detector = ADWIN()
    >>> [i for i, v in enumerate(x) if (detector.update(v), detector.drift_detected)[1]]
    [1055]
    >>> detector.width, round(detector.estimation, 3)
    (944, 0.999)

    References
    ----------
    .. [1] A. Bifet and R. Gavaldà, "Learning from time-changing data with adaptive
       windowing", Proc. SIAM International Conference on Data Mining, pp. 443-448, 2007.
    """

    delta: float
    clock: int
    max_buckets: int
    min_window_length: int
    grace_period: int

    def __init__(
        self,
        delta: float = 0.002,
        clock: int = 32,
        max_buckets: int = 5,
        min_window_length: int = 5,
        grace_period: int = 10,
    ) -> None:
        check_real("delta", delta, low=0.0, high=1.0, low_open=True, high_open=True)
        check_int("clock", clock, 1)
        check_int("max_buckets", max_buckets, 1)
        if max_buckets > _MAX_BUCKETS:
            raise ValueError(f"max_buckets must be at most {_MAX_BUCKETS}; got {max_buckets!r}")
        check_int("min_window_length", min_window_length, 1)
        check_int("grace_period", grace_period, 0)
        self.delta = delta
        self.clock = clock
        self.max_buckets = max_buckets
        self.min_window_length = min_window_length
        self.grace_period = grace_period
        super().__init__()

    def _reset(self) -> None:
        self._width = 0  # values since the last alarm (the window never shrinks without one)
        self._total = 0.0
        self._variance = 0.0  # sum of squared deviations, updated as river does
        self._rows: list[list[float]] = [[]]  # row i: sums of 2**i values, oldest first

    @property
    def width(self) -> int:
        """Number of values in the window (all values since the last alarm)."""
        return self._width

    @property
    def estimation(self) -> float:
        """Mean of the window (0 when empty)."""
        return self._total / self._width if self._width else 0.0

    def update(self, x: float) -> None:
        """Add ``x`` to the window and test for a cut when the clock says so."""
        x = finite_value(x)
        n = self._width + 1
        if n > 1:
            dv = x - self._total / (n - 1)
            self._variance += (n - 1) * dv * dv / n
        self._total += x
        self._width = n
        rows, cap, i = self._rows, self.max_buckets + 1, 0
        rows[0].append(x)
        while len(rows[i]) == cap:  # merge the two oldest buckets of a full row into the next
            merged = rows[i][0] + rows[i][1]
            del rows[i][:2]
            if i + 1 == len(rows):
                rows.append([])
            rows[i + 1].append(merged)
            i += 1
        self.drift_detected = False
        if self._is_check(n):
            sums = [s for row in reversed(rows) for s in row]
            sizes = [1 << i for i in range(len(rows) - 1, -1, -1) for _ in rows[i]]
            hit = self._first_cut(
                np.array(sums)[:, None],
                np.cumsum(sizes, dtype=np.float64)[:, None],
                np.array([self._total]),
                np.array([self._variance]),
                np.array([n]),
                _Scratch(),
            )
            if hit >= 0:
                self.drift_detected = True
                self._reset()

    def update_many(self, xs: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Consume ``xs`` in order; return the positions that raised an alarm."""
        values = finite_array(xs)
        if values.size < _SMALL_BATCH:  # fixed per-call costs would outweigh the vectorised work
            return super().update_many(values)
        alarms: list[int] = []
        max_step = self.clock * _MAX_CHECKS_PER_CHUNK
        pos, step = 0, max_step
        scratch = _Scratch()
        while pos < values.size:
            end = min(values.size, pos + step)
            hit = self._advance(values[pos:end], scratch)
            if hit < 0:
                pos, step = end, min(2 * step, max_step)
            else:
                alarms.append(pos + hit)
                pos, step = pos + hit + 1, _FIRST_CHUNK
        if values.size:
            self.drift_detected = bool(alarms) and alarms[-1] == values.size - 1
        return np.asarray(alarms, dtype=np.int64)

    # -- internals ---------------------------------------------------------------------------------
    def _is_check(self, n: int) -> bool:
        # A cut needs min_window_length values on each side; skipping tests that cannot pass
        # changes nothing and keeps ln(ln n) defined. _advance computes the same positions.
        return n % self.clock == 0 and n > self.grace_period and n >= 2 * self.min_window_length

    def _row_inputs(self, n: npt.NDArray[np.int64], n_rows: int) -> npt.NDArray[np.int64]:
        """Blocks ever created in each row after ``n`` values: shape ``(n_rows + 1, len(n))``.

        Row ``i`` receives ``c_i`` blocks and passes one block up each time it reaches
        ``max_buckets + 1`` (merging its two oldest), so ``c_{i+1} = max(0, (c_i - m + 1) // 2)``
        with ``m = max_buckets``; nested floor divisions compose, giving the closed form
        ``c_i = max(0, (n - (m - 1) * (2**i - 1)) // 2**i)``. Row ``i`` holds blocks
        ``[2 * c_{i+1}, c_i)`` of its level.
        """
        i = np.arange(n_rows + 1, dtype=np.int64)[:, None]
        counts: npt.NDArray[np.int64] = np.maximum((n[None, :] - (self.max_buckets - 1) * ((1 << i) - 1)) >> i, 0)
        return counts

    def _advance(self, chunk: npt.NDArray[np.float64], scratch: _Scratch) -> int:
        """Consume ``chunk``; return the offset of its first alarm (state then reset) or -1."""
        start, size, m = self._width, chunk.size, self.max_buckets
        n_end = start + size
        # Running total and the river-style incremental variance, in the same operation order:
        # inc = (w - 1) * dv * dv / w with dv = x - total / (w - 1).
        totals = scratch.get("totals", size + 1)
        totals[0] = self._total
        totals[1:] = chunk
        np.cumsum(totals, out=totals)
        before = np.add(scratch.ramp(size), float(start), out=scratch.get("before", size))  # w - 1
        variances = scratch.get("variances", size + 1)
        variances[0] = self._variance
        inc, dv = variances[1:], scratch.get("dv", size)
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(totals[:-1], before, out=dv)
            np.subtract(chunk, dv, out=dv)
            np.multiply(before, dv, out=inc)
            inc *= dv
            inc /= np.add(before, 1.0, out=before)
        if start == 0:
            inc[0] = 0.0  # the first value of a window adds no variance
        np.cumsum(variances, out=variances)

        # Level i holds the sums of aligned blocks of 2**i values, from the oldest block still
        # kept in row i onwards; a new block is (older half) + (newer half), as a merge adds them.
        ends = [max(0, (n_end - (m - 1) * ((1 << i) - 1)) >> i) for i in range(n_end.bit_length() + 1)]
        n_rows = sum(1 for c in ends if c)
        first = [max(0, (start - (m - 1) * ((1 << i) - 1)) >> i) for i in range(n_rows + 1)]
        rows = self._rows + [[]] * (n_rows - len(self._rows))
        offsets = [0]
        for i in range(n_rows):  # level i: kept row i, then the blocks formed in this chunk
            offsets.append(offsets[i] + len(rows[i]) + ends[i] - first[i])
        flat = scratch.get("flat", offsets[-1] + 1)
        flat[-1] = 0.0  # padding for rows holding fewer than max_buckets buckets
        for i in range(n_rows):
            at = offsets[i] + len(rows[i])
            flat[offsets[i] : at] = rows[i]
            if i == 0:
                flat[at : offsets[1]] = chunk
            elif at < offsets[i + 1]:
                below = flat[offsets[i - 1] : offsets[i]]
                pairs = 2 * (offsets[i + 1] - at)
                np.add(below[0:pairs:2], below[1:pairs:2], out=flat[at : offsets[i + 1]])
        # Flat index of block j of level i is base[i] + j.
        base = np.array(offsets[:n_rows]) - 2 * np.array(first[1:], dtype=np.int64)

        lowest = max(start + 1, self.grace_period + 1, 2 * self.min_window_length)
        n = np.arange(-(-lowest // self.clock) * self.clock, n_end + 1, self.clock, dtype=np.int64)
        if n.size:
            inputs = self._row_inputs(n, n_rows)[::-1]  # top row first
            lo = 2 * inputs[:-1]  # (rows, checks): first kept block of each row
            count = inputs[1:] - lo
            slot = np.arange(m)[None, :, None]
            shape = (n_rows, m, n.size)
            # Buckets (axis 0 once flattened) run oldest first: top row down to row 0, and
            # within a row oldest first; slots past a row's count point at the zero padding.
            idx = np.add((base[::-1, None] + lo)[:, None, :], slot, out=scratch.get("idx", shape, np.int64))
            np.putmask(idx, slot >= count[:, None, :], flat.size - 1)
            sums = flat.take(idx.reshape(-1, n.size), out=scratch.get("sums", (n_rows * m, n.size)))
            # Values up to and including slot k of row i: the 2 * inputs[i + 1] + k + 1 blocks of
            # 2**i values ending there (a padding slot repeats the previous boundary).
            n0 = np.minimum(slot + 1, count[:, None, :], out=idx)
            n0 += lo[:, None, :]
            np.left_shift(n0, np.arange(n_rows - 1, -1, -1)[:, None, None], out=n0)
            size0 = scratch.get("size0", (n_rows * m, n.size))
            size0[...] = n0.reshape(-1, n.size)
            hit = self._first_cut(sums, size0, totals[n - start], variances[n - start], n, scratch)
            if hit >= 0:
                self._reset()
                return int(n[hit] - start - 1)
        self._width = n_end
        self._total = float(totals[-1])
        self._variance = float(variances[-1])
        self._rows = [flat[offsets[i] + 2 * (ends[i + 1] - first[i + 1]) : offsets[i + 1]].tolist() for i in range(n_rows)]
        return -1

    def _first_cut(
        self,
        sums: npt.NDArray[np.float64],
        size0: npt.NDArray[np.float64],
        total: npt.NDArray[np.float64],
        variance: npt.NDArray[np.float64],
        width: npt.NDArray[np.int64],
        scratch: _Scratch,
    ) -> int:
        """Index of the first check (column) where a bucket boundary is a significant cut, or -1.

        ``sums[k, c]`` is the sum of bucket ``k`` (oldest first) at check ``c`` and
        ``size0[k, c]`` the number of values up to and including it. The sums accumulate oldest
        to newest exactly as river's loop does, so the same cuts pass; padding buckets (sum 0)
        repeat the previous boundary and change nothing.
        """
        n_slots, n_checks = sums.shape
        ell = float(self.min_window_length)
        w = width.astype(np.float64)
        u0 = scratch.get("u0", sums.shape)
        u1 = scratch.get("u1", (n_slots + 1, n_checks))
        u1[0] = total
        if n_checks >= _LOOP_MIN_CHECKS:
            # Row by row: for wide arrays numpy's accumulate along axis 0 is many times slower.
            u0[0] = sums[0]
            for k in range(n_slots):
                if k:
                    np.add(u0[k - 1], sums[k], out=u0[k])
                np.subtract(u1[k], sums[k], out=u1[k + 1])
        else:
            np.cumsum(sums, axis=0, out=u0)
            u1[1:] = sums
            np.subtract.accumulate(u1, axis=0, out=u1)
        size1 = np.subtract(w, size0, out=scratch.get("size1", sums.shape))
        # ln(2 ln n / delta) through math.log, so that update() and update_many() (and river)
        # share one rounding; numpy's vectorised log may differ in the last bit.
        inner = np.fromiter(map(math.log, w.tolist()), np.float64, n_checks)
        d_prime = np.fromiter(map(math.log, (2.0 * inner / self.delta).tolist()), np.float64, n_checks)
        m_recip = scratch.get("m_recip", sums.shape)
        eps = scratch.get("eps", sums.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            u0 /= size0
            u1[1:] /= size1
            u0 -= u1[1:]
            delta_mean = np.abs(u0, out=u0)
            # 1 / (n - ell + 1) for each side. A side shorter than ell gives 1 / 0 (or a negative
            # clipped to 0): eps becomes inf or nan and the test fails, as river skips that cut.
            np.add(size0, 1.0 - ell, out=m_recip)
            np.maximum(m_recip, 0.0, out=m_recip)
            np.divide(1.0, m_recip, out=m_recip)
            np.add(size1, 1.0 - ell, out=size1)
            np.maximum(size1, 0.0, out=size1)
            np.divide(1.0, size1, out=size1)
            m_recip += size1
            np.multiply(m_recip, 2.0, out=eps)
            eps *= variance / w
            eps *= d_prime
            np.sqrt(eps, out=eps)
            np.multiply(2.0 / 3.0 * d_prime, m_recip, out=m_recip)
            eps += m_recip
            cut = np.greater(delta_mean, eps, out=scratch.get("cut", sums.shape, np.bool_))
        found = cut.any(axis=0)
        return int(np.argmax(found)) if found.any() else -1


class _Scratch:
    """Work arrays reused across the chunks of one ``update_many`` call.

    Fresh arrays larger than the allocator's mmap threshold are page-faulted in on every
    chunk, which costs more than the arithmetic; reusing them roughly doubles throughput.
    """

    def __init__(self) -> None:
        self._buffers: dict[str, npt.NDArray[Any]] = {}

    def get(self, name: str, shape: int | tuple[int, ...], dtype: type[Any] = np.float64) -> npt.NDArray[Any]:
        """A C-contiguous array of ``shape`` (contents undefined) backed by the buffer ``name``."""
        size = shape if isinstance(shape, int) else math.prod(shape)
        buffer = self._buffers.get(name)
        if buffer is None or buffer.size < size:
            buffer = self._buffers[name] = np.empty(max(size, 2 * (0 if buffer is None else buffer.size)), dtype)
        view = buffer[:size]
        return view if isinstance(shape, int) else view.reshape(shape)

    def ramp(self, size: int) -> npt.NDArray[np.float64]:
        """``0.0, 1.0, ..., size - 1``."""
        ramp = self._buffers.get("ramp")
        if ramp is None or ramp.size < size:
            ramp = self._buffers["ramp"] = np.arange(max(size, 2 * (0 if ramp is None else ramp.size)), dtype=np.float64)
        return ramp[:size]
