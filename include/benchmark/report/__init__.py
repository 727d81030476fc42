"""Statistics and the static HTML report of the nightly MaxCut benchmark (no Airflow, no S3).

Input is the tidy results table of one night (one row per experiment; the schema is
``include.benchmark.schema.NIGHT_RESULT_DTYPES``) and the history of earlier nights in the same
schema. Everything is reported across seeds — median, quartiles, IQR, variance, mean — never only
the best run.

* ``stats``: per-cell statistics, quantum value added per instance and per cell, noise drop, trend.
* ``labels``: one plot/table label per method and QAOA configuration.
* ``figures`` (helpers) and ``plots``: the five PNG plots (matplotlib imported inside them, Agg
  canvas, no pyplot state, so importing the package stays light).
* ``headline``: plain sentences that say where quantum adds nothing.
* ``html``: ``render_report``, the self-contained page that references the PNGs by file name.
"""
