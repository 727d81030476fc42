"""Great Expectations suites that gate quantum work: a failed suite stops the run first.

Suites: ``graph`` (MaxCut edge lists), ``prices`` (a portfolio's daily price window: the asked-for
tickers present, enough assets and history, positive non-null prices, no date gap past a limit),
``raw_table`` (a classifier's input table: schema and
dtypes, nulls, finite ranges, duplicate ids, class count and balance, minimum row count),
``features`` (preprocessed features inside the encoding's angle range) and ``results``
(counts sum to shots, probabilities in [0, 1] summing to 1, expectation values within the
observable's bounds). All run through ``_run_suite``, which also renders GX's Data Docs HTML
for the validation (stored beside the report as an artifact attachment).

GX is imported lazily (it takes seconds), so DAG parsing and light imports stay fast.
"""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

# GX would otherwise try to phone home and draw progress bars in every task log.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

EXAMPLE_COUNT = 5
logger = logging.getLogger(__name__)


class ValidationFailed(Exception):
    """Data failed its suite; the message lists each failed expectation with examples."""

    def __init__(self, suite: str, report: ValidationReport) -> None:
        self.report = report
        self.artifact: Any = None  # the stored report's ArtifactRef, when the caller stored one
        lines = [f"validation suite {suite!r} failed {len(report.failures)} expectation(s):"]
        lines += [f"  - {failure.describe()}" for failure in report.failures]
        lines.append("Fix the input data and re-run; no quantum work was submitted.")
        super().__init__("\n".join(lines))


def raise_with_stored_report(report: ValidationReport, stored: Any) -> None:
    """Stop the run on a failed suite; the exception carries the stored report's ref (``stored``),
    so the operator links its Data Docs even though the task fails."""
    try:
        report.raise_for_failures()
    except ValidationFailed as exc:
        exc.artifact = stored
        raise


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
    data_docs_html: str = field(default="", compare=False, repr=False)
    # "rendered", or "render failed: <error>" when the stored page is only a stub saying so.
    data_docs: str = field(default="rendered", compare=False)

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


def _run_suite(
    suite_name: str,
    frame: pd.DataFrame,
    expectations: list[tuple[Any, str]],
    extra: Sequence[ExpectationOutcome] = (),
) -> ValidationReport:
    """Validate ``frame`` against ``expectations`` (each with its human meaning). ``extra``
    outcomes are checks GX has no expectation for (computed by the caller), reported alike."""
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
        examples = item.result.get("partial_unexpected_list") or _mismatched(item.result)
        meaning = str((config.meta or {}).get("meaning", ""))
        raised = (item.exception_info or {}).get("raised_exception") if item.exception_info else False
        if raised:  # GX could not evaluate it (e.g. a range check on text): say so, it is a failure
            message = str((item.exception_info or {}).get("exception_message", "")).splitlines()[:1]
            meaning = f"{meaning} (GX could not evaluate it: {''.join(message)})"
        outcomes.append(
            ExpectationOutcome(
                expectation=config.type,
                column=column,
                success=bool(item.success),
                unexpected_count=int(item.result.get("unexpected_count") or 0),
                examples=", ".join(repr(_plain(x)) for x in examples[:EXAMPLE_COUNT]),
                meaning=meaning,
            )
        )
    outcomes.extend(extra)
    page, status = _data_docs(result, suite_name, outcomes)
    return ValidationReport(suite_name, tuple(outcomes), data_docs_html=page, data_docs=status)


def _data_docs(result: Any, suite_name: str, outcomes: Sequence[ExpectationOutcome]) -> tuple[str, str]:
    """GX's Data Docs page for one validation result, as a standalone HTML document, and its
    status. A rendering failure never loses the validation itself, but it is not hidden either:
    it is logged, the status says ``render failed: ...`` (callers store it with the report), and
    the stub page says so at the top, followed by the outcomes as a plain table."""
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    try:
        return str(DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(result))), "rendered"
    except Exception as exc:
        status = f"render failed: {type(exc).__name__}: {exc}"
        logger.warning("GX Data Docs for suite %r could not be rendered; storing a stub page: %s", suite_name, status)
        return _stub_page(suite_name, status, outcomes), status


def _stub_page(suite_name: str, status: str, outcomes: Sequence[ExpectationOutcome]) -> str:
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in (o.expectation, o.column, "passed" if o.success else "FAILED", o.unexpected_count, o.examples)
        )
        + "</tr>"
        for o in outcomes
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>Data Docs NOT rendered: {html.escape(suite_name)}</title></head><body>"
        "<div style='border:3px solid #b00020;background:#fdecea;padding:1em;font-size:1.2em'>"
        f"<strong>Data Docs rendering failed</strong> for suite {html.escape(suite_name)!s}: this is a stub page, "
        f"not Great Expectations' report.<br><code>{html.escape(status)}</code></div>"
        "<p>The validation itself ran; its outcomes:</p>"
        "<table border='1'><tr><th>expectation</th><th>column</th><th>result</th>"
        f"<th>unexpected</th><th>examples</th></tr>{rows}</table></body></html>"
    )


def _mismatched(result: dict[str, Any]) -> list[str]:
    """Column-set expectations report missing/unexpected columns under details.mismatched."""
    mismatched = (result.get("details") or {}).get("mismatched") or {}
    found = [f"missing {c}" for c in mismatched.get("missing") or []]
    found += [f"unexpected {c}" for c in mismatched.get("unexpected") or []]
    return found


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return tuple(_plain(v) for v in value)
    return value.item() if hasattr(value, "item") else value


def validate_prices(
    window: pd.DataFrame, assets: Sequence[str], *, n_assets: int, rows_needed: int, max_gap_days: int
) -> ValidationReport:
    """The price suite, on the window a portfolio run estimates from and holds out (every ticker
    column of the table, the most recent ``rows_needed`` rows, ``gap_days`` = calendar days since
    the previous row): the run's ``assets`` are columns of the table, the table has at least
    ``n_assets`` tickers and ``rows_needed`` daily prices, dates are unique and increasing with no
    gap over ``max_gap_days``, and every price of the run's assets is present and positive."""
    import great_expectations as gx

    x = gx.expectations
    tickers = [c for c in window.columns if c not in ("date", "gap_days")]
    expectations: list[tuple[Any, str]] = [
        (
            x.ExpectTableColumnCountToBeBetween(min_value=n_assets + 2, max_value=None),
            f"n_assets={n_assets}: the price table must hold at least that many tickers (it has {len(tickers)})",
        ),
        (
            x.ExpectTableRowCountToBeBetween(min_value=rows_needed),
            f"lookback_days + holdout_days: {rows_needed} daily prices are needed (one more than the returns used); "
            f"the table has {len(window)}; lower them or supply a longer history",
        ),
        (x.ExpectColumnValuesToBeUnique(column="date"), "one row per trading day (duplicate dates)"),
        (x.ExpectColumnValuesToBeIncreasing(column="date", strictly=True), "dates must increase"),
        (
            x.ExpectColumnValuesToBeBetween(column="gap_days", min_value=0, max_value=max_gap_days),
            f"max_gap_days={max_gap_days}: no more than {max_gap_days} calendar days between two rows "
            "(a longer gap means missing prices)",
        ),
    ]
    for asset in assets:
        if asset not in window.columns:
            continue  # reported once, by the column-set expectation above
        expectations += [
            (x.ExpectColumnValuesToNotBeNull(column=asset), "prices must not be NaN or missing"),
            (
                x.ExpectColumnValuesToBeBetween(column=asset, min_value=0, strict_min=True),
                "prices must be positive",
            ),
        ]
    missing = [a for a in assets if a not in tickers]
    # GX's column-set check lists every other column as "unexpected" too; this names only the unknown tickers.
    known = ExpectationOutcome(
        expectation="qflow_expect_tickers_in_price_table",
        column="tickers",
        success=not missing,
        unexpected_count=len(missing),
        examples=", ".join(repr(t) for t in missing[:EXAMPLE_COUNT]),
        meaning=f"every ticker asked for must be a column of the price table (it has {', '.join(tickers)}); "
        "fix the tickers Param or the table",
    )
    return _run_suite("prices", window, expectations, [known])


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


NUMERIC_TYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
NUMERIC_TYPES += ["float16", "float32", "float64", "Int64", "Float64"]
NUMBER_PATTERN = r"^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*$"
FINITE = 1e300


@dataclass(frozen=True)
class RawTableSchema:
    """What a classifier's raw input table must look like."""

    feature_columns: tuple[str, ...]
    label_column: str = "label"
    id_column: str = "sample_id"
    min_rows: int = 10
    min_classes: int = 2
    min_class_share: float = 0.05  # the rarest class's share of rows
    allow_extra_columns: bool = False

    @property
    def columns(self) -> list[str]:
        return [c for c in (self.id_column, *self.feature_columns, self.label_column) if c]


def validate_raw_table(frame: pd.DataFrame, schema: RawTableSchema) -> ValidationReport:
    """The raw-table suite: columns and dtypes, nulls, finite values, unique ids, at least
    ``min_classes`` classes with the rarest holding ``min_class_share`` of rows, ``min_rows``."""
    import great_expectations as gx

    x = gx.expectations
    expectations: list[tuple[Any, str]] = [
        (
            x.ExpectTableRowCountToBeBetween(min_value=schema.min_rows),
            f"at least {schema.min_rows} rows are needed to train and hold out a test split",
        ),
        (
            x.ExpectTableColumnsToMatchSet(column_set=schema.columns, exact_match=not schema.allow_extra_columns),
            "the table's columns must be exactly the declared id, features and label"
            + (" (extra columns allowed)" if schema.allow_extra_columns else "")
            + "; fix the table or the feature_columns / label_column parameters",
        ),
    ]
    present = set(frame.columns)
    for column in schema.feature_columns:
        if column not in present:
            continue  # the column-set expectation reports it
        if pd.api.types.is_numeric_dtype(frame[column]) and frame[column].dtype != bool:
            expectations += [
                (x.ExpectColumnValuesToNotBeNull(column=column), "feature values must not be NaN or missing"),
                (
                    x.ExpectColumnValuesToBeBetween(column=column, min_value=-FINITE, max_value=FINITE),
                    "feature values must be finite numbers (no infinities)",
                ),
            ]
        else:
            expectations += [
                (
                    x.ExpectColumnValuesToBeInTypeList(column=column, type_list=NUMERIC_TYPES),
                    f"feature columns must be numeric (found dtype {frame[column].dtype})",
                ),
                (
                    x.ExpectColumnValuesToMatchRegex(column=column, regex=NUMBER_PATTERN),
                    "a numeric column holds text that is not a number",
                ),
            ]
    if schema.id_column and schema.id_column in present:
        expectations += [
            (x.ExpectColumnValuesToNotBeNull(column=schema.id_column), "every row needs an id"),
            (
                x.ExpectColumnValuesToBeUnique(column=schema.id_column),
                "row ids must be unique (duplicate ids)",
            ),
        ]
    extra: list[ExpectationOutcome] = []
    if schema.label_column in present:
        label = schema.label_column
        expectations += [
            (x.ExpectColumnValuesToNotBeNull(column=label), "every row needs a class label"),
            (
                x.ExpectColumnUniqueValueCountToBeBetween(column=label, min_value=schema.min_classes),
                f"a classifier needs at least {schema.min_classes} classes in the label column",
            ),
        ]
        counts = frame[label].value_counts()
        if len(counts) >= 1:
            rarest, share = counts.index[-1], float(counts.iloc[-1] / counts.sum())
            extra.append(
                ExpectationOutcome(
                    expectation="qflow_expect_rarest_class_share_to_be_at_least",
                    column=label,
                    success=share >= schema.min_class_share or len(counts) < 2,
                    unexpected_count=0 if share >= schema.min_class_share else int(counts.iloc[-1]),
                    examples=f"class {_plain(rarest)!r} has {share:.1%} of rows",
                    meaning=f"classes must be balanced enough: the rarest class needs >= "
                    f"{schema.min_class_share:.0%} of rows (rebalance or drop the class)",
                )
            )
    return _run_suite("raw_table", frame, expectations, extra)


def validate_features(
    frame: pd.DataFrame, feature_columns: Sequence[str], angle_range: tuple[float, float]
) -> ValidationReport:
    """The preprocessed-features suite: every feature inside the encoding's angle range, labels
    present, both splits present."""
    import great_expectations as gx

    x = gx.expectations
    lo, hi = angle_range
    expectations: list[tuple[Any, str]] = [
        (x.ExpectTableRowCountToBeBetween(min_value=2), "no preprocessed rows: nothing to train on"),
        (
            x.ExpectTableColumnsToMatchSet(column_set=["sample_id", "label", "split", *feature_columns]),
            "the features table must have sample_id, label, split and the transform's outputs",
        ),
        (x.ExpectColumnValuesToNotBeNull(column="label"), "every row needs a class label"),
        (
            x.ExpectColumnDistinctValuesToEqualSet(column="split", value_set=["train", "test"]),
            "both a train and a test split must be present (and nothing else)",
        ),
    ]
    for column in feature_columns:
        expectations += [
            (x.ExpectColumnValuesToNotBeNull(column=column), "features must not be NaN after preprocessing"),
            (
                x.ExpectColumnValuesToBeBetween(column=column, min_value=lo, max_value=hi),
                f"features must lie in the encoding's angle range [{lo:g}, {hi:g}]",
            ),
        ]
    return _run_suite("features", frame, expectations)


def validate_results(
    frame: pd.DataFrame,
    shots: int,
    probability_columns: Sequence[str],
    *,
    tolerance: float = 1e-9,
    bounded_columns: dict[str, tuple[float, float]] | None = None,
) -> ValidationReport:
    """The results suite: ``counts_total`` equals ``shots`` on every row, each probability in
    [0, 1], ``probability_sum`` within ``tolerance`` of 1, and expectation values inside their
    observable's bounds (``bounded_columns``: column → (min, max) eigenvalue)."""
    import great_expectations as gx

    x = gx.expectations
    expectations: list[tuple[Any, str]] = [
        (x.ExpectTableRowCountToBeBetween(min_value=1), "no results to check"),
        (
            x.ExpectColumnValuesToBeBetween(column="counts_total", min_value=shots, max_value=shots),
            f"measured counts must sum to the shots requested ({shots})",
        ),
        (
            x.ExpectColumnValuesToBeBetween(column="probability_sum", min_value=1 - tolerance, max_value=1 + tolerance),
            f"class probabilities must sum to 1 within {tolerance:g}",
        ),
    ]
    for column in probability_columns:
        expectations.append(
            (
                x.ExpectColumnValuesToBeBetween(column=column, min_value=0.0, max_value=1.0),
                "probabilities must lie in [0, 1]",
            )
        )
    for column, (low, high) in (bounded_columns or {}).items():
        expectations.append(
            (
                x.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high),
                f"expectation values must lie within the observable's bounds [{low:g}, {high:g}]",
            )
        )
    return _run_suite("results", frame, expectations)
