"""Logic of ``tools/benchmarks``: run recipes over seeds, tabulate the results.

* :mod:`.run_options` - the ``--cfg-options`` a benchmark adds to a recipe
  (data root, loader workers, seed, the best-test-epoch protocol);
* :mod:`.hardware` - what a run ran on (CPU model and threads, GPU name);
* :mod:`.results_table` - mean ± std over seeds, ``table.md`` / ``table.json``;
* :mod:`.table_runner` - configs × seeds, resumable (``run_table.py``).
"""
