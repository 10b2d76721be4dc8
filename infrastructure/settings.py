"""Settings from flags, environment, the YAML config file and defaults, in that order."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from infrastructure.errors import SettingsError

if TYPE_CHECKING:
    from domain.hooks import HookSpec

DB_ENV = "SLOTH_RUNNER_DB"
DB_PATH_ENV = "SLOTH_RUNNER_DB_PATH"
DATABASE_URL_ENV = "SLOTH_RUNNER_DATABASE_URL"
CONFIG_ENV = "SLOTH_RUNNER_CONFIG"
SYSTEM_DIR = Path("/etc/sloth-runner")


class StackSettings(NamedTuple):
    """The `stacks:` section of the config file (as the original tool documents it)."""

    database_path: Path | None = None
    database_url: str | None = None
    auto_lock: bool = False
    auto_snapshot: bool = False
    lock_timeout: timedelta = timedelta(hours=1)
    snapshot_retention: timedelta = timedelta(days=30)
    max_concurrent_executions: int = 10
    secret_key_file: Path | None = None
    secret_fallback_key_files: tuple[Path, ...] = ()
    encrypt_events: bool = False
    events_key_file: Path | None = None


class DeclaredHook(NamedTuple):
    """A hook declared in the config file (not an event: the file is its only record)."""

    name: str
    spec: HookSpec
    enabled: bool = True
    from_start: bool = False


class HookSettings(NamedTuple):
    """The `hooks:` section of the config file."""

    inline: bool = True
    """Deliver a command's events to the hooks that want them right after it commits."""
    workers: int = 100
    queue_size: int = 1000
    poll_interval: timedelta = timedelta(seconds=1)
    declared: tuple[DeclaredHook, ...] = ()


class Settings(NamedTuple):
    """Everything a run of the tool is configured with."""

    db_path: Path
    """The SQLite database (unless `database_url` names a PostgreSQL one)."""
    config_path: Path | None = None
    stacks: StackSettings = StackSettings()
    hooks: HookSettings = HookSettings()
    db_is_default: bool = False
    """No flag, variable or config file named the database: its directory may be created."""
    database_url: str | None = None
    """A PostgreSQL database, which is then used instead of the SQLite file."""


class Database(NamedTuple):
    """A database as named by a flag, a variable or the config file: a file or a URL."""

    path: Path | None = None
    url: str | None = None


def database_named(value: str) -> Database:
    """A database as a user names it where either kind is accepted: a PostgreSQL URL
    (checked), else a file path."""
    from infrastructure.postgres import is_database_url, parse_database_url

    if is_database_url(value):
        parse_database_url(value)  # a malformed URL is a usage error now, not at first use
        return Database(url=value.strip())
    return Database(path=Path(value).expanduser())


def settings_for(database: Database, *, config_path: Path | None = None,
                 stacks: StackSettings | None = None,
                 hooks: HookSettings | None = None) -> Settings:
    """Settings for this database (the default file when it names none)."""
    return Settings(db_path=database.path or default_db_path(), config_path=config_path,
                    stacks=stacks or StackSettings(), hooks=hooks or HookSettings(),
                    db_is_default=database == Database(), database_url=database.url)


def _xdg(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable, "").strip()
    return Path(value) if value else Path.home() / fallback


def default_db_path() -> Path:
    """`/etc/sloth-runner/stacks.db` where that directory is writable, else the user's data dir."""
    if SYSTEM_DIR.is_dir() and os.access(SYSTEM_DIR, os.W_OK | os.X_OK):
        return SYSTEM_DIR / "stacks.db"
    return _xdg("XDG_DATA_HOME", ".local/share") / "sloth-runner" / "stacks.db"


def default_config_path() -> Path | None:
    """The first config file that exists among the system and the user's locations."""
    for candidate in (
        SYSTEM_DIR / "config.yaml",
        _xdg("XDG_CONFIG_HOME", ".config") / "sloth-runner" / "config.yaml",
    ):
        if candidate.is_file():
            return candidate
    return None


def resolve_settings(db_flag: str | None = None, config_flag: str | None = None,
                     url_flag: str | None = None) -> Settings:
    """Combine flags, environment, config file and defaults (flag > env > file > default)."""
    config_path: Path | None
    explicit_config = config_flag or os.environ.get(CONFIG_ENV, "").strip() or None
    if explicit_config:
        config_path = Path(explicit_config).expanduser()
        try:
            found = config_path.is_file()
        except OSError as exc:  # a name too long for the file system, say
            raise SettingsError(f"config file {_shortened(str(config_path))}: "
                                f"{exc.strerror or exc}") from None
        if not found:
            raise SettingsError(f"config file {config_path} does not exist")
    else:
        config_path = default_config_path()

    stacks, hooks = load_settings_file(config_path) if config_path else (StackSettings(),
                                                                         HookSettings())

    named = named_database(db_flag, url_flag) or _database(
        str(stacks.database_path) if stacks.database_path else None, stacks.database_url,
        f"config {config_path}: stacks.database_path", "stacks.database_url")
    return settings_for(named or Database(), config_path=config_path, stacks=stacks, hooks=hooks)


def named_database(db_flag: str | None, url_flag: str | None = None) -> Database | None:
    """The database named by a flag or else the environment, if any (they beat the config
    file): a file (`--db`, SLOTH_RUNNER_DB or SLOTH_RUNNER_DB_PATH) or a PostgreSQL URL
    (`--database-url`, SLOTH_RUNNER_DATABASE_URL)."""
    return _database(db_flag, url_flag, "--db", "--database-url") or _database(
        os.environ.get(DB_ENV, "").strip() or os.environ.get(DB_PATH_ENV, "").strip() or None,
        os.environ.get(DATABASE_URL_ENV, "").strip() or None,
        DB_ENV if os.environ.get(DB_ENV, "").strip() else DB_PATH_ENV, DATABASE_URL_ENV)


def _database(path: str | None, url: str | None, path_name: str,
              url_name: str) -> Database | None:
    """The database one level (flags, environment, config file) names, checked."""
    if path and url:
        raise SettingsError(f"both {path_name} and {url_name} name a database; give one")
    if path:
        if "://" in path:  # the URL module is imported only when a URL is in sight
            from infrastructure.postgres import is_database_url, redact

            if is_database_url(path):
                raise SettingsError(f"{path_name} takes a file; give the PostgreSQL URL "
                                    f"{redact(path)!r} with {url_name}")
        return Database(path=Path(path).expanduser())
    if url:
        from infrastructure.postgres import parse_database_url

        parse_database_url(url)  # a malformed URL is a usage error now, not at first use
        return Database(url=url.strip())
    return None


def load_config(path: Path) -> StackSettings:
    """Read and validate a config file; errors name the file, the key and the reason."""
    return load_settings_file(path)[0]


def load_settings_file(path: Path) -> tuple[StackSettings, HookSettings]:
    """Read and validate a config file: its `stacks:` and `hooks:` sections."""
    from infrastructure.config_model import ConfigFile, describe_errors
    from infrastructure.yaml_files import read_yaml

    _, document = read_yaml(path, SettingsError, prefix="config ")
    if document is None:
        return StackSettings(), HookSettings()
    if not isinstance(document, dict):
        raise SettingsError(f"config {path}: expected a mapping with a 'stacks' section")
    from pydantic import ValidationError

    try:
        config = ConfigFile.model_validate(document, context={"base": path.parent})
    except ValidationError as exc:
        raise SettingsError(f"config {path}: {describe_errors(exc)}") from None
    section = config.stacks
    stacks = StackSettings(
        database_path=Path(section.database_path).expanduser() if section.database_path else None,
        database_url=section.database_url,
        auto_lock=section.auto_lock,
        auto_snapshot=section.auto_snapshot,
        lock_timeout=section.lock_timeout,
        snapshot_retention=section.snapshot_retention,
        max_concurrent_executions=section.max_concurrent_executions,
        secret_key_file=_key_file(path, section.secret_key_file),
        secret_fallback_key_files=tuple(_key_file(path, name) or path
                                        for name in section.secret_fallback_key_file),
        encrypt_events=section.encrypt_events,
        events_key_file=_key_file(path, section.events_key_file),
    )
    return stacks, config.hooks.settings()


def _key_file(config: Path, name: str | None) -> Path | None:
    """A key file named in the config file (relative to the config file's directory)."""
    return config.parent / Path(name).expanduser() if name else None


def _shortened(text: str) -> str:
    from domain.wording import shortened

    return shortened(text, 120)
