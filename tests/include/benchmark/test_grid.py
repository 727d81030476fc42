"""The sweep grid: every bad Param is named, and lists may be comma-separated strings."""

from __future__ import annotations

from typing import Any

import pytest

from include.benchmark.grid import SweepConfigError, SweepGrid
from include.benchmark.instances import instance_specs


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("families", ["maxcut_torus"], "families"),
        ("sizes", [6, 40], "sizes"),
        ("sizes", [], "sizes"),
        ("reps", [0], "reps"),
        ("shots", ["many"], "shots"),
        ("noise", ["fake_nowhere"], "noise"),
        ("backends", ["ibm:ibm_kyiv"], "backends"),
        ("deduplicate", "maybe", "deduplicate"),
        ("colour", "blue", "unknown sweep Param"),
    ],
)
def test_bad_grid_values_name_the_param(field: str, value: Any, says: str) -> None:
    with pytest.raises(SweepConfigError, match=says):
        SweepGrid.from_params({field: value})


def test_grid_accepts_comma_separated_lists_and_lists_instances_smallest_first() -> None:
    grid = SweepGrid.from_params({"sizes": "8, 5, 6", "families": "maxcut_regular", "seeds_per_size": 2})
    specs, skipped = instance_specs(grid)
    assert [s["n_nodes"] for s in specs] == [6, 6, 8, 8]  # 3-regular on 5 nodes cannot exist...
    assert {s["n_nodes"] for s in skipped} == {5} and "n_nodes * degree must be even" in skipped[0]["reason"]
