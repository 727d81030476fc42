"""The raw-table, features and results suites on crafted bad inputs (the graph suite has its own)."""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import pandas as pd
import pytest

from include.data.datasets import load_builtin
from include.data.validation import (
    RawTableSchema,
    ValidationFailed,
    validate_features,
    validate_raw_table,
    validate_results,
)
from include.store.artifacts import ArtifactStore

IRIS = load_builtin("iris", 2)
SCHEMA = RawTableSchema(IRIS.feature_columns)


def failure_text(report) -> str:
    with pytest.raises(ValidationFailed) as info:
        report.raise_for_failures()
    return str(info.value)


def test_a_clean_table_passes_and_renders_data_docs() -> None:
    report = validate_raw_table(IRIS.frame, SCHEMA)
    assert report.success, report.failures
    html = report.data_docs_html
    assert html.startswith("<!DOCTYPE html>") and "Great Expectations" in html
    assert "petal_width_cm" in html and "values must never be null" in html


def changed(column: str, row: int, value: object) -> pd.DataFrame:
    frame = IRIS.frame.copy()
    if isinstance(value, str):
        frame[column] = frame[column].astype(object)
    frame.loc[row, column] = value
    return frame


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (changed("petal_width_cm", 4, np.nan), ["not_be_null on column 'petal_width_cm'", "nan"]),
        (
            changed("petal_width_cm", 4, np.inf),
            ["be_between on column 'petal_width_cm'", "infinities", "inf"],
        ),
        (changed("sepal_width_cm", 7, "3,2"), ["match_regex on column 'sepal_width_cm'", "'3,2'", "numeric"]),
        (IRIS.frame.iloc[:0], ["at least 10 rows", "at least 2 classes"]),
        (IRIS.frame[IRIS.frame["label"] == 1], ["at least 2 classes in the label column"]),
        (IRIS.frame.drop(columns=["sepal_length_cm"]), ["columns_to_match_set", "missing sepal_length_cm"]),
        (IRIS.frame.assign(comment="x"), ["columns_to_match_set", "unexpected comment"]),
        (changed("sample_id", 5, 4), ["be_unique on column 'sample_id'", "duplicate ids"]),
        (
            pd.concat([IRIS.frame[IRIS.frame["label"] == 0], IRIS.frame[IRIS.frame["label"] == 1].head(2)]),
            ["rarest class", "class 1 has 3.8% of rows"],
        ),
    ],
    ids=[
        "nan",
        "infinity",
        "string-in-numeric",
        "empty",
        "one-class",
        "missing-column",
        "extra-column",
        "duplicate-id",
        "imbalanced",
    ],
)
def test_bad_raw_tables_fail_naming_expectation_column_and_examples(frame: pd.DataFrame, expected: list[str]) -> None:
    report = validate_raw_table(frame, SCHEMA)
    text = failure_text(report)
    for fragment in expected:
        assert fragment in text, text
    assert "no quantum work was submitted" in text
    assert (~report.frame()["success"]).sum() == len(report.failures)


def test_extra_columns_can_be_allowed_explicitly() -> None:
    schema = RawTableSchema(IRIS.feature_columns, allow_extra_columns=True)
    assert validate_raw_table(IRIS.frame.assign(comment="x"), schema).success


def features_frame(values: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sample_id": range(len(values)),
            "label": [i % 2 for i in range(len(values))],
            "split": ["train", "test"] * (len(values) // 2),
            "f0": values,
        }
    )


def test_features_must_lie_in_the_encoding_range() -> None:
    assert validate_features(features_frame([0.0, 1.0, 2.0, math.pi]), ["f0"], (0.0, math.pi)).success
    text = failure_text(validate_features(features_frame([0.0, 1.0, 4.0, -1.0]), ["f0"], (0.0, math.pi)))
    assert "be_between on column 'f0'" in text and "[0, 3.14159]" in text and "4.0" in text


def results_frame(**overrides: list[float]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "counts_total": [100, 100],
            "p0": [0.25, 1.0],
            "p1": [0.75, 0.0],
            "probability_sum": [1.0, 1.0],
            "margin": [0.5, 1.0],
        }
    )
    for column, values in overrides.items():
        frame[column] = values
    return frame


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"counts_total": [100, 99]}, "counts must sum to the shots requested (100)"),
        ({"probability_sum": [1.0, 1.01]}, "sum to 1 within 1e-09"),
        ({"p0": [1.2, 1.0]}, "probabilities must lie in [0, 1]"),
        ({"margin": [1.5, 1.0]}, "within the observable's bounds [-1, 1]"),
    ],
    ids=["counts-vs-shots", "probability-sum", "probability-range", "expectation-bounds"],
)
def test_results_suite(overrides: dict[str, list[float]], expected: str) -> None:
    def check(frame: pd.DataFrame):
        return validate_results(frame, 100, ["p0", "p1"], bounded_columns={"margin": (-1.0, 1.0)})

    assert check(results_frame()).success
    assert expected in failure_text(check(results_frame(**overrides)))


def test_a_data_docs_render_failure_is_logged_marked_and_said_on_the_stored_page(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, store: ArtifactStore, prefix: str
) -> None:
    """GX's renderer failing is a fault nothing here can cause, so it is forced: the validation
    still stands, but the report, the manifest and the page all say the docs are a stub."""
    from great_expectations.render.renderer import ValidationResultsPageRenderer

    from include.pipelines.vqc_classifier import DATA_DOCS, _store_validation

    assert validate_raw_table(IRIS.frame, SCHEMA).data_docs == "rendered"

    def explode(self: object, *args: object, **kwargs: object) -> None:
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(ValidationResultsPageRenderer, "render", explode)
    caplog.set_level(logging.WARNING, logger="include.data.validation")
    report = validate_raw_table(IRIS.frame, SCHEMA)
    assert report.success  # the validation is not lost
    assert report.data_docs == "render failed: RuntimeError: renderer exploded"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("renderer exploded" in r.getMessage() and "raw_table" in r.getMessage() for r in warnings), caplog.text
    page = report.data_docs_html
    assert "Data Docs rendering failed" in page and "stub page" in page and "renderer exploded" in page
    assert "expect_column_values_to_not_be_null" in page  # the outcomes are still on it

    ref = _store_validation(store, prefix, "validation_raw", report, [], {}, time.perf_counter())
    params = store.read_manifest(ref.uri)["params"]
    assert params["data_docs"] == "render failed: RuntimeError: renderer exploded"
    stored = store.read_attachment(ref, DATA_DOCS).decode()
    assert "Data Docs rendering failed" in stored
