"""The read side's SQL seam: statements rewritten for psycopg, DDL per dialect, upserts."""

from __future__ import annotations

import pytest

from infrastructure.sql import POSTGRES, SQLITE, translate
from projections.projectors import upsert
from projections.schema import AUDIT, POSITIONS_DDL


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELECT a FROM t WHERE b = ? AND c IN (?, ?)",
     "SELECT a FROM t WHERE b = %s AND c IN (%s, %s)"),
    ("SELECT '?' || ?", "SELECT '?' || %s"),
    ('SELECT "odd?name" FROM t WHERE x = ?', 'SELECT "odd?name" FROM t WHERE x = %s'),
    ("SELECT 'it''s ?' WHERE x = ?", "SELECT 'it''s ?' WHERE x = %s"),
    ("SELECT 1 WHERE t LIKE 'lock.%' AND n = ?", "SELECT 1 WHERE t LIKE 'lock.%%' AND n = %s"),
    ("SELECT 5 % 2", "SELECT 5 %% 2"),
    ("SELECT 1", "SELECT 1"),
])
def test_statements_are_rewritten_for_psycopg(sql: str, expected: str) -> None:
    assert translate(sql) == expected
    assert translate(sql) is translate(sql)  # rewritten once


def test_postgresql_ddl_has_64_bit_integers_and_code_point_text() -> None:
    assert POSTGRES.ddl(POSITIONS_DDL) == (
        'CREATE TABLE IF NOT EXISTS projection_positions ( name TEXT COLLATE "C" PRIMARY KEY,'
        " version BIGINT NOT NULL, position BIGINT NOT NULL, updated_at TEXT COLLATE \"C\")")
    events = POSTGRES.ddl(AUDIT.ddl[0])
    assert "id BIGINT PRIMARY KEY" in events and "INTEGER" not in events
    assert "stack_id TEXT COLLATE \"C\" NOT NULL" in events
    assert POSTGRES.ddl(AUDIT.ddl[1]) == AUDIT.ddl[1]  # an index: nothing to change
    assert SQLITE.ddl(AUDIT.ddl[0]) == AUDIT.ddl[0]  # on SQLite, `id INTEGER` is the rowid


def test_an_upsert_updates_every_column_but_the_key() -> None:
    assert upsert("t", "a, b, c, d", "a, b") == (
        "INSERT INTO t (a, b, c, d) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (a, b) DO UPDATE SET c = excluded.c, d = excluded.d")
