"""Reading YAML files users write, with errors that name the file and the line.

One loader for every file (config, resources): the safe loader, except that a key repeated
in one mapping is an error. Plain YAML keeps the last of two equal keys silently, so a typo
could quietly undo a setting.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import yaml


class _RepeatedKey(Exception):
    def __init__(self, key: str, line: int) -> None:
        super().__init__(key)
        self.key = key
        self.line = line


def read_yaml(path: Path, error: Callable[[str], Exception], *,
              prefix: str = "") -> tuple[str, Any]:
    """The file's text and its parsed document; a problem raises `error(message)`.

    The message names the file (after `prefix`) and, where there is one, the line:
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
        return text, yaml.load(text, Loader=_loader())
    except _RepeatedKey as exc:
        raise error(f"{prefix}{path}:{exc.line}: key '{exc.key}' appears twice in one "
                    "mapping") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise error(f"{prefix}{path}{where}: not valid YAML: {problem}") from None


@functools.cache
def _loader() -> type[yaml.SafeLoader]:
    """The safe loader, refusing a key repeated in one mapping (built when YAML is first read)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: yaml.MappingNode,
                              deep: bool = False) -> dict[Any, Any]:
            seen: set[str] = set()
            for key_node, _ in node.value:
                # Merged keys (`<<: *defaults`) may be overridden; only written keys count.
                if not isinstance(key_node, yaml.ScalarNode) or (
                        key_node.tag == "tag:yaml.org,2002:merge"):
                    continue
                if key_node.value in seen:
                    raise _RepeatedKey(key_node.value, key_node.start_mark.line + 1)
                seen.add(key_node.value)
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader
