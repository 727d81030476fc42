from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from include.data.validation import ValidationFailed, validate_graph
from include.problems.maxcut import GraphSpec, canonical_edges, make_graph


def edges(u: list[int], v: list[int], w: list[float]) -> pd.DataFrame:
    return canonical_edges(pd.DataFrame({"u": u, "v": v, "weight": w}))


def test_a_generated_graph_passes_every_expectation() -> None:
    report = validate_graph(make_graph(GraphSpec(8, "regular", 3, "uniform", 1)), 8)
    assert report.success
    assert len(report.outcomes) == 7
    report.raise_for_failures()


@pytest.mark.parametrize(
    ("graph", "n_nodes", "expected"),
    [
        (edges([0, 1], [1, 2], [1.0, np.nan]), 3, ["weight", "NaN"]),
        (edges([0, 1], [1, 2], [1.0, np.inf]), 3, ["weight", "infinities", "inf"]),
        (edges([0, 1], [1, 1], [1.0, 1.0]), 3, ["self-loops", "(1, 1)"]),
        (edges([0, 1], [1, 5], [1.0, 1.0]), 3, ["node ids must be in [0, n_nodes) = [0, 3)", "5"]),
        (edges([0, 1], [1, 0], [1.0, 2.0]), 3, ["each edge may appear only once"]),
        (edges([], [], []), 0, ["no edges"]),
    ],
    ids=["nan-weight", "inf-weight", "self-loop", "id-out-of-range", "duplicate-edge", "zero-nodes"],
)
def test_bad_graphs_fail_with_a_message_naming_the_problem(
    graph: pd.DataFrame, n_nodes: int, expected: list[str]
) -> None:
    report = validate_graph(graph, n_nodes)
    assert not report.success
    with pytest.raises(ValidationFailed) as info:
        report.raise_for_failures()
    for text in expected:
        assert text in str(info.value)
    assert "no quantum work was submitted" in str(info.value)
    table = report.frame()
    assert (~table["success"]).sum() == len(report.failures) >= 1
