"""The composition root: builds the event store, read models and services from settings.

Nothing heavy is imported until it is needed: a read command whose projections are
current touches only SQLite.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from infrastructure import sqlite
from infrastructure.errors import DatabaseUnusable
from infrastructure.settings import Settings

if TYPE_CHECKING:
    from commands.service import StackService
    from commands.validation import Validator
    from infrastructure.eventlog import EventLog
    from infrastructure.eventstore import StackStore
    from infrastructure.providers import ProviderRegistry
    from projections.runner import ProjectionRunner


class Runtime:
    """Everything one run of the tool needs, opened lazily, for one database."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._connection: sqlite3.Connection | None = None
        self._store: StackStore | None = None
        self._runner: ProjectionRunner | None = None
        self._service: StackService | None = None
        self._providers: ProviderRegistry | None = None

    # ---- the database -------------------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """The read-model connection, on a database whose schema is current."""
        if self._connection is None:
            from projections import schema

            path = sqlite.prepare_database_file(self.settings.db_path)
            try:
                connection = sqlite.connect(path)
                version = connection.execute("PRAGMA user_version").fetchone()[0]
            except sqlite3.DatabaseError as exc:
                raise DatabaseUnusable(f"{path} is not a usable database: {exc}") from None
            if version > schema.SCHEMA_VERSION:
                connection.close()
                raise DatabaseUnusable(
                    f"{path} was written by a newer sloth-runner (schema {version}); upgrade"
                )
            self._connection = connection
            if version != schema.SCHEMA_VERSION:
                self._open_store(path, create_tables=True)
                with sqlite.immediate(connection) as cursor:
                    schema.migrate(cursor)
        return self._connection

    def store(self) -> StackStore:
        """The event store (built on first use)."""
        if self._store is None:
            self.connection()  # a new database gets its tables here
        return self._store or self._open_store(self.settings.db_path, create_tables=False)

    def _open_store(self, path: Path, *, create_tables: bool) -> StackStore:
        from infrastructure.eventstore import open_sqlite_store

        self._store = open_sqlite_store(path, create_tables=create_tables)
        return self._store

    def event_log(self) -> EventLog:
        """The stored events in log order, read through the event store."""
        from infrastructure.eventlog import EventLog

        return EventLog(self.store().recorder)

    # ---- the read side ------------------------------------------------------------------

    def projections(self) -> ProjectionRunner:
        if self._runner is None:
            from projections.runner import ProjectionRunner

            self._runner = ProjectionRunner(self.store(), self.connection())
        return self._runner

    def reader(self) -> sqlite3.Connection:
        """A connection to read models that reflect every event written so far."""
        from projections.queries.positions import lag

        connection = self.connection()
        if lag(connection) > 0:
            self.projections().catch_up()
        return connection

    def catch_up(self) -> int:
        """Bring every projection up to the head of the log (after a write)."""
        return self.projections().catch_up()

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
                                         max_parallel_probes=stacks.max_concurrent_executions)
        return self._service

    def paths_back(self, stack: str, dependencies: Sequence[str]) -> dict[str, list[str]]:
        """The service's view of the dependency graph: the read model, caught up now."""
        from projections.graph import DependencyGraph

        return DependencyGraph.load(self.reader()).paths_back(stack, dependencies)

    def validator(self) -> Validator:
        """Pre-flight validation, over the read models' facts."""
        from commands.validation import Validator
        from projections.preflight import ReadModelFacts

        return Validator(self.service(), ReadModelFacts(self.reader))

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
