"""Driftline's benchmarks, run with ``python -m bench`` (``make bench``).

Each benchmark is a module with a ``run(options) -> Report`` function, listed in
:data:`bench.__main__.BENCHMARKS`. The runner prints the report's tables and writes
``bench/results/<name>.json`` (``<name>.quick.json`` for ``--quick`` runs) with the
machine it ran on, the configuration and the figures. Benchmarks measure and report;
they never assert on timings (targets are printed as "met" / "not met").

To add one: write ``bench/<name>.py`` with ``run(options: Options) -> Report`` (see
:mod:`bench._harness` for timing, table and machine helpers) and add it to
``BENCHMARKS``.
"""
