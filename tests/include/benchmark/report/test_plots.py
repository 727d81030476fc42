"""The report's plots (include/benchmark/report/plots.py): real PNGs, each referenced by the page."""

from __future__ import annotations

import re

from include.benchmark.report.html import BenchmarkReport
from include.benchmark.report.plots import IMAGES
from tests.include.benchmark.report.conftest import assert_valid_png


def test_report_images_are_real_pngs_referenced_by_the_html(report: BenchmarkReport) -> None:
    assert set(report.images) == set(IMAGES)
    for name, data in report.images.items():
        assert_valid_png(data)
        assert f"src='{name}'" in report.html
    # Self-contained: no scripts, no external resources beyond the PNGs beside it.
    assert "<script" not in report.html
    assert set(re.findall(r"src='([^']+)'", report.html)) == set(IMAGES)
