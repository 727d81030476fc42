"""The operations view's data requests at scale: each `/qflow/ops/api/<section>` (and the page)
timed through Airflow's real api-server with 10,000 jobs and 10,000 spend entries in its ledger,
side by side with the same requests against a ledger of 100 of each — target ≤ 1 s per request.

Two fresh SQLite ledgers (or PostgreSQL databases with ``--postgres``), filled by a **bulk insert
into the real tables** (``include.governance.ledger.jobs``, ``budget.spend``, ``fallback``'s,
``quantum_value``'s and ``pending``'s — the write APIs would take one to three transactions per
row, minutes for 10,000; the rows have the shapes those APIs write: the taxonomy's error texts,
RESERVED/SETTLED/RELEASED spend, one fallback row per task). Per size: jobs spread over the last
10 days on 4 backends (~88% DONE, 6% ERROR across the error classes, 2% CANCELLED, 4% in flight),
spend over 3 environments and the last 40 days (85% SETTLED, 5% RESERVED, 10% RELEASED), and in
proportion 1 fallback per 100 jobs, 1 quantum-value record per 20 (5 workloads), 1 pending item
per 200. The ledgers are opened once through ``Operations`` first (tables, indexes), as a
deployed ledger would be.

One api-server per ledger (the ledger URL is per process), both up at once; requests alternate
between the two and across sections, ``--repeats`` each after one untimed warm-up request per
section and server (the first request opens the ledger). Printed per section: median and max
wall time of the HTTP request (token in the header, JSON decoded), 100 vs 10,000, the ratio, and
whether the 10,000 case meets the 1 s target. ``nightly`` reads the artifact store, not the
ledger (SeaweedFS must be up: ``scripts/s3.sh start``).

Usage: python bench/ops_view.py [--rows 10000] [--small 100] [--repeats 20] [--postgres]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

from include.governance.budget import spend
from include.governance.fallback import fallback_events
from include.governance.ledger import jobs, ledger_engine
from include.governance.operations import Operations
from include.governance.pending import pending_work
from include.governance.quantum_value import records
from include.quantum.backends.errors import (
    AuthQuantumError,
    QuotaQuantumError,
    StructuralQuantumError,
    TransientQuantumError,
)
from operators.ops_view import SECTIONS, URL_PREFIX
from tests.api_server import ApiServer

POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432"
BACKENDS = ("jobservice:fake_manila", "aer:statevector", "ibm:ibm_brisbane", "ibm:fake_kolkata")
ERRORS = (
    str(TransientQuantumError("backend unavailable", code="1004")),
    "job j-1 ended ERROR: " + str(StructuralQuantumError("invalid circuit", code="1003")),
    str(AuthQuantumError("token rejected", code="401")),
    str(QuotaQuantumError("spend today budget 5, already used 5")),
    "RuntimeError: the worker died",
)
ENVIRONMENTS = ("dev", "qa", "prod")
WIDTHS = (22, 10, 24, 10, 8, 9)  # the printed table's columns


def fill(url: str, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    Operations(url)  # every table and index, as a deployed ledger has them
    engine = ledger_engine(url)
    now = datetime.now(UTC)
    job_rows, spend_rows = [], []
    for i in range(n):
        created = now - timedelta(seconds=rng.uniform(0, 10 * 86400))
        roll = rng.random()
        state, error = "DONE", None
        cost: float | None = round(rng.uniform(0, 0.05), 6)
        if roll < 0.06:
            state, error, cost = "ERROR", rng.choice(ERRORS), None
        elif roll < 0.08:
            state, error, cost = "CANCELLED", str(TransientQuantumError("still waiting after 900 s")), None
        elif roll < 0.12:
            state, cost = rng.choice(["SUBMITTING", "SUBMITTED"]), None
        key = f"bench-{i}-{uuid.uuid4().hex[:8]}"
        job_rows.append(
            dict(
                idempotency_key=key,
                backend=rng.choice(BACKENDS),
                provider_job_id=None if state == "SUBMITTING" else f"job-{i}",
                state=state,
                shots=1024,
                cost=cost,
                error=error,
                result_uri=None,
                created_at=created,
                updated_at=created + timedelta(seconds=rng.uniform(1, 600))
                if state not in ("SUBMITTING", "SUBMITTED")
                else created,
            )
        )
        booked = now - timedelta(seconds=rng.uniform(0, 40 * 86400))
        roll = rng.random()
        estimated = round(rng.uniform(0, 0.001), 6)
        spend_state = "SETTLED" if roll < 0.85 else "RESERVED" if roll < 0.90 else "RELEASED"
        spend_rows.append(
            dict(
                reservation_key=key,
                environment=rng.choice(ENVIRONMENTS),
                backend=rng.choice(BACKENDS),
                shots=1024,
                estimated_cost=estimated,
                settled_cost=estimated * rng.uniform(0.5, 1.5) if spend_state == "SETTLED" else None,
                state=spend_state,
                day=booked.strftime("%Y-%m-%d"),
                month=booked.strftime("%Y-%m"),
                created_at=booked,
            )
        )
    fallback_rows = [
        dict(
            dag_id="qaoa_maxcut",
            run_id=f"run-{i}",
            task_id="sample",
            backend=rng.choice(BACKENDS),
            tier=rng.choice([2, 3, 4]),
            tier_name="classical",
            reason="classical heuristic after: TransientQuantumError: [transient 503] outage",
            attempts="[]",
            recorded_at=now - timedelta(seconds=rng.uniform(0, 10 * 86400)),
        )
        for i in range(max(1, n // 100))
    ]
    value_rows = [
        dict(
            workload=f"workload-{i % 5}",
            run_id=f"run-{i}",
            quantum_objective=q,
            classical_objective=10.0,
            value_added=q - 10.0,
            recorded_at=now - timedelta(seconds=(n // 20 - i) * 60),
        )
        for i in range(max(5, n // 20))
        for q in [rng.uniform(8, 11)]
    ]
    pending_rows = [
        dict(
            dag_id="qaoa_maxcut",
            run_id=f"run-{i}",
            task_id="sample",
            conf="{}",
            reason="outage",
            state=rng.choice(["OPEN", "RERUN", "DONE", "ABANDONED"]),
            created_at=now,
            attempts=rng.randint(0, 3),
            history="[]",
        )
        for i in range(max(1, n // 200))
    ]
    with engine.begin() as conn:
        for table, rows in (
            (jobs, job_rows),
            (spend, spend_rows),
            (fallback_events, fallback_rows),
            (records, value_rows),
            (pending_work, pending_rows),
        ):
            for start in range(0, len(rows), 2000):
                conn.execute(table.insert(), rows[start : start + 2000])
    with engine.connect() as conn:
        counted = {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() for t in (jobs, spend)}
    assert counted == {jobs.name: n, spend.name: n}, counted


def postgres_database(name: str) -> str:
    admin = sa.create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{POSTGRES}/{name}"


def drop_databases(names: list[str]) -> None:
    admin = sa.create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000, help="jobs and spend entries in the large ledger")
    parser.add_argument("--small", type=int, default=100, help="jobs and spend entries in the small ledger")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--postgres", action="store_true", help="ledgers on PostgreSQL 127.0.0.1:5432")
    args = parser.parse_args()
    sizes = (args.small, args.rows)
    with tempfile.TemporaryDirectory(prefix="qflow-ops-bench-") as tmp:
        root = Path(tmp)
        urls = {}
        for n in sizes:
            urls[n] = (
                postgres_database(f"qflow_ops_bench_{n}")
                if args.postgres
                else f"sqlite:///{root / f'ledger-{n}.sqlite'}"
            )
            started = time.perf_counter()
            fill(urls[n], n)
            took = time.perf_counter() - started
            print(f"ledger with {n:,} jobs + {n:,} spend entries filled in {took:.1f} s ({urls[n].split(':')[0]})")
        servers = {n: ApiServer(root / f"server-{n}", extra_env={"QFLOW_LEDGER_URL": urls[n]}) for n in sizes}
        try:
            for server in servers.values():
                server.start()
            clients = {
                n: httpx.Client(
                    base_url=s.base_url + URL_PREFIX, headers={"Authorization": f"Bearer {s.token()}"}, timeout=60
                )
                for n, s in servers.items()
            }
            routes = [("page", "/"), *((s, f"/api/{s}") for s in SECTIONS)]
            first: dict[tuple[str, int], float] = {}
            for name, route in routes:
                for n in sizes:
                    started = time.perf_counter()
                    response = clients[n].get(route)
                    first[(name, n)] = time.perf_counter() - started
                    if response.status_code != 200:
                        raise SystemExit(
                            f"{route} on the {n}-row ledger answered {response.status_code}: {response.text[:300]}"
                        )
            times: dict[tuple[str, int], list[float]] = {(name, n): [] for name, _ in routes for n in sizes}
            for _ in range(args.repeats):
                for name, route in routes:
                    for n in sizes:
                        started = time.perf_counter()
                        response = clients[n].get(route)
                        if name != "page":
                            json.loads(response.content)
                        times[(name, n)].append(time.perf_counter() - started)
                        assert response.status_code == 200, response.text[:300]
            small, large = sizes
            print(f"\nper request, {args.repeats} repeats each (interleaved), through the api-server with a token")
            head = [f"{small:,} rows: median", "max", f"{large:,} rows: median", "max", "ratio", "first"]
            print(
                f"{'request':<16}" + "".join(f"{h:>{w}}" for h, w in zip(head, WIDTHS, strict=True)) + "  target ≤ 1 s"
            )
            for name, _ in routes:
                s_med, s_max = statistics.median(times[(name, small)]), max(times[(name, small)])
                l_med, l_max = statistics.median(times[(name, large)]), max(times[(name, large)])
                met = "met" if l_max <= 1.0 else ("median met, max not" if l_med <= 1.0 else "NOT met")
                cells = [*(f"{t * 1000:.1f} ms" for t in (s_med, s_max, l_med, l_max)), f"{l_med / s_med:.2f}x"]
                cells.append(f"{first[(name, large)] * 1000:.0f} ms")
                print(f"{name:<16}" + "".join(f"{c:>{w}}" for c, w in zip(cells, WIDTHS, strict=True)) + f"  {met}")
            print(
                "(first = the first request of the large ledger's server, which opens the ledger; not in the medians)"
            )
        finally:
            for server in servers.values():
                server.stop()
            if args.postgres:
                drop_databases([f"qflow_ops_bench_{n}" for n in sizes])


if __name__ == "__main__":
    main()
