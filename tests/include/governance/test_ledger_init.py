"""`qflow ledger init` (docker-compose's airflow-init runs it): the ledger database and its tables,
on the real local PostgreSQL (a throwaway database) and on SQLite."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from include.cli import main
from include.governance.ledger import LEDGER_TABLES, init_ledger, ledger_engine

ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def test_init_creates_the_postgresql_database_and_tables_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect():
            pass
    except Exception as exc:
        pytest.skip(f"no PostgreSQL at 127.0.0.1:5432 ({type(exc).__name__}); the CI machine has one")
    name = f"qflow_ledger_{uuid.uuid4().hex[:10]}"
    url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    try:
        monkeypatch.setenv("QFLOW_LEDGER_URL", url)
        assert main(["ledger", "init"]) == 0
        out = capsys.readouterr().out
        assert f"created database '{name}'" in out and "created tables" in out
        assert set(LEDGER_TABLES) <= set(sa.inspect(ledger_engine(url)).get_table_names())
        assert init_ledger(url) == ["ledger ready: nothing to do"]  # the second init (a restart) changes nothing
    finally:
        ledger_engine(url).dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def test_init_on_sqlite_creates_the_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    assert init_ledger(url)[0].startswith("created tables")
    assert set(LEDGER_TABLES) <= set(sa.inspect(ledger_engine(url)).get_table_names())
