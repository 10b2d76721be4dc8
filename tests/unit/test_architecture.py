"""The layering rules of DESIGN.md, checked on the source itself."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOWED_IN_DOMAIN = {"pydantic", "eventsourcing.domain", "domain"}


def imports(package: str) -> dict[Path, set[str]]:
    found: dict[Path, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[path] = names
    return found


def test_domain_imports_only_stdlib_pydantic_and_eventsourcing_domain() -> None:
    stdlib = sys.stdlib_module_names
    for path, names in imports("domain").items():
        for name in names:
            top = name.split(".")[0]
            assert top in stdlib or name in ALLOWED_IN_DOMAIN or top in {"pydantic", "domain"} or (
                name == "__future__"), f"{path.name} imports {name}"


def test_inner_layers_do_not_import_outer_ones() -> None:
    rules = {"domain": {"commands", "projections", "infrastructure", "cli", "server"},
             "commands": {"cli", "projections", "server"},
             "projections": {"cli", "commands", "server"},
             "infrastructure": {"cli", "server"},
             "server": {"cli"}}
    for package, forbidden in rules.items():
        for path, names in imports(package).items():
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path} imports {name}"


def test_nothing_imports_the_server_but_the_serve_command_lazily() -> None:
    for package in ("domain", "commands", "projections", "infrastructure", "cli"):
        for path, names in imports(package).items():
            if any(name.split(".")[0] == "server" for name in names):
                assert path == ROOT / "cli" / "serve.py", f"{path} imports the server"
    tree = ast.parse((ROOT / "cli" / "serve.py").read_text())
    top_level = {node.module for node in tree.body if isinstance(node, ast.ImportFrom)}
    top_level |= {alias.name for node in tree.body if isinstance(node, ast.Import)
                  for alias in node.names}
    assert not {name for name in top_level if name and name.split(".")[0] == "server"}


# SQL that writes a read-model table (statements are upper case in this code base; matching
# the grammar, not any "update ... resources" in prose or Python).
READ_MODEL_WRITE = re.compile(
    r"\b(?:INSERT\s+(?:OR\s+[A-Z]+\s+)?INTO|REPLACE\s+INTO|UPDATE|DELETE\s+FROM)\s+"
    r"(?:stacks|state_values|stack_outputs|state_events|state_locks|state_versions|resources"
    r"|resource_declarations|drift_reports|projection_positions|api_tokens)\b")


def test_the_read_model_write_pattern_sees_sql() -> None:
    for sql in ("UPDATE resources SET state = ?", "INSERT OR REPLACE INTO drift_reports (",
                "DELETE FROM stacks WHERE id = ?", "INSERT INTO state_events VALUES"):
        assert READ_MODEL_WRITE.search(sql), sql
    assert not READ_MODEL_WRITE.search("copy.__dict__.update(self.__dict__); copy.resources")


def test_only_projections_write_read_models() -> None:
    for package in ("commands", "cli", "domain", "infrastructure", "server"):
        for path in (ROOT / package).rglob("*.py"):
            assert not READ_MODEL_WRITE.search(path.read_text()), f"{path} writes a read model"


def test_read_commands_do_not_import_heavy_modules_at_start_up() -> None:
    import subprocess

    code = ("import sys, cli.main; heavy = [m for m in ('networkx', 'eventsourcing.application',"
            " 'domain.stack', 'yaml', 'lupa', 'psycopg', 'matplotlib', 'starlette', 'uvicorn',"
            " 'infrastructure.hooks', 'cli.hooks') if m in sys.modules]; print(heavy)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=ROOT)
    assert result.stdout.strip() == "[]"


def test_resource_and_drift_commands_start_without_pydantic_or_yaml() -> None:
    import subprocess

    code = ("import sys, cli.main, cli.drift, cli.resources; heavy = [m for m in ('pydantic',"
            " 'yaml', 'eventsourcing', 'domain.stack', 'infrastructure.providers') if m in"
            " sys.modules]; print(heavy)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=ROOT)
    assert result.stdout.strip() == "[]"


def test_a_write_with_no_hook_on_does_not_load_the_hook_machinery(tmp_path: Path) -> None:
    import subprocess

    database = tmp_path / "stacks.db"
    code = ("import sys; from cli.main import app\n"
            "def run(*args):\n"
            f"    app(['--db', {str(database)!r}, *args], standalone_mode=False)\n"
            "run('stack', 'create', 'app')\n"
            "loaded = [m for m in sys.modules if m.startswith('infrastructure.hooks.')"
            " and m != 'infrastructure.hooks.tracking']\n"
            "run('stack', 'state', 'set', 'app', 'a=1')\n"
            "print([m for m in sys.modules if m.startswith('infrastructure.hooks.')"
            " and m != 'infrastructure.hooks.tracking'], loaded)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=ROOT, env={**__import__("os").environ,
                                                       "SLOTH_RUNNER_ACTOR": "t@t"})
    assert result.stdout.strip().splitlines()[-1] == "[] []"


def test_a_write_no_hook_wants_loads_only_the_light_part_of_the_hook_machinery(
        tmp_path: Path) -> None:
    import subprocess

    database = tmp_path / "stacks.db"
    code = ("import sys; from cli.main import app\n"
            "def run(*args):\n"
            f"    app(['--db', {str(database)!r}, *args], standalone_mode=False)\n"
            "run('stack', 'create', 'app')\n"
            "run('hooks', 'add', 'locks', '--on', 'lock.*', '--run', 'true')\n"
            "for name in [m for m in sys.modules if m.startswith('infrastructure.hooks.')]:\n"
            "    del sys.modules[name]\n"
            "run('stack', 'state', 'set', 'app', 'a=1')\n"
            "print(sorted(m for m in sys.modules if m.startswith('infrastructure.hooks.')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=ROOT, env={**__import__("os").environ,
                                                       "SLOTH_RUNNER_ACTOR": "t@t"})
    assert result.stdout.strip().splitlines()[-1] == str(
        ["infrastructure.hooks.definitions", "infrastructure.hooks.inline"])


def test_a_read_command_on_sqlite_never_imports_the_postgresql_driver(tmp_path: Path) -> None:
    import subprocess

    database = tmp_path / "stacks.db"
    code = ("import sys; from cli.main import app; "
            f"app(['--db', {str(database)!r}, 'stack', 'list'], standalone_mode=False); "
            "print([m for m in ('psycopg', 'psycopg_pool', 'infrastructure.postgres',"
            " 'infrastructure.postgres_connection') if m in sys.modules], file=sys.stderr)")
    for _ in range(2):  # the first run creates the database, the second only reads
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True, cwd=ROOT)
        assert result.stderr.strip().splitlines()[-1] == "[]"
