"""PostgreSQL databases: the URL that names one, the event store's settings for it, and what a
failed connection means for the user (a configuration problem, exit 2, or an unreachable
server, exit 75).

Only the standard library is imported here; psycopg is imported when a connection is made.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from infrastructure.errors import DatabaseUnavailable, DatabaseUnusable, SettingsError

SCHEMES = ("postgresql", "postgres")
DEFAULT_PORT = 5432
DEFAULT_CONNECT_TIMEOUT = 5
"""Seconds to wait for a connection, and for the pool to hand one out, before giving up."""
MAX_CONNECT_TIMEOUT = 3600
LOCK_TIMEOUT_SECONDS = 30
"""Seconds an insert waits for the event table's write lock (like SQLite's busy timeout)."""
APPLICATION_NAME = "sloth-runner"
PERSISTENCE_TOPIC = "infrastructure.postgres_persistence:StackPostgresFactory"
LIBPQ_PARAMETERS = "LIBPQ_PARAMETERS"
"""The environment key carrying connection parameters eventsourcing does not pass itself."""
SCHEMA_LOCK_KEY = 0x5106_7E5C_4E3A
"""The advisory lock that serialises creating tables, so first runs may race."""

# The component parameters of a URL; libpq lets its query repeat them, overriding the URL.
_COMPONENTS = ("host", "port", "user", "password", "dbname")
# What a server says, before any query, when it cannot take a connection at the moment.
_TRANSIENT_REFUSALS = ("starting up", "shutting down", "recovery mode", "not yet accepting",
                       "not accepting connections", "too many clients",
                       "connection slots are reserved")


def is_database_url(value: str) -> bool:
    """Whether a `--db`-like value names a PostgreSQL database rather than a file."""
    scheme, separator, _ = value.strip().partition("://")
    return bool(separator) and scheme.lower() in SCHEMES


def redact(url: str) -> str:
    """The URL with its password (in the user part or the query) replaced by `***`."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    authority, slash, tail = rest.partition("/")
    userinfo, at, hostport = authority.rpartition("@")
    if at and ":" in userinfo:
        authority = userinfo.partition(":")[0] + ":***@" + hostport
    path, question, query = (slash + tail).partition("?")
    if question:
        query = "&".join("password=***" if pair.lower().startswith("password=") else pair
                         for pair in query.split("&"))
    return f"{scheme}://{authority}{path}{question}{query}"


@dataclass(frozen=True)
class PostgresTarget:
    """A PostgreSQL database and how to connect to it, parsed from a URL."""

    host: str
    port: int
    dbname: str
    user: str
    password: str | None = field(default=None, repr=False)
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT
    parameters: tuple[tuple[str, str], ...] = ()
    """Further libpq connection parameters from the URL's query (sslmode=require, ...)."""

    def describe(self) -> str:
        """`host:port/dbname`, for messages: never the password."""
        return describe_server(self.host, self.port, self.dbname)

    def connect_arguments(self) -> dict[str, Any]:
        """Keyword arguments for `psycopg.connect`, the same the event store's pool uses."""
        return {"host": self.host, "port": self.port, "dbname": self.dbname,
                "user": self.user, "password": self.password or "",
                **self.libpq_parameters()}

    def libpq_parameters(self) -> dict[str, str]:
        """The parameters eventsourcing does not pass to libpq itself."""
        return {"connect_timeout": str(self.connect_timeout),
                # only used when neither the URL nor PGAPPNAME names the application
                "fallback_application_name": APPLICATION_NAME,
                **dict(self.parameters)}

    def environment(self, *, create_tables: bool) -> dict[str, str]:
        """The eventsourcing environment for this database (see `eventsourcing.postgres`)."""
        return {
            "PERSISTENCE_MODULE": PERSISTENCE_TOPIC,
            "POSTGRES_DBNAME": self.dbname,
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            # Empty: libpq looks in the password file (~/.pgpass or PGPASSFILE).
            "POSTGRES_PASSWORD": self.password or "",
            # How long to wait for the pool to hand out a connection.
            "POSTGRES_CONNECT_TIMEOUT": str(self.connect_timeout),
            # One command is one thread: one connection, and one more while tables are
            # created under the schema lock.
            "POSTGRES_POOL_SIZE": "1",
            "POSTGRES_MAX_OVERFLOW": "2",
            "POSTGRES_MAX_WAITING": "0",
            "POSTGRES_CONN_MAX_AGE": "3600",
            "POSTGRES_PRE_PING": "n",
            "POSTGRES_LOCK_TIMEOUT": str(LOCK_TIMEOUT_SECONDS),
            # A process stopped inside a transaction must not hold the table lock for long.
            "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "5",
            "POSTGRES_SCHEMA": "",
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
            "ORIGINATOR_ID_TYPE": "uuid",
            "SINGLE_ROW_TRACKING": "y",
            "CREATE_TABLE": "y" if create_tables else "n",
            "AGGREGATE_CACHE_MAXSIZE": "256",
            "IS_SNAPSHOTTING_ENABLED": "y",
            LIBPQ_PARAMETERS: urlencode(self.libpq_parameters()),
        }


def describe_server(host: str, port: int | str, dbname: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}/{dbname}"


def parse_database_url(url: str) -> PostgresTarget:
    """Parse `postgresql://user:password@host:port/dbname?param=value` as libpq does.

    What the URL leaves out comes from libpq's environment variables (PGHOST, PGPORT,
    PGUSER, PGPASSWORD, PGDATABASE), then libpq's defaults, except that
    the host defaults to `localhost` (a Unix socket directory can be given as the host,
    percent-encoded, or as `?host=/path`). A password left out entirely is looked up by libpq
    in ~/.pgpass (or PGPASSFILE) when connecting.
    """
    text = url.strip()
    shown = redact(text)
    if not is_database_url(text):
        raise SettingsError(f"database URL {shown!r} must start with postgresql:// or postgres://")
    if any(ord(character) < 32 for character in text):
        raise SettingsError(f"database URL {shown!r}: control characters are not allowed"
                            " (percent-encode them)")
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise SettingsError(f"database URL {shown!r}: {exc}") from None
    if parts.fragment:
        raise SettingsError(f"database URL {shown!r}: unexpected '#{parts.fragment}'")
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at:
        userinfo, hostport = "", parts.netloc
    user, has_password, password = userinfo.partition(":")
    values: dict[str, str] = {}
    if user:
        values["user"] = unquote(user)
    if has_password:
        values["password"] = unquote(password)
    host, port = _split_host_port(hostport, shown)
    if host:
        values["host"] = host
    if port:
        values["port"] = port
    if parts.path.strip("/"):
        values["dbname"] = unquote(parts.path[1:])
    extra: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in _COMPONENTS:
            values[key] = value
        else:
            extra[key] = value
    return _target(values, extra.pop("connect_timeout", None), extra, shown)


def _split_host_port(hostport: str, shown: str) -> tuple[str, str]:
    if "," in hostport:
        raise SettingsError(f"database URL {shown!r}: several hosts are not supported")
    if hostport.startswith("["):
        host, bracket, rest = hostport[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise SettingsError(f"database URL {shown!r}: malformed IPv6 host")
        return host, rest[1:]
    host, _, port = hostport.partition(":")
    return unquote(host), port


def _target(values: Mapping[str, str], timeout: str | None, extra: dict[str, str],
            shown: str) -> PostgresTarget:
    environ = os.environ
    port_text = values.get("port") or environ.get("PGPORT") or str(DEFAULT_PORT)
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise SettingsError(f"database URL {shown!r}: port {port_text!r} is not a port number")
    connect_timeout = DEFAULT_CONNECT_TIMEOUT
    if timeout:
        if not timeout.isdigit() or not 1 <= int(timeout) <= MAX_CONNECT_TIMEOUT:
            raise SettingsError(
                f"database URL {shown!r}: connect_timeout {timeout!r} is not a number of"
                f" seconds from 1 to {MAX_CONNECT_TIMEOUT}")
        connect_timeout = int(timeout)
    user = values.get("user") or environ.get("PGUSER") or getpass.getuser()
    dbname = values.get("dbname") or environ.get("PGDATABASE") or user
    password = values.get("password")
    if password is None:
        password = environ.get("PGPASSWORD")
    host = values.get("host") or environ.get("PGHOST") or "localhost"
    if "," in host:
        raise SettingsError(f"database URL {shown!r}: several hosts are not supported")
    return PostgresTarget(host=host, port=int(port_text), dbname=dbname, user=user,
                          password=password, connect_timeout=connect_timeout,
                          parameters=tuple(extra.items()))


# ---- connecting, and what a failure means ---------------------------------------------------


def quiet_driver_logs() -> None:
    """Keep psycopg's and its pool's log records off stderr: a failure is reported once, as
    one line, by the CLI (Python prints warnings of loggers without a handler)."""
    import logging

    driver = logging.getLogger("psycopg")
    if not driver.handlers:
        driver.addHandler(logging.NullHandler())
        driver.propagate = False


def check_connection(arguments: Mapping[str, Any]) -> None:
    """Connect once and disconnect; a failure is raised as what it means for the user."""
    import psycopg

    quiet_driver_logs()
    try:
        psycopg.connect(**arguments, autocommit=True).close()
    except psycopg.Error as exc:
        raise connection_failure(arguments, exc) from None


def connection_failure(arguments: Mapping[str, Any], exc: BaseException) -> Exception:
    """The error to report for a connection attempt that failed with `exc`.

    libpq gives no error code for a refused connection, so whether the server was reached at
    all is checked with a plain socket: unreachable, or reached but not accepting connections
    yet, is temporary (exit 75); reached and refusing our credentials or database is a
    configuration problem (exit 2).
    """
    import psycopg

    where = _where(arguments)
    reason = _reason(exc, arguments.get("password"))
    if isinstance(exc, psycopg.ProgrammingError):  # a connection parameter libpq rejects
        return SettingsError(f"database URL for {where}: {reason}")
    if not _reachable(arguments):
        return DatabaseUnavailable(f"cannot reach PostgreSQL at {where}: {reason}")
    if any(refusal in reason for refusal in _TRANSIENT_REFUSALS):
        return DatabaseUnavailable(f"PostgreSQL at {where} cannot take connections now: {reason}")
    return DatabaseUnusable(
        f"cannot use PostgreSQL at {where} as user {arguments.get('user')!r}: {reason}")


def operation_failure(arguments: Mapping[str, Any], exc: BaseException) -> Exception:
    """The error to report for a database operation that failed and could not be retried.

    The server is asked again, so the message says why (it went away, it refuses us now);
    if it answers, the operation's own error is reported as a temporary failure.
    """
    import psycopg

    try:
        psycopg.connect(**arguments, autocommit=True).close()
    except psycopg.Error as failure:
        return connection_failure(arguments, failure)
    return DatabaseUnavailable(
        f"PostgreSQL at {_where(arguments)} failed: {_reason(exc, arguments.get('password'))}")


@contextmanager
def reported_failures(arguments: Mapping[str, Any]) -> Iterator[None]:
    """Turn database errors raised inside into what they mean for the user.

    For work that is not a single recorder call, such as opening the event store.
    """
    import psycopg
    from eventsourcing.persistence import InterfaceError, OperationalError, PersistenceError

    try:
        yield
    except (InterfaceError, OperationalError, psycopg.OperationalError,
            psycopg.InterfaceError) as exc:
        raise operation_failure(arguments, exc) from exc
    except (PersistenceError, psycopg.Error) as exc:
        raise unusable(arguments, exc) from exc


def unusable(arguments: Mapping[str, Any], exc: BaseException) -> DatabaseUnusable:
    """The error for a database that answers but refuses the work: missing tables, missing
    privileges (exit 2: an administrator has to act, retrying will not help)."""
    return DatabaseUnusable(
        f"cannot use PostgreSQL at {_where(arguments)}: {_reason(exc, arguments.get('password'))}")


def _where(arguments: Mapping[str, Any]) -> str:
    return describe_server(str(arguments.get("host", "")), arguments.get("port", DEFAULT_PORT),
                           str(arguments.get("dbname", "")))


def _reason(exc: BaseException, password: object) -> str:
    """The first line of libpq's message, without the repeated 'connection to ... failed'."""
    text = str(exc).strip()
    line = text.splitlines()[0].strip() if text else type(exc).__name__
    line = line.rsplit(" failed: ", 1)[-1].removeprefix("FATAL:").strip()
    if isinstance(password, str) and password:
        line = line.replace(password, "***")
    return line or type(exc).__name__


def _reachable(arguments: Mapping[str, Any]) -> bool:
    """Whether anything accepts a connection at the server's address (a socket, no protocol)."""
    host = str(arguments.get("host", ""))
    port = int(arguments.get("port", DEFAULT_PORT))
    timeout = float(arguments.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT))
    try:
        if host.startswith("/"):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
                unix.settimeout(timeout)
                unix.connect(f"{host}/.s.PGSQL.{port}")
        else:
            socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True
