"""pytest fixtures for PostgreSQL: one throwaway server per test session, a new database per
test, and a server of its own for a test that stops it.

Where the server binaries are missing the tests are skipped with the reason, except under
`CI=true`, where they fail: CI must run them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NoReturn

import pytest

from tests.support.postgres import PostgresServer, ServerUnavailable


def _without_server(reason: str) -> NoReturn:
    if os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}:
        pytest.fail(f"PostgreSQL tests cannot run under CI: {reason}", pytrace=False)
    pytest.skip(reason)


def start_server() -> PostgresServer:
    """A started throwaway server, or a skip (a failure under CI) saying why there is none."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _without_server("psycopg is not installed (pip install -e '.[postgres]')")
    try:
        server = PostgresServer()
    except ServerUnavailable as exc:
        _without_server(str(exc))
    try:
        server.start()
    except ServerUnavailable as exc:
        server.destroy()
        _without_server(str(exc))
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = start_server()
    yield server
    server.destroy()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a new, empty database on the session's server."""
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


@pytest.fixture
def own_postgres_server() -> Iterator[PostgresServer]:
    """A server for this test alone, which it may stop and start."""
    server = start_server()
    yield server
    server.destroy()
