"""Running the console script as an unprivileged user, so that permission bits count.

The tests run as root in some environments, and root reads and writes whatever a file's mode
says; permission cases drop to `nobody` through `setpriv`.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ACTOR, SCRIPT


def _drop_privileges() -> list[str]:
    """The command prefix that runs the tool without root's disregard of permission bits."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("tests run as root and setpriv is not installed: permission bits cannot be "
                    "tested (install util-linux)")
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("tests run as root and there is no user 'nobody' to drop privileges to")
    return ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]


class Unprivileged:
    """Runs the console script as an unprivileged user, in a directory tree it can reach."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.prefix = _drop_privileges()
        self.home = root / "home"
        self.home.mkdir(mode=0o777)
        self.home.chmod(0o777)

    def __call__(self, db: Path, *args: str) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, "SLOTH_RUNNER_DB": str(db), "HOME": str(self.home),
                       "XDG_DATA_HOME": str(self.home / "data"),
                       "XDG_CONFIG_HOME": str(self.home / "config"),
                       "SLOTH_RUNNER_ACTOR": ACTOR}
        return subprocess.run([*self.prefix, SCRIPT, *args], capture_output=True, text=True,
                              env=environment, cwd=self.root, timeout=60, check=False)


@pytest.fixture
def unprivileged() -> Iterator[Unprivileged]:
    # pytest's tmp_path is private to its owner; the unprivileged user needs its own tree.
    root = Path(tempfile.mkdtemp(prefix="sloth-runner-permissions-"))
    root.chmod(0o755)
    try:
        yield Unprivileged(root)
    finally:
        for directory in [root, *root.rglob("*")]:
            if directory.is_dir() and not directory.is_symlink():
                directory.chmod(0o755)
        shutil.rmtree(root)


