"""Great Expectations suites that gate quantum work: a failed suite stops the run first.

GX is imported lazily (it takes seconds), so DAG parsing and light imports stay fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pandas as pd

# GX would otherwise try to phone home and draw progress bars in every task log.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

EXAMPLE_COUNT = 5


class ValidationFailed(Exception):
    """Data failed its suite; the message lists each failed expectation with examples."""

    def __init__(self, suite: str, report: ValidationReport) -> None:
        self.report = report
        lines = [f"validation suite {suite!r} failed {len(report.failures)} expectation(s):"]
        lines += [f"  - {failure.describe()}" for failure in report.failures]
        lines.append("Fix the input data and re-run; no quantum work was submitted.")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    column: str
    success: bool
    unexpected_count: int
    examples: str
    meaning: str

    def describe(self) -> str:
        where = f" on column {self.column!r}" if self.column else ""
        found = f" ({self.unexpected_count} offending row(s), e.g. {self.examples})" if self.examples else ""
        return f"{self.expectation}{where}: {self.meaning}{found}"


@dataclass(frozen=True)
class ValidationReport:
    suite: str
    outcomes: tuple[ExpectationOutcome, ...]

    @property
    def success(self) -> bool:
        return all(o.success for o in self.outcomes)

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def frame(self) -> pd.DataFrame:
        rows = sorted(self.outcomes, key=lambda o: (o.expectation, o.column))
        return pd.DataFrame(
            {
                "suite": [self.suite] * len(rows),
                "expectation": [o.expectation for o in rows],
                "column": [o.column for o in rows],
                "success": [o.success for o in rows],
                "unexpected_count": pd.Series([o.unexpected_count for o in rows], dtype="int64"),
                "examples": [o.examples for o in rows],
                "meaning": [o.meaning for o in rows],
            }
        )

    def raise_for_failures(self) -> None:
        if not self.success:
            raise ValidationFailed(self.suite, self)


def _run_suite(suite_name: str, frame: pd.DataFrame, expectations: list[tuple[Any, str]]) -> ValidationReport:
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}  # type: ignore[assignment]
    batch = (
        context.data_sources.add_pandas("qflow")
        .add_dataframe_asset(suite_name)
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    suite = gx.ExpectationSuite(name=suite_name)
    for expectation, meaning in expectations:
        # The human meaning rides in the expectation's meta so it comes back with its result.
        expectation.meta = {**(expectation.meta or {}), "meaning": meaning}
        suite.add_expectation(expectation)
    result = batch.validate(suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5})
    outcomes = []
    for item in result.results:
        config = item.expectation_config
        if config is None:  # GX attaches it to every suite result; this guards the Optional type
            continue
        kwargs = config.kwargs
        column = kwargs.get("column") or ",".join(
            str(c) for c in kwargs.get("column_list") or [kwargs.get("column_A"), kwargs.get("column_B")] if c
        )
        examples = item.result.get("partial_unexpected_list") or []
        outcomes.append(
            ExpectationOutcome(
                expectation=config.type,
                column=column,
                success=bool(item.success),
                unexpected_count=int(item.result.get("unexpected_count") or 0),
                examples=", ".join(repr(_plain(x)) for x in examples[:EXAMPLE_COUNT]),
                meaning=str((config.meta or {}).get("meaning", "")),
            )
        )
    return ValidationReport(suite_name, tuple(outcomes))


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return tuple(_plain(v) for v in value)
    return value.item() if hasattr(value, "item") else value


def validate_graph(edges: pd.DataFrame, n_nodes: int) -> ValidationReport:
    """The graph suite: at least one edge, finite non-null weights, no self-loops (canonical
    edges have u < v), node ids in [0, n_nodes), no duplicate edges."""
    import great_expectations as gx

    x = gx.expectations
    last_id = max(n_nodes - 1, 0)
    expectations: list[tuple[Any, str]] = [
        (
            x.ExpectTableRowCountToBeBetween(min_value=1),
            "the graph has no edges (or no nodes); nothing to cut",
        ),
        (x.ExpectColumnValuesToNotBeNull(column="weight"), "edge weights must not be NaN or missing"),
        (
            x.ExpectColumnValuesToBeBetween(column="weight", min_value=-1e300, max_value=1e300),
            "edge weights must be finite numbers (no infinities)",
        ),
        (
            x.ExpectColumnPairValuesAToBeGreaterThanB(column_A="v", column_B="u", or_equal=False),
            "self-loops (u == v) are not allowed in MaxCut",
        ),
        (x.ExpectCompoundColumnsToBeUnique(column_list=["u", "v"]), "each edge may appear only once"),
    ]
    for column in ("u", "v"):
        expectations.append(
            (
                x.ExpectColumnValuesToBeBetween(column=column, min_value=0, max_value=last_id),
                f"node ids must be in [0, n_nodes) = [0, {n_nodes})",
            )
        )
    return _run_suite("graph", edges, expectations)
