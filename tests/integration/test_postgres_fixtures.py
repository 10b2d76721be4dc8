"""The throwaway PostgreSQL server the tests use: found, run unprivileged, skipped or failed."""

from __future__ import annotations

import glob
import os

import pytest

from tests.support import pg_fixtures, postgres
from tests.support.postgres import PostgresServer, ServerUnavailable

pytestmark = pytest.mark.postgres


def no_binaries() -> None:
    raise ServerUnavailable("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found")


def test_without_binaries_the_tests_are_skipped_with_the_reason(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(postgres, "find_binaries", no_binaries)
    with pytest.raises(pytest.skip.Exception, match=r"server binaries .* not found"):
        pg_fixtures.start_server()


def test_without_binaries_under_ci_the_tests_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(postgres, "find_binaries", no_binaries)
    with pytest.raises(pytest.fail.Exception, match=r"cannot run under CI: .* not found"):
        pg_fixtures.start_server()


def test_binaries_are_found_under_debians_directory_without_path(
        monkeypatch: pytest.MonkeyPatch) -> None:
    installed = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    monkeypatch.setenv("PATH", "")
    if not installed:
        with pytest.raises(ServerUnavailable, match="install Debian's `postgresql`"):
            postgres.find_binaries()
        return
    found = postgres.find_binaries()
    assert str(found).startswith("/usr/lib/postgresql/")
    assert (found / "pg_ctl").is_file()


def test_the_server_runs_unprivileged_on_a_private_port_and_leaves_nothing(
        postgres_server: PostgresServer) -> None:
    owner = os.stat(postgres_server.data).st_uid
    assert owner == (postgres_server.account.uid if os.geteuid() == 0 else os.geteuid())
    assert owner != 0
    assert postgres_server.port not in (0, 5432)
    scratch = PostgresServer()
    scratch.start()
    root = scratch.root
    assert (root / "data" / "PG_VERSION").is_file()
    scratch.destroy()
    assert not root.exists()
