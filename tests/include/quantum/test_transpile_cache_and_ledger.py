from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from include.governance.ledger import JobLedger
from include.problems.maxcut import GraphSpec, make_graph, maxcut_ising
from include.quantum.backends.aer import AerBackend
from include.quantum.circuits.qaoa import qaoa_ansatz
from include.quantum.transpile_cache import TranspileCache, TranspileSettings, cache_key
from include.store.artifacts import ArtifactStore


def test_transpile_cache_hits_memory_then_s3_across_processes(store: ArtifactStore, prefix: str) -> None:
    backend = AerBackend(noise_backend="fake_manila")
    circuit = qaoa_ansatz(maxcut_ising(make_graph(GraphSpec(4, "regular", 2, "unit", 1)), 4)[0], 1)
    settings = TranspileSettings(1, 5)
    cache = TranspileCache(store, prefix=f"{prefix}/cache")
    first, source1, _ = cache.get_or_transpile(circuit, backend.target(), backend.calibration_snapshot(), settings)
    again, source2, _ = cache.get_or_transpile(circuit, backend.target(), backend.calibration_snapshot(), settings)
    fresh = TranspileCache(store, prefix=f"{prefix}/cache")  # a new process would start here
    loaded, source3, _ = fresh.get_or_transpile(circuit, backend.target(), backend.calibration_snapshot(), settings)
    assert (source1, source2, source3) == ("miss", "memory", "s3")
    assert again is first and loaded == first
    # A rebuilt circuit (same structure) shares the key; other settings or calibration do not.
    rebuilt = qaoa_ansatz(maxcut_ising(make_graph(GraphSpec(4, "regular", 2, "unit", 1)), 4)[0], 1)
    key = cache_key(circuit, backend.target(), backend.calibration_snapshot(), settings)
    assert cache_key(rebuilt, backend.target(), backend.calibration_snapshot(), settings) == key
    assert cache_key(circuit, backend.target(), backend.calibration_snapshot(), TranspileSettings(2, 5)) != key
    assert cache_key(circuit, backend.target(), {"last_update_date": "later"}, settings) != key


def _ledgers() -> list[str]:
    return ["sqlite", "postgresql"]


@pytest.fixture(params=_ledgers())
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> JobLedger:
    if request.param == "sqlite":
        return JobLedger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    url = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
    try:
        engine = sa.create_engine(url)
        with engine.connect():
            pass
    except Exception as exc:
        pytest.skip(f"no PostgreSQL at 127.0.0.1:5432 ({type(exc).__name__}); the CI machine has one")
    return JobLedger(engine=engine)


def test_only_one_of_many_concurrent_claims_wins(ledger: JobLedger) -> None:
    key = f"key-{uuid.uuid4().hex}"
    winners: list[bool] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        winners.append(ledger.claim(key, "aer", 100)[1])

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert winners.count(True) == 1 and len(winners) == 8
    entry = ledger.update(key, provider_job_id="job-9", state="SUBMITTED")
    assert entry.provider_job_id == "job-9"
    again, won = ledger.claim(key, "aer", 100)
    assert not won and again.provider_job_id == "job-9"
    with pytest.raises(ValueError, match="cannot update"):
        ledger.update(key, shots=5)
