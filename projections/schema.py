"""Read-model tables. Each projection owns its tables and records its own position."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from infrastructure.sql import Cursor, Dialect

SCHEMA_VERSION = 11
"""Bumped whenever a projection's tables or logic change, or the event store gains a table
(10: the event chain); a mismatch triggers a migration, which also creates the event store's
missing tables."""

POSITIONS_DDL = (
    "CREATE TABLE IF NOT EXISTS projection_positions ("
    " name TEXT PRIMARY KEY,"
    " version INTEGER NOT NULL,"
    " position INTEGER NOT NULL,"
    " updated_at TEXT)"
)


class ProjectionSpec(NamedTuple):
    """A projection's name, the version of its logic, and the tables it owns."""

    name: str
    version: int
    tables: tuple[str, ...]
    ddl: tuple[str, ...]


STACKS = ProjectionSpec(
    name="stacks",
    version=2,
    tables=("stacks", "state_values", "stack_outputs"),
    ddl=(
        """CREATE TABLE IF NOT EXISTS stacks (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            description TEXT NOT NULL,
            status TEXT NOT NULL,
            version INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            last_execution TEXT,
            last_duration_ms INTEGER,
            execution_count INTEGER NOT NULL DEFAULT 0,
            event_version INTEGER NOT NULL,
            incarnation INTEGER NOT NULL,
            destroyed_at TEXT,
            created_by TEXT NOT NULL,
            updated_by TEXT NOT NULL,
            value_count INTEGER NOT NULL DEFAULT 0,
            output_count INTEGER NOT NULL DEFAULT 0,
            running_executions INTEGER NOT NULL DEFAULT 0)""",
        "CREATE INDEX IF NOT EXISTS stacks_by_status ON stacks (status, name)",
        """CREATE TABLE IF NOT EXISTS state_values (
            stack_id TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            updated_by TEXT NOT NULL,
            PRIMARY KEY (stack_id, key))""",
        """CREATE TABLE IF NOT EXISTS stack_outputs (
            stack_id TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            updated_by TEXT NOT NULL,
            PRIMARY KEY (stack_id, key))""",
    ),
)

AUDIT = ProjectionSpec(
    name="audit",
    version=3,
    tables=("state_events",),
    ddl=(
        # `original_time`, `original_actor`: for a line of another tool's history
        # (`history.imported`), when and by whom it happened there; the log shows those.
        """CREATE TABLE IF NOT EXISTS state_events (
            id INTEGER PRIMARY KEY,
            stack_id TEXT NOT NULL,
            stack_name TEXT NOT NULL,
            stack_version INTEGER NOT NULL,
            event_type TEXT NOT NULL,
            severity TEXT NOT NULL,
            message TEXT NOT NULL,
            source TEXT NOT NULL,
            actor TEXT NOT NULL,
            correlation_id TEXT NOT NULL,
            created_at TEXT NOT NULL,
            data TEXT NOT NULL,
            original_time TEXT,
            original_actor TEXT)""",
        "CREATE INDEX IF NOT EXISTS state_events_by_stack ON state_events (stack_id, id)",
        "CREATE INDEX IF NOT EXISTS state_events_by_type ON state_events (event_type, id)",
        "CREATE INDEX IF NOT EXISTS state_events_by_time ON state_events (created_at)",
        "CREATE INDEX IF NOT EXISTS state_events_by_stack_time"
        " ON state_events (stack_id, created_at, id)",
        "CREATE INDEX IF NOT EXISTS state_events_by_actor ON state_events (actor, id)",
    ),
)

LOCKS = ProjectionSpec(
    name="locks",
    version=1,
    tables=("state_locks",),
    ddl=(
        """CREATE TABLE IF NOT EXISTS state_locks (
            stack_id TEXT PRIMARY KEY,
            stack_name TEXT NOT NULL,
            lock_id TEXT NOT NULL,
            locked_by TEXT NOT NULL,
            acquired_by_actor TEXT NOT NULL,
            locked_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            operation TEXT NOT NULL,
            reason TEXT NOT NULL,
            metadata TEXT NOT NULL,
            generation INTEGER NOT NULL,
            renewed_at TEXT,
            event_version INTEGER NOT NULL)""",
    ),
)

VERSIONS = ProjectionSpec(
    name="versions",
    version=1,
    tables=("state_versions",),
    ddl=(
        """CREATE TABLE IF NOT EXISTS state_versions (
            stack_id TEXT NOT NULL,
            stack_name TEXT NOT NULL,
            version INTEGER NOT NULL,
            creator TEXT NOT NULL,
            description TEXT NOT NULL,
            state_data TEXT NOT NULL,
            created_at TEXT NOT NULL,
            position INTEGER NOT NULL,
            event_id INTEGER NOT NULL,
            deleted_at TEXT,
            deleted_by TEXT,
            PRIMARY KEY (stack_id, version))""",
    ),
)

DEPENDENCIES = ProjectionSpec(
    name="dependencies",
    version=1,
    tables=("stack_dependencies",),
    ddl=(
        # `depends_on` is a name, not an id: the stack it names may not exist yet.
        # `stack_name` is copied from `stacks` (a name never changes: the id is derived from
        # it), so reading the whole graph needs no join.
        """CREATE TABLE IF NOT EXISTS stack_dependencies (
            stack_id TEXT NOT NULL,
            stack_name TEXT NOT NULL,
            depends_on TEXT NOT NULL,
            added_at TEXT NOT NULL,
            added_by TEXT NOT NULL,
            PRIMARY KEY (stack_id, depends_on))""",
        "CREATE INDEX IF NOT EXISTS stack_dependencies_by_target"
        " ON stack_dependencies (depends_on)",
    ),
)

VALIDATIONS = ProjectionSpec(
    name="validations",
    version=1,
    tables=("stack_validations",),
    ddl=(
        """CREATE TABLE IF NOT EXISTS stack_validations (
            stack_id TEXT PRIMARY KEY,
            result TEXT NOT NULL,
            checks TEXT NOT NULL,
            validated_at TEXT NOT NULL,
            validated_by TEXT NOT NULL,
            correlation_id TEXT NOT NULL)""",
    ),
)

RESOURCES = ProjectionSpec(
    name="resources",
    version=2,
    tables=("resources", "resource_declarations", "drift_reports"),
    ddl=(
        # `state`: pending (not observed since declared or changed), in_sync, drifted, unknown;
        # recorded for a record of what another tool manages (never observed).
        """CREATE TABLE IF NOT EXISTS resources (
            id TEXT PRIMARY KEY,
            stack_id TEXT NOT NULL,
            name TEXT NOT NULL,
            type TEXT NOT NULL,
            state TEXT NOT NULL,
            dependencies TEXT NOT NULL,
            observed TEXT,
            drift TEXT NOT NULL,
            reason TEXT NOT NULL,
            declared_at TEXT NOT NULL,
            declared_by TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            updated_by TEXT NOT NULL,
            checked_at TEXT,
            checked_by TEXT,
            UNIQUE (stack_id, name))""",
        # The desired attributes (a file's whole content, say) apart, so that recording an
        # observation rewrites a small row, not the declaration.
        """CREATE TABLE IF NOT EXISTS resource_declarations (
            id TEXT PRIMARY KEY,
            desired TEXT NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS drift_reports (
            stack_id TEXT PRIMARY KEY,
            event_id INTEGER,
            event_type TEXT,
            checked_at TEXT,
            checked_by TEXT,
            correlation_id TEXT,
            total INTEGER NOT NULL DEFAULT 0,
            in_sync INTEGER NOT NULL DEFAULT 0,
            drifted INTEGER NOT NULL DEFAULT 0,
            unknown INTEGER NOT NULL DEFAULT 0,
            report TEXT,
            fix_event_id INTEGER,
            fixed_at TEXT,
            fixed_by TEXT,
            fix_mode TEXT,
            fix TEXT)""",
    ),
)

EXECUTIONS = ProjectionSpec(
    name="executions",
    version=1,
    tables=("stack_executions",),
    ddl=(
        # `status`: running, completed, failed or skipped. A running row whose `alive_until` has passed
        # is shown as failed (its runner vanished) until an event records that.
        """CREATE TABLE IF NOT EXISTS stack_executions (
            id TEXT PRIMARY KEY,
            stack_id TEXT NOT NULL,
            stack_name TEXT NOT NULL,
            workflow TEXT NOT NULL,
            version TEXT NOT NULL,
            file TEXT NOT NULL,
            file_sha256 TEXT NOT NULL,
            status TEXT NOT NULL,
            reason TEXT,
            message TEXT NOT NULL,
            started_at TEXT NOT NULL,
            started_by TEXT NOT NULL,
            correlation_id TEXT NOT NULL,
            finished_at TEXT,
            duration_ms INTEGER,
            lock_id TEXT,
            alive_until TEXT NOT NULL,
            snapshot_version INTEGER,
            rolled_back_to INTEGER,
            task_names TEXT NOT NULL,
            parameters TEXT NOT NULL,
            tasks TEXT NOT NULL,
            started_event INTEGER NOT NULL,
            finished_event INTEGER)""",
        "CREATE INDEX IF NOT EXISTS stack_executions_by_stack"
        " ON stack_executions (stack_id, started_at)",
        "CREATE INDEX IF NOT EXISTS stack_executions_running"
        " ON stack_executions (stack_id, status, alive_until)",
    ),
)

TOKENS = ProjectionSpec(
    name="tokens",
    version=1,
    tables=("api_tokens",),
    ddl=(
        # `digest`: the SHA-256 of the secret (the secret itself is nowhere).
        """CREATE TABLE IF NOT EXISTS api_tokens (
            name TEXT PRIMARY KEY,
            digest TEXT NOT NULL,
            read_only INTEGER NOT NULL,
            stacks TEXT NOT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            revoked_at TEXT,
            revoked_by TEXT)""",
        "CREATE INDEX IF NOT EXISTS api_tokens_by_digest ON api_tokens (digest)",
    ),
)

HOOKS = ProjectionSpec(
    name="hooks",
    version=1,
    tables=("hooks",),
    ddl=(
        # One row per hook name ever added; a removed hook keeps its row (`removed_at`), so
        # its deliveries stay readable. `spec` is the definition as JSON (filter and action);
        # `added_position` is the log position of the `hook.added` event of this incarnation.
        """CREATE TABLE IF NOT EXISTS hooks (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            incarnation INTEGER NOT NULL,
            enabled INTEGER NOT NULL,
            removed_at TEXT,
            spec TEXT NOT NULL,
            from_start INTEGER NOT NULL,
            added_position INTEGER NOT NULL,
            added_at TEXT NOT NULL,
            added_by TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            updated_by TEXT NOT NULL,
            event_version INTEGER NOT NULL)""",
    ),
)

PROJECTIONS: tuple[ProjectionSpec, ...] = (STACKS, AUDIT, LOCKS, VERSIONS, DEPENDENCIES,
                                            VALIDATIONS, RESOURCES, EXECUTIONS, TOKENS, HOOKS)


def _is_index(statement: str) -> bool:
    return statement.lstrip().upper().startswith("CREATE INDEX")


def create_tables(cursor: Cursor, spec: ProjectionSpec, dialect: Dialect, *,
                  indexes: bool = True) -> None:
    """Create the projection's tables (and, unless told not to, their secondary indexes)."""
    for statement in spec.ddl:
        if indexes or not _is_index(statement):
            cursor.execute(dialect.ddl(statement))


def create_indexes(cursor: Cursor, spec: ProjectionSpec, dialect: Dialect) -> None:
    """Create the projection's secondary indexes (after a bulk fill: sorting once is cheaper
    than keeping them ordered row by row)."""
    for statement in spec.ddl:
        if _is_index(statement):
            cursor.execute(dialect.ddl(statement))


def drop_tables(cursor: Cursor, spec: ProjectionSpec, dialect: Dialect) -> None:
    """Drop a registered projection's tables, in a database that is ours, and nothing else."""
    if spec not in PROJECTIONS:
        raise ValueError(f"projection '{spec.name}' is not registered; its tables are not ours")
    dialect.require_ours(cursor)
    for table in spec.tables:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")


def reset_position(cursor: Cursor, spec: ProjectionSpec) -> None:
    cursor.execute(
        "INSERT INTO projection_positions (name, version, position) VALUES (?, ?, 0) "
        "ON CONFLICT (name) DO UPDATE SET version = excluded.version, position = 0",
        (spec.name, spec.version),
    )


def migrate(cursor: Cursor, dialect: Dialect) -> list[str]:
    """Create missing read models and reset those whose logic changed; returns their names.

    A reset projection starts again from position 0 and is rebuilt by the next catch-up.
    Only a database marked as ours is touched (`infrastructure.ownership`).
    """
    dialect.require_ours(cursor)
    cursor.execute(dialect.ddl(POSITIONS_DDL))
    known = dict(cursor.execute("SELECT name, version FROM projection_positions").fetchall())
    reset = []
    for spec in PROJECTIONS:
        if known.get(spec.name) != spec.version:
            drop_tables(cursor, spec, dialect)
            reset_position(cursor, spec)
            reset.append(spec.name)
        create_tables(cursor, spec, dialect)
    # The hook processor's own state and the stored state documents live beside the read
    # models but are not among them: they cannot be derived from the log, so they are created
    # here, with the rest and under the same lock, and never dropped.
    from infrastructure.documents import create_tables as create_document_tables
    from infrastructure.hooks.tracking import create_tables as create_processor_tables

    create_processor_tables(cursor, dialect)
    create_document_tables(cursor, dialect)
    dialect.set_schema_version(cursor, SCHEMA_VERSION)
    return reset
