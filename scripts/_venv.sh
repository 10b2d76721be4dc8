# Sourced by scripts/test, scripts/demo and scripts/bench: make .venv (Python >= 3.11) and
# install the project into it, again only when pyproject.toml changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: sloth-runner needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
    exit 2
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
STAMP=.venv/.sloth-runner-installed
EXTRAS="dev,postgres"
WANT="$( (cat pyproject.toml; echo "$EXTRAS") | "$PYTHON" -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
    # compat mode: a plain path entry, which costs nothing at start-up (the default finder does)
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$EXTRAS]" \
        --config-settings editable_mode=compat
    echo "$WANT" > "$STAMP"
fi
# Like pip does for an installed package, keep the project's bytecode compiled: with
# PYTHONDONTWRITEBYTECODE set, imports would otherwise compile every module on every run.
.venv/bin/python -m compileall -q domain commands projections infrastructure cli server >/dev/null
export PATH="$ROOT/.venv/bin:$PATH"
