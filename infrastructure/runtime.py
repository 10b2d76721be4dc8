"""The composition root: builds the event store, read models and services from settings.

Nothing heavy is imported until it is needed: a read command whose projections are
current touches only SQLite (or, with a database URL, psycopg). The backend is chosen here,
once, from the settings: `--database-url` (or its variable or config key) selects PostgreSQL.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from infrastructure import sqlite
from infrastructure.errors import DatabaseUnusable, ReadOnlyDatabase, SettingsError
from infrastructure.settings import Settings
from infrastructure.sqlite import DatabaseFile

if TYPE_CHECKING:
    from commands.hooks import HookService
    from commands.service import StackService
    from commands.tokens import TokenService
    from commands.validation import Validator
    from commands.workflow_run import WorkflowRuns
    from infrastructure.documents import DocumentStore
    from infrastructure.eventlog import EventLog
    from infrastructure.eventstore import StackStore
    from infrastructure.providers import ProviderRegistry
    from infrastructure.secrets import Keyring, KeySources
    from infrastructure.sql import Connection
    from projections.runner import ProjectionRunner


class Runtime:
    """Everything one run of the tool needs, opened lazily, for one database."""

    def __init__(self, settings: Settings, *, warn: Callable[[str], None] | None = None,
                 providers: ProviderRegistry | None = None) -> None:
        """`providers`: the resource types to use instead of the built-ins and plug-ins."""
        self.settings = settings
        self._warn = warn or _print_warning
        self._warned = False
        self._database: DatabaseFile | None = None
        self._connection: Connection | None = None
        self._store: StackStore | None = None
        self._runner: ProjectionRunner | None = None
        self._service: StackService | None = None
        self._providers: ProviderRegistry | None = providers
        self._documents: DocumentStore | None = None
        self._keyring: Keyring | None = None

    # ---- the database -------------------------------------------------------------------

    @property
    def backend(self) -> str:
        """`sqlite` or `postgresql`, as the settings choose."""
        return "postgresql" if self.settings.database_url else "sqlite"

    def location(self) -> str:
        """Where the database is, for messages: its file, or `host:port/db` (no password)."""
        if self.settings.database_url:
            from infrastructure.postgres import parse_database_url

            return parse_database_url(self.settings.database_url).describe()
        return str(self.settings.db_path)

    def connection(self) -> Connection:
        """The read-model connection, on a database of ours whose schema is current."""
        if self._connection is None:
            url = self.settings.database_url
            self._connection = self._open_postgres(url) if url else self._open_sqlite()
        return self._connection

    def new_connection(self) -> Connection:
        """Another read-model connection to the same database (for a thread of its own),
        after this one has checked it and brought its tables up to date."""
        self.connection()
        if self._database is None:
            from infrastructure.postgres_connection import connect

            assert self.settings.database_url is not None
            return connect(self.settings.database_url)
        return sqlite.connect(self._database)

    def database(self) -> DatabaseFile:
        """The SQLite file, checked: ours, and whether this process may write it."""
        self.connection()
        if self._database is None:
            raise DatabaseUnusable(f"{self.location()} is a PostgreSQL database, not a file")
        return self._database

    def _read_only_reason(self) -> str | None:
        """Why this process may not write the database (None: it may)."""
        self.connection()
        return self._database.read_only_reason if self._database is not None else None

    def _open_sqlite(self) -> Connection:
        """Check the file and whose it is before anything opens it for writing; then open it.

        Only then may the event store (which switches a file to WAL) or a migration (which
        drops read-model tables) touch it.
        """
        from infrastructure import ownership
        from projections import schema

        database = sqlite.open_database_file(self.settings.db_path,
                                             create_directory=self.settings.db_is_default)
        path = database.path
        found = ownership.inspect_file(database)
        ownership.refuse_unless_ours(path, found)
        if found.user_version > schema.SCHEMA_VERSION:
            raise DatabaseUnusable(f"{path} was written by a newer sloth-runner (schema "
                                   f"{found.user_version}); upgrade")
        if not database.writable and found.owner is ownership.Owner.EMPTY:
            raise ReadOnlyDatabase(f"{database.describe_read_only()} and empty: there is "
                                   "nothing to read, and it cannot become a database")
        if not database.writable and found.user_version != schema.SCHEMA_VERSION:
            raise ReadOnlyDatabase(
                f"{database.describe_read_only()}, and its read models are from an older "
                f"sloth-runner (schema {found.user_version}): run any command once with write "
                "access to bring them up to date")
        if database.writable and found.owner is not ownership.Owner.OURS:
            ownership.claim(database, found)
        try:
            connection = sqlite.connect(database)
            version = connection.dialect.schema_version(connection)
        except sqlite3.DatabaseError as exc:
            raise ownership.unreadable(path, exc) from None
        self._database = database
        self._migrate(connection, version)
        return connection

    def _open_postgres(self, url: str) -> Connection:
        """Connect, check the database is ours (marking a new one), bring its tables up to
        date: the event store's first, then the read models'."""
        from infrastructure import postgres_ownership
        from projections import schema

        try:
            from infrastructure.postgres_connection import connect
        except ImportError:
            raise SettingsError("PostgreSQL needs the postgres extra (psycopg 3): "
                                "pip install 'sloth-runner[postgres]'") from None
        connection = connect(url)
        try:
            postgres_ownership.claim(connection, connection.describe())
            version = connection.dialect.schema_version(connection)
            if version > schema.SCHEMA_VERSION:
                raise DatabaseUnusable(
                    f"PostgreSQL database {connection.describe()} was written by a newer "
                    f"sloth-runner (schema {version}); upgrade")
            self._migrate(connection, version)
        except BaseException:
            connection.close()
            raise
        return connection

    def _migrate(self, connection: Connection, version: int) -> None:
        """Create the event store's tables and the read models when the schema is not current."""
        from projections import schema

        if version == schema.SCHEMA_VERSION:
            return
        try:
            self._open_store(create_tables=True)
            with connection.write_transaction() as cursor:
                schema.migrate(cursor, connection.dialect)
        except BaseException:
            connection.close()
            self._database = None
            raise

    def store(self) -> StackStore:
        """The event store (built on first use)."""
        self.connection()  # checks the database; a new one gets its tables here
        return self._store or self._open_store(create_tables=False)

    def _open_store(self, *, create_tables: bool) -> StackStore:
        from infrastructure.eventstore import open_postgres_store, open_sqlite_store

        if self._store is None:
            url = self.settings.database_url
            if url:
                self._store = open_postgres_store(url, create_tables=create_tables,
                                                  checked=True, cipher=self._events_cipher())
            else:
                assert self._database is not None
                self._store = open_sqlite_store(self._database, create_tables=create_tables,
                                                cipher=self._events_cipher())
        return self._store

    def _events_cipher(self) -> dict[str, str]:
        """With `stacks.encrypt_events`, the settings that encrypt every stored event."""
        stacks = self.settings.stacks
        if not stacks.encrypt_events:
            return {}
        from infrastructure.secrets import events_cipher_environment

        return events_cipher_environment(stacks.events_key_file)

    # ---- secrets ------------------------------------------------------------------------

    def key_sources(self) -> KeySources:
        from infrastructure.secrets import KeySources

        stacks = self.settings.stacks
        return KeySources(stacks.secret_key_file, stacks.secret_fallback_key_files)

    def keyring(self) -> Keyring:
        """The secret keys (loaded on first use; a missing key is a one-line error)."""
        if self._keyring is None:
            from infrastructure.secrets import load_keyring

            self._keyring = load_keyring(self.key_sources())
        return self._keyring

    def event_log(self) -> EventLog:
        """The stored events in log order, read through the event store."""
        from infrastructure.eventlog import EventLog

        store = self.store()
        return EventLog(store.recorder, store.mapper.cipher)

    # ---- the read side ------------------------------------------------------------------

    def projections(self) -> ProjectionRunner:
        """What updates and rebuilds the read models; refused on a read-only database."""
        if self._runner is None:
            from projections.runner import ProjectionRunner

            if self._read_only_reason() is not None:
                raise ReadOnlyDatabase(f"cannot update the read models: "
                                       f"{self.database().describe_read_only()}")
            self._runner = ProjectionRunner(self.store(), self.connection())
        return self._runner

    def reader(self) -> Connection:
        """A connection to read models that reflect every event written so far."""
        from projections.queries.positions import lag

        connection = self.connection()
        behind = lag(connection)
        if behind > 0:
            reason = self._read_only_reason()
            if reason is None:
                self.projections().catch_up()
            elif not self._warned:
                self._warned = True
                self._warn(f"the read models of {self.location()} are behind by {behind} "
                           f"event{'s' if behind != 1 else ''} and cannot be caught up: the "
                           f"database is read-only ({reason})")
        return connection

    def catch_up(self) -> int:
        """Bring every projection up to the head of the log (after a write)."""
        return self.projections().catch_up()

    def deliver_to_hooks(self) -> None:
        """After a write: deliver the events this process recorded to the hooks that want
        them (`hooks.inline`). Costs one small query when no hook is on; a failure here is
        a warning, never the command's: the events stay for `events process`."""
        recorded = self._store.recorded if self._store is not None else None
        if not recorded:
            return
        notifications = list(recorded)
        recorded.clear()
        hooks = self.settings.hooks
        if not hooks.inline:
            return
        from projections.queries.hooks import any_enabled

        if not hooks.declared and not any_enabled(self.connection()):
            return
        from infrastructure.hooks.inline import deliver_recorded

        try:
            deliver_recorded(self, notifications, self._warn)
        except Exception as exc:
            self._warn(f"delivering this command's events to hooks failed ({exc}); "
                       "'sloth-runner events process' delivers them")

    # ---- the write side -----------------------------------------------------------------

    def service(self) -> StackService:
        if self._service is None:
            from commands.service import StackService
            from infrastructure.clock import now

            stacks = self.settings.stacks
            self._service = StackService(self.store(), clock=now, paths_back=self.paths_back,
                                         auto_lock=stacks.auto_lock,
                                         auto_snapshot=stacks.auto_snapshot,
                                         lock_ttl=stacks.lock_timeout,
                                         providers=self.providers(),
                                         max_parallel_probes=stacks.max_concurrent_executions,
                                         documents=self.documents(),
                                         secrets=self.keyring)
        return self._service

    def documents(self) -> DocumentStore:
        """Stored state documents (Terraform's), beside the event log."""
        if self._documents is None:
            from infrastructure.documents import DocumentStore

            self._documents = DocumentStore(self.connection())
        return self._documents

    def tokens(self) -> TokenService:
        """Making and revoking API tokens."""
        from commands.tokens import TokenService
        from infrastructure.clock import now

        return TokenService(self.store(), now)

    def hook_service(self) -> HookService:
        """The write side of hooks (names the config file declares are taken)."""
        from commands.hooks import HookService
        from infrastructure.clock import now
        from infrastructure.hooks.actions import check_action

        where = str(self.settings.config_path or "the config file")
        declared = {hook.name for hook in self.settings.hooks.declared}
        return HookService(self.store(), now, check_action=check_action,
                           declared_elsewhere=lambda name: where if name in declared else None)

    def paths_back(self, stack: str, dependencies: Sequence[str]) -> dict[str, list[str]]:
        """The service's view of the dependency graph: the read model, caught up now."""
        from projections.graph import DependencyGraph

        return DependencyGraph.load(self.reader()).paths_back(stack, dependencies)

    def validator(self) -> Validator:
        """Pre-flight validation, over the read models' facts."""
        from commands.validation import Validator
        from projections.preflight import ReadModelFacts

        return Validator(self.service(), ReadModelFacts(self.reader))

    def runs(self) -> WorkflowRuns:
        """Running workflows against stacks, as the configuration says."""
        from commands.workflow_run import WorkflowRuns

        stacks = self.settings.stacks
        return WorkflowRuns(self.service(), self.validator, auto_lock=stacks.auto_lock,
                            auto_snapshot=stacks.auto_snapshot, lock_ttl=stacks.lock_timeout,
                            default_parallel=stacks.max_concurrent_executions)

    def providers(self) -> ProviderRegistry:
        """The resource types this run knows (built-ins; plug-ins loaded when named)."""
        if self._providers is None:
            from infrastructure.providers import ProviderRegistry

            self._providers = ProviderRegistry()
        return self._providers

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._runner = None
        self._service = None
        self._documents = None
        self._database = None


def _print_warning(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)
