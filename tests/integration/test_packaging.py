"""The installed wheel holds the project's own packages and nothing else."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"cli", "commands", "domain", "infrastructure", "projections", "server"}


@pytest.mark.slow
def test_the_wheel_contains_only_the_projects_packages(tmp_path: Path) -> None:
    # Built from a copy of the tree, so the build leaves nothing in the checkout.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", ".*_cache"))
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--wheel-dir", str(wheels), str(source)], check=True, capture_output=True)
    (wheel,) = wheels.glob("sloth_runner-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == PACKAGES
    assert not [name for name in names if "/tests/" in name or name.startswith("tests/")]
    assert not [name for name in names if "__pycache__" in name]
    # The web pages' templates, styles and vendored script are package data of `server`.
    shipped = ROOT / "server"
    data = {str(path.relative_to(ROOT)) for folder in ("templates", "static")
            for path in (shipped / folder).iterdir() if path.is_file()}
    assert data and data <= set(names), sorted(data - set(names))
