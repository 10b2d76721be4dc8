"""A throwaway PostgreSQL server for tests: `initdb` into a temporary directory, `pg_ctl` on a
private port, stopped and deleted at the end. No system service is assumed or touched.

PostgreSQL refuses to run as root. When the tests run as root (as in CI containers), the
cluster is created and run as an unprivileged account: `postgres` (which Debian's package
creates) if it exists, else `nobody`. The temporary directory is handed to that account;
nothing else on the machine changes.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

SUPERUSER = "sloth"
PASSWORD = "throwaway-secret"
UNPRIVILEGED_ACCOUNTS = ("postgres", "nobody")
START_ATTEMPTS = 5
"""Ports are picked free, but another process may take one before the server binds it."""

# Durability is worthless for a server that is deleted after the tests; speed is not.
SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "200",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "log_min_messages": "warning",
}


class ServerUnavailable(Exception):
    """This machine cannot run a throwaway PostgreSQL server; the message says why."""


def find_binaries() -> Path:
    """The directory holding `initdb`, `pg_ctl` and `postgres` (PATH first, then Debian's)."""
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(os.path.realpath(on_path)).parent)
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                    key=lambda p: [int(part) for part in p.split("/")[4].split(".")
                                   if part.isdigit()], reverse=True)
    candidates.extend(Path(p) for p in debian)
    for directory in candidates:
        if all((directory / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return directory
    raise ServerUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or under "
        "/usr/lib/postgresql/*/bin; install Debian's `postgresql` package to run these tests")


@dataclass(frozen=True)
class Account:
    """The operating-system account the server runs as (None fields: the current one)."""

    name: str
    uid: int | None = None
    gid: int | None = None


def server_account() -> Account:
    """The current user, or an unprivileged one when running as root."""
    if os.geteuid() != 0:
        return Account(pwd.getpwuid(os.geteuid()).pw_name)
    for name in UNPRIVILEGED_ACCOUNTS:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return Account(name, entry.pw_uid, entry.pw_gid)
    raise ServerUnavailable(
        "running as root and no unprivileged account (postgres, nobody) to run PostgreSQL as")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """One throwaway cluster; `start()` it, make databases, `stop()` it (which deletes it)."""

    def __init__(self, binaries: Path | None = None, account: Account | None = None) -> None:
        self.binaries = binaries or find_binaries()
        self.account = account or server_account()
        self.root = Path(tempfile.mkdtemp(prefix="sloth-runner-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self.host = "127.0.0.1"
        self.running = False

    # ---- running commands as the server's account ------------------------------------------

    def _run(self, *command: str | Path, check: bool = True,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
        account = self.account
        result = subprocess.run(
            [str(part) for part in command], capture_output=True, text=True, timeout=timeout,
            check=False, cwd=self.root,
            user=account.uid, group=account.gid,
            extra_groups=[] if account.uid is not None else None,
            env={**os.environ, "LC_ALL": "C", "PGTZ": "UTC"})
        if check and result.returncode != 0:
            raise ServerUnavailable(
                f"{Path(str(command[0])).name} failed ({result.returncode}): "
                f"{(result.stderr or result.stdout).strip()}{self._log_tail()}")
        return result

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            lines = self.log.read_text(errors="replace").strip().splitlines()[-5:]
            if lines:
                return "\nserver log:\n" + "\n".join(lines)
        return ""

    def _hand_over(self, path: Path) -> None:
        if self.account.uid is not None:
            os.chown(path, self.account.uid, self.account.gid or -1)

    # ---- life cycle ----------------------------------------------------------------------

    def initialise(self) -> None:
        """Create the cluster: a password-protected superuser; TCP needs the password."""
        self._hand_over(self.root)
        password_file = self.root / "password"
        password_file.write_text(PASSWORD + "\n")
        self._hand_over(password_file)
        self._run(self.binaries / "initdb", "-D", self.data, "-U", SUPERUSER,
                  f"--pwfile={password_file}", "--auth-local=trust",
                  "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync",
                  "--no-instructions")
        password_file.unlink()
        settings = {**SERVER_SETTINGS, "unix_socket_directories": f"'{self.root}'"}
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def start(self) -> None:
        """Start on a free port (initialising the cluster on first start)."""
        if not self.data.exists():
            self.initialise()
        problem = ""
        for _ in range(START_ATTEMPTS):
            self.port = self.port or free_port()
            result = self._run(self.binaries / "pg_ctl", "start", "-D", self.data, "-l",
                               self.log, "-w", "-t", "60", "-o", f"-p {self.port}", check=False)
            if result.returncode == 0:
                self.running = True
                return
            problem = (result.stderr or result.stdout).strip() + self._log_tail()
            self.port = 0  # most likely taken in between: try another
        raise ServerUnavailable(f"pg_ctl could not start PostgreSQL: {problem}")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (keeping its files, so it can start again on the same port)."""
        if self.running:
            self._run(self.binaries / "pg_ctl", "stop", "-D", self.data, "-m", mode, "-w",
                      check=False)
            self.running = False

    def destroy(self) -> None:
        """Stop the server at once and delete every file it had."""
        self.stop(mode="immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def wait_until_accepting(self, timeout: float = 30) -> None:
        """Block until the server accepts TCP connections (after a restart, say)."""
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError), socket.create_connection(
                    (self.host, self.port), timeout=1):
                return
            if time.monotonic() > deadline:
                raise ServerUnavailable(f"PostgreSQL on port {self.port} did not come up")
            time.sleep(0.05)

    # ---- databases -----------------------------------------------------------------------

    def url(self, database: str = "postgres", *, user: str = SUPERUSER,
            password: str | None = PASSWORD) -> str:
        """A URL for a database on this server (over TCP, so the password is checked)."""
        credentials = quote(user, safe="")
        if password is not None:
            credentials += ":" + quote(password, safe="")
        return f"postgresql://{credentials}@{self.host}:{self.port}/{quote(database, safe='')}"

    def execute(self, sql: str, database: str = "postgres") -> None:
        """Run one statement as the superuser, outside a transaction (CREATE DATABASE, ...)."""
        import psycopg

        with psycopg.connect(host=self.host, port=self.port, user=SUPERUSER, password=PASSWORD,
                             dbname=database, autocommit=True) as connection:
            connection.execute(sql.encode())

    def create_database(self, prefix: str = "test") -> str:
        """A new empty database; returns its name."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return name

    def drop_database(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
