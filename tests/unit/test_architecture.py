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
    rules = {"domain": {"commands", "projections", "infrastructure", "cli"},
             "commands": {"cli", "projections"},
             "projections": {"cli", "commands"}}
    for package, forbidden in rules.items():
        for path, names in imports(package).items():
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path} imports {name}"


READ_MODEL_WRITE = re.compile(
    r"\b(INSERT|UPDATE|DELETE|REPLACE)\b[^\"']*\b(stacks|state_values|stack_outputs|state_events"
    r"|state_locks|state_versions|resources|projection_positions)\b", re.IGNORECASE)


def test_only_projections_write_read_models() -> None:
    for package in ("commands", "cli", "domain", "infrastructure"):
        for path in (ROOT / package).rglob("*.py"):
            assert not READ_MODEL_WRITE.search(path.read_text()), f"{path} writes a read model"


def test_read_commands_do_not_import_heavy_modules_at_start_up() -> None:
    import subprocess

    code = ("import sys, cli.main; heavy = [m for m in ('networkx', 'eventsourcing.application',"
            " 'domain.stack', 'yaml', 'lupa', 'psycopg',"
            " 'matplotlib') if m in sys.modules]; print(heavy)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=ROOT)
    assert result.stdout.strip() == "[]"
