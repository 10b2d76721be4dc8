"""A run's `values`: a YAML file (`--values FILE`) overridden by `--set KEY=VALUE` options.

`--set` follows the CLI's convention elsewhere: `KEY=VALUE` sets a string, `KEY:=JSON` any
JSON value; a dotted key (`app.replicas:=3`) sets a value inside nested tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from commands.models import parse_assignments
from domain.errors import InvalidInput
from domain.workflow import WorkflowInvalid
from infrastructure.yaml_files import read_yaml


def load_values(file: Path | None = None, assignments: Sequence[str] = ()) -> dict[str, Any]:
    """The values a workflow sees; problems raise WorkflowInvalid naming the file or option."""
    values: dict[str, Any] = {}
    if file is not None:
        _, document = read_yaml(file, WorkflowInvalid, prefix="values file ")
        if document is None:
            document = {}
        if not isinstance(document, dict) or not all(isinstance(key, str) for key in document):
            raise WorkflowInvalid(f"values file {file}: expected a mapping of names to values "
                                  f"at the top level, got {type(document).__name__}")
        values = orjson.loads(orjson.dumps(document, default=str,
                                           option=orjson.OPT_NON_STR_KEYS))
    for item in assignments:
        try:
            ((key, value),) = parse_assignments([item], kind="value name").items()
        except InvalidInput as exc:
            raise WorkflowInvalid(f"--set {item}: {exc}") from None
        _assign(values, key, value, item)
    return values


def _assign(values: dict[str, Any], key: str, value: Any, item: str) -> None:
    parts = key.split(".")
    if not all(parts):
        raise WorkflowInvalid(f"--set {item}: '{key}' has an empty part between dots")
    target = values
    for depth, part in enumerate(parts[:-1]):
        inner = target.get(part)
        if inner is None:
            inner = target[part] = {}
        if not isinstance(inner, dict):
            where = ".".join(parts[:depth + 1])
            raise WorkflowInvalid(f"--set {item}: '{where}' is not a table of values")
        target = inner
    target[parts[-1]] = value
