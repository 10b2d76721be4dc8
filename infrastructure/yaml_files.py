"""Reading YAML files users write, with errors that name the file and the line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def read_yaml(path: Path, error: Callable[[str], Exception], *,
              prefix: str = "") -> tuple[str, Any]:
    """The file's text and its parsed document; a problem raises `error(message)`.

    The message names the file (after `prefix`) and, for a syntax error, the line:
    `config /etc/sloth-runner/config.yaml:3: not valid YAML: ...`.
    """
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{prefix}{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise error(f"{prefix}{path}: not UTF-8 text") from None
    try:
        return text, yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise error(f"{prefix}{path}{where}: not valid YAML: {problem}") from None
