"""The portfolio stage functions against the real local SeaweedFS, on skfolio's real prices."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from include.data.validation import ValidationFailed
from include.governance.ledger import JobLedger
from include.pipelines.portfolio import (
    PortfolioParams,
    run_pipeline,
    stage_encode,
    stage_model,
    stage_prices,
    stage_validate,
)
from include.problems.maxcut import ProblemSpecError
from include.problems.portfolio import load_sp500
from include.store.artifacts import ArtifactStore
from include.store.lineage import verify

SMALL = PortfolioParams(n_assets=6, k=3, reps=1, shots=256, max_iterations=10, seed=3)
LATER_STAGES = ("/returns/", "/model/", "/encode/", "/optimise/", "/baselines/", "/summary/")


def upload_csv(store: ArtifactStore, prefix: str, frame: pd.DataFrame) -> str:
    uri = store.uri(f"{prefix}/upload/prices.csv")
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    store.put_bytes(uri, buffer.getvalue().encode())
    return uri


@pytest.fixture(scope="module")
def sp500() -> pd.DataFrame:
    return load_sp500()


def test_the_whole_pipeline_on_real_prices(
    store: ArtifactStore, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QFLOW_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    summary_ref = run_pipeline(store, prefix, SMALL)
    base = store.uri(prefix)
    written = set(store.list_uris(base + "/"))
    for stage in ("prices", "validation", "returns", "model", "encode", "optimise", "baselines", "result", "summary"):
        assert f"{base}/{stage}/manifest.json" in written, stage
    assert verify(store, str(summary_ref.manifest_uri)) == []  # every object in the lineage re-hashes to its record
    summary = store.read_table(summary_ref).iloc[0]
    assert summary["portfolio_tickers"] == "AAPL,AMD,BAC,BBY,CVX,GE"
    assert summary["qaoa_feasible"] and summary["qaoa_selection"].count(",") == 2
    assert summary["qaoa_objective"] >= summary["exact_objective"] - 1e-12
    assert 0 <= summary["approximation_gap"] <= 1
    assert summary["mean_variance_objective"] <= summary["exact_objective"] + 1e-9  # the continuous lower bound
    assert summary["quantum_value_added"] == pytest.approx(
        summary["best_classical_objective"] - summary["qaoa_objective"]
    )
    assert summary["random_feasible_probability"] == pytest.approx(math.comb(6, 3) / 64, abs=0.02)
    assert summary["qaoa_total_shots"] == SMALL.shots * summary["qaoa_iterations"]
    assert all(math.isfinite(summary[c]) for c in ("qaoa_oos_return", "qaoa_oos_volatility", "exact_oos_volatility"))
    result = store.read_table(store.uri(f"{prefix}/result/data.parquet")).set_index("method")
    assert set(result.index) == {
        "qaoa",
        "random_sampling",
        "exact",
        "greedy",
        "local_search",
        "simulated_annealing",
        "mean_variance",
    }
    assert result.loc["exact", "approximation_gap"] == 0
    encode = store.read_manifest(store.uri(f"{prefix}/encode/manifest.json"))["params"]
    assert encode["n_qubits"] == 6 and encode["penalty"] > encode["flip_bound"]
    model = store.read_manifest(store.uri(f"{prefix}/model/manifest.json"))["params"]
    assert model["estimation"][1] < model["holdout"][0] and model["covariance_estimator"].endswith("LedoitWolf")
    trace = store.read_table(store.uri(f"{prefix}/optimise/data.parquet"))
    assert 1 <= len(trace) <= SMALL.max_iterations and trace["feasible_probability"].between(0, 1).all()
    assert JobLedger().count() == len(trace)  # one job per evaluation, each in the ledger


def test_the_xy_mixer_samples_only_k_asset_selections(
    store: ArtifactStore, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QFLOW_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    params = PortfolioParams(**{**SMALL.__dict__, "mixer": "xy"})
    summary = store.read_table(run_pipeline(store, prefix, params)).iloc[0]
    assert summary["qaoa_feasible_probability"] == 1.0  # ideal Aer: the mixer never changes the count
    trace = store.read_table(store.uri(f"{prefix}/optimise/data.parquet"))
    assert (trace["feasible_probability"] == 1.0).all()
    assert store.read_manifest(store.uri(f"{prefix}/encode/manifest.json"))["params"]["mixer"] == "xy"


def test_encoding_is_byte_identical_for_the_same_inputs(store: ArtifactStore, prefix: str) -> None:
    refs = []
    for run in ("a", "b"):
        prices = stage_prices(store, f"{prefix}/{run}", SMALL)
        validation = stage_validate(store, f"{prefix}/{run}", prices, SMALL)
        model = stage_model(store, f"{prefix}/{run}", prices, validation, SMALL)
        refs.append((model, stage_encode(store, f"{prefix}/{run}", model, validation, SMALL)))
    assert refs[0][0].sha256 == refs[1][0].sha256 and refs[0][1].sha256 == refs[1][1].sha256


def _nan(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[frame.index[-5], "AMD"] = np.nan
    return frame


def _negative(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[frame.index[-7], "BAC"] = -3.0
    return frame


def _gap(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(index=frame.index[-40:-30])  # two weeks of rows missing


@pytest.mark.parametrize(
    ("change", "params", "message"),
    [
        (_nan, {}, "column 'AMD': prices must not be NaN"),
        (_negative, {}, "column 'BAC': prices must be positive"),
        (_gap, {}, "column 'gap_days': max_gap_days=7"),
        (lambda f: f.tail(200), {}, "lookback_days + holdout_days: 316 daily prices are needed"),
        (lambda f: f, {"tickers": "AAPL,MSFT,NOPE,KO", "n_assets": 4, "k": 2}, "on column 'tickers'"),
        (lambda f: f[["date", "AAPL", "AMD", "BAC"]], {"n_assets": 5, "k": 2}, "n_assets=5: the price table must hold"),
    ],
    ids=["nan", "non-positive", "gap", "too-few-days", "unknown-ticker", "too-few-assets"],
)
def test_bad_prices_stop_at_validation_naming_the_field_and_nothing_after_it_exists(
    store: ArtifactStore, prefix: str, sp500: pd.DataFrame, change, params, message: str
) -> None:
    frame = change(sp500.copy())
    params = PortfolioParams(**{**SMALL.__dict__, **params, "data_uri": upload_csv(store, prefix, frame)})
    prices = stage_prices(store, prefix, params)
    assert store.read_manifest(prices.uri)["inputs"][0]["uri"] == params.data_uri  # the upload, pinned
    with pytest.raises(ValidationFailed) as failed:
        stage_validate(store, prefix, prices, params)
    assert message in str(failed.value)
    assert failed.value.artifact is not None  # the stored report (its Data Docs link on the failed task)
    written = store.list_uris(store.uri(f"{prefix}/"))
    assert any(u.endswith("/validation/manifest.json") for u in written)
    assert not [u for u in written if any(stage in u for stage in LATER_STAGES)]
    with pytest.raises(ProblemSpecError, match="is not a passed validation"):
        stage_model(store, prefix, prices, failed.value.artifact, params)


def test_an_unknown_ticker_is_named_in_the_failure(store: ArtifactStore, prefix: str) -> None:
    params = PortfolioParams.from_mapping({"tickers": "AAPL, msft, TSLA", "n_assets": 3, "k": 2})
    with pytest.raises(ValidationFailed) as failed:
        stage_validate(store, prefix, stage_prices(store, prefix, params), params)
    outcome = [o for o in failed.value.report.failures if o.column == "tickers"]
    assert len(outcome) == 1 and outcome[0].examples == "'TSLA'"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"n_assets": 6, "k": 7}, "k=7: choose between 1 and n_assets=6"),
        ({"k": 0}, "k=0: choose between 1"),
        ({"n_assets": 21}, "n_assets=21"),
        ({"tickers": "AAPL,KO", "n_assets": 3}, "lists 2 ticker(s) but n_assets=3"),
        ({"risk_aversion": -1}, "risk_aversion=-1"),
        ({"lookback_days": 10}, "lookback_days=10"),
        ({"holdout_days": 1}, "holdout_days=1"),
        ({"mixer": "yz"}, "mixer='yz' is not one of"),
        ({"mixer": "xy", "n_assets": 4, "k": 4}, "mixer='xy' with k = n_assets = 4"),
        ({"data_uri": "/tmp/prices.csv"}, "data_uri='/tmp/prices.csv' must be an s3://"),
        ({"data_uri": "s3://qflow/prices.xlsx"}, "name the object *.parquet or *.csv"),
        ({"loop_backend": "nowhere:qpu"}, "loop_backend='nowhere:qpu'"),
        ({"riskaversion": 1}, "unknown parameter(s) ['riskaversion']"),
    ],
)
def test_bad_params_are_refused_naming_the_field(values: dict[str, object], message: str) -> None:
    with pytest.raises(ProblemSpecError) as refused:
        PortfolioParams.from_mapping(values)
    assert message in str(refused.value)
