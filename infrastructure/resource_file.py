"""Reading a resources file: YAML declarations, validated for their types, errors with lines.

```yaml
resources:
  - name: motd
    type: file
    path: /srv/app/motd
    content: "hello\\n"
    depends_on: [data-dir]
```
Every key of an entry except `name`, `type` and `depends_on` is an attribute of its type.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from domain.errors import InvalidInput
from domain.resources import Resource, validate_declarations
from infrastructure.yaml_files import read_yaml

if TYPE_CHECKING:
    from yaml import Node

    from infrastructure.providers import ProviderRegistry

RESERVED = ("name", "type", "depends_on")


def load_resource_file(path: Path, providers: ProviderRegistry) -> list[Resource]:
    """The file's declarations, each validated for its type; InvalidInput names file and line."""
    import yaml

    text, document = read_yaml(path, InvalidInput)
    root = yaml.compose(text, Loader=yaml.SafeLoader)  # for line numbers; it parsed above
    if not isinstance(document, dict) or root is None:
        raise InvalidInput(f"{path}: expected a mapping with a 'resources' list")
    extra = sorted(str(key) for key in document if key != "resources")
    if extra:
        raise InvalidInput(f"{path}: unknown key '{extra[0]}' (a resources file has only "
                           "'resources')")
    items = document.get("resources")
    if not isinstance(items, list):
        raise InvalidInput(f"{path}: 'resources' must be a list of resources (use [] for none)")
    lines = [node.start_mark.line + 1 for node in _value_node(root, "resources").value]
    resources = [_declaration(path, line, item, providers)
                 for line, item in zip(lines, items, strict=True)]
    try:
        validate_declarations(resources)
    except InvalidInput as exc:
        # Names are unique once duplicates are out, and a duplicate is reported at its
        # second declaration: the last line with the name is the one to show.
        named = [line for resource, line in zip(resources, lines, strict=True)
                 if resource.name == exc.details.get("resource")]
        raise InvalidInput(f"{path}:{named[-1]}: {exc}" if named else f"{path}: {exc}") from None
    return resources


def _declaration(path: Path, line: int, item: Any, providers: ProviderRegistry) -> Resource:
    def refuse(problem: str) -> InvalidInput:
        return InvalidInput(f"{path}:{line}: {problem}")

    if not isinstance(item, dict):
        raise refuse("each resource must be a mapping with at least 'name' and 'type'")
    name, type_name = item.get("name"), item.get("type")
    if not isinstance(name, str) or not name:
        raise refuse("a resource needs a 'name' (a string)")
    if not isinstance(type_name, str) or not type_name:
        raise refuse(f"resource '{name}' needs a 'type' (a string)")
    depends_on = item.get("depends_on", [])
    if not isinstance(depends_on, list) or not all(isinstance(d, str) for d in depends_on):
        raise refuse(f"resource '{name}': depends_on must be a list of resource names")
    if not all(isinstance(key, str) for key in item):
        raise refuse(f"resource '{name}': attribute names must be strings")
    attributes = {key: value for key, value in item.items() if key not in RESERVED}
    try:
        return providers.normalize(Resource(name=name, type=type_name, attributes=attributes,
                                            depends_on=tuple(depends_on)))
    except InvalidInput as exc:
        raise refuse(str(exc)) from None


def _value_node(mapping: Node, key: str) -> Node:
    for key_node, value_node in mapping.value:
        if key_node.value == key:
            found: Node = value_node
            return found
    raise KeyError(key)

