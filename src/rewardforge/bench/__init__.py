"""Benchmarks: every task of a suite, every method, seeds; the table papers in this field show.

Read in this order: ``suite`` (``BenchSuite``: tasks, methods, seeds, budget; the built-in
suites), ``plan`` (the suite expanded into cells, one search or baseline per task and method,
each with its validated config and planned cost), ``estimate`` (this machine's measured speed
and the time a plan takes), ``jobs`` (what a worker process runs for one cell), ``runner``
(``Bench``: a bench run in the workspace, resumable), ``results`` (the table, read back from the
store) and ``output`` / ``html`` (``bench.md``, ``bench.json``, ``bench.html``).
"""

#: The ``strategy`` of a bench's own run in the store (its searches are runs of their own).
BENCH_STRATEGY = "bench"
