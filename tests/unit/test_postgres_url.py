"""Database URLs: parsed as libpq reads them, validated, and never shown with the password."""

from __future__ import annotations

import getpass
from urllib.parse import parse_qsl

import pytest

from infrastructure.errors import SettingsError
from infrastructure.postgres import (
    DEFAULT_CONNECT_TIMEOUT,
    LIBPQ_PARAMETERS,
    PostgresTarget,
    is_database_url,
    parse_database_url,
    redact,
)


@pytest.fixture(autouse=True)
def no_libpq_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE"):
        monkeypatch.delenv(name, raising=False)


def test_a_full_url_is_parsed_into_its_parts() -> None:
    target = parse_database_url("postgresql://deploy:s3cret@db.example.com:6543/stacks")
    assert (target.host, target.port, target.dbname, target.user, target.password) == (
        "db.example.com", 6543, "stacks", "deploy", "s3cret")
    assert target.connect_timeout == DEFAULT_CONNECT_TIMEOUT
    assert target.describe() == "db.example.com:6543/stacks"


def test_the_short_scheme_and_upper_case_are_accepted() -> None:
    assert parse_database_url("postgres://u@h/d").host == "h"
    assert parse_database_url("  PostgreSQL://u@h/d ").dbname == "d"
    assert is_database_url("postgres://h") and is_database_url("postgresql://h")
    assert not is_database_url("/var/lib/stacks.db")
    assert not is_database_url("sqlite:///stacks.db")


def test_percent_encoded_parts_are_decoded() -> None:
    target = parse_database_url("postgresql://d%40ops:p%3Aw%2Fd%40@h/my%20db")
    assert (target.user, target.password, target.dbname) == ("d@ops", "p:w/d@", "my db")


def test_ipv6_hosts_are_bracketed_in_the_url_and_in_messages() -> None:
    target = parse_database_url("postgresql://u@[::1]:5433/d")
    assert (target.host, target.port) == ("::1", 5433)
    assert target.describe() == "[::1]:5433/d"


def test_a_unix_socket_directory_is_a_host() -> None:
    encoded = parse_database_url("postgresql://u@%2Fvar%2Frun%2Fpostgresql/d")
    queried = parse_database_url("postgresql:///d?host=/var/run/postgresql&user=u")
    assert encoded.host == queried.host == "/var/run/postgresql"
    assert queried.user == "u"


def test_what_the_url_leaves_out_comes_from_libpq_variables(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGHOST", "pg.internal")
    monkeypatch.setenv("PGPORT", "5999")
    monkeypatch.setenv("PGUSER", "ci")
    monkeypatch.setenv("PGPASSWORD", "from-env")
    monkeypatch.setenv("PGDATABASE", "ledger")
    target = parse_database_url("postgresql://")
    assert (target.host, target.port, target.user, target.password, target.dbname) == (
        "pg.internal", 5999, "ci", "from-env", "ledger")
    explicit = parse_database_url("postgresql://me:mine@there:1/db")
    assert (explicit.host, explicit.port, explicit.user, explicit.password, explicit.dbname) == (
        "there", 1, "me", "mine", "db")


def test_defaults_are_localhost_5432_and_the_login_name() -> None:
    target = parse_database_url("postgresql://")
    assert (target.host, target.port, target.user, target.dbname) == (
        "localhost", 5432, getpass.getuser(), getpass.getuser())
    assert target.password is None
    # libpq then looks the password up in ~/.pgpass (or PGPASSFILE)
    assert target.environment(create_tables=False)["POSTGRES_PASSWORD"] == ""


def test_an_empty_password_is_kept_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD", "from-env")
    assert parse_database_url("postgresql://u:@h/d").password == ""


def test_other_query_parameters_go_to_libpq() -> None:
    target = parse_database_url(
        "postgresql://u@h/d?sslmode=require&application_name=ci&connect_timeout=12")
    assert target.connect_timeout == 12
    assert target.parameters == (("sslmode", "require"), ("application_name", "ci"))
    arguments = target.connect_arguments()
    assert arguments["sslmode"] == "require"
    assert arguments["connect_timeout"] == "12"
    assert arguments["fallback_application_name"] == "sloth-runner"
    passed = dict(parse_qsl(target.environment(create_tables=True)[LIBPQ_PARAMETERS]))
    assert passed == {"sslmode": "require", "application_name": "ci", "connect_timeout": "12",
                      "fallback_application_name": "sloth-runner"}


@pytest.mark.parametrize(("url", "problem"), [
    ("mysql://u@h/d", "must start with postgresql://"),
    ("postgresql://u@h:99999/d", "port '99999' is not a port number"),
    ("postgresql://u@h:0/d", "port '0' is not a port number"),
    ("postgresql://u@h:abc/d", "port 'abc' is not a port number"),
    ("postgresql://u@h1,h2/d", "several hosts are not supported"),
    ("postgresql://u@/d?host=h1,h2", "several hosts are not supported"),
    ("postgresql://u@[::1/d", "IPv6"),
    ("postgresql://u@[::1]x/d", "malformed IPv6 host"),
    ("postgresql://u@h/d#frag", "unexpected '#frag'"),
    ("postgresql://u@h/d?connect_timeout=0", "connect_timeout '0' is not a number of seconds"),
    ("postgresql://u@h/d?connect_timeout=99999999999999999999", "from 1 to 3600"),
    ("postgresql://u@h/d\x00x", "control characters are not allowed"),
    ("postgresql://u@h/d\nx", "control characters are not allowed"),
    ("postgresql://u@h/d?connect_timeout=soon", "connect_timeout 'soon'"),
])
def test_bad_urls_are_settings_errors(url: str, problem: str) -> None:
    with pytest.raises(SettingsError, match=problem):
        parse_database_url(url)


@pytest.mark.parametrize("url", [
    "postgresql://u:hunter2@h:99999/d",
    "postgresql://u:hunter2@h1,h2/d",
    "postgresql://u@h/d?password=hunter2&connect_timeout=x",
    "postgresql://u:hunter2@h/d#x",
])
def test_error_messages_never_show_the_password(url: str) -> None:
    with pytest.raises(SettingsError) as raised:
        parse_database_url(url)
    assert "hunter2" not in str(raised.value)
    assert "***" in str(raised.value)


def test_the_password_is_hidden_from_repr_and_description() -> None:
    target = parse_database_url("postgresql://u:hunter2@h/d?password=hunter2")
    assert target.password == "hunter2"
    assert "hunter2" not in repr(target)
    assert "hunter2" not in target.describe()
    assert redact("postgresql://u:hunter2@h/d?a=1&password=hunter2") == (
        "postgresql://u:***@h/d?a=1&password=***")
    assert redact("postgresql://u@h/d") == "postgresql://u@h/d"


def test_the_environment_uses_only_keys_eventsourcing_reads() -> None:
    from eventsourcing.application import Application
    from eventsourcing.postgres import PostgresFactory

    known = {value for cls in (*PostgresFactory.__mro__, Application)
             for name, value in vars(cls).items() if name.isupper() and isinstance(value, str)}
    known |= {"IS_SNAPSHOTTING_ENABLED", LIBPQ_PARAMETERS}
    environment = PostgresTarget("h", 5432, "d", "u").environment(create_tables=True)
    assert set(environment) - known == set()
    assert environment["CREATE_TABLE"] == "y"
    assert PostgresTarget("h", 5432, "d", "u").environment(create_tables=False)[
        "CREATE_TABLE"] == "n"
