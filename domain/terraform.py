"""Terraform state held by a stack: which document it is, and what a document says.

A Terraform state document (format version 3 from Terraform 0.11, version 4 from 0.12 on,
OpenTofu alike) is stored as pushed; the stack records which one it holds, and follows the
document's outputs and resources as its own outputs and `terraform` resource declarations.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from domain.errors import Conflict, InvalidInput
from domain.names import MAX_NAME_LENGTH, validate_key
from domain.resources import Resource
from domain.values import check_json_value

TERRAFORM_TYPE = "terraform"
"""The resource type of what a Terraform state manages: a record, never probed."""

SENSITIVE = "<sensitive>"
"""What a sensitive output's value reads as: the value itself stays in the state document."""

_KEY_CHARACTER = re.compile(r"[^A-Za-z0-9_.\-/]")


class TerraformState(BaseModel):
    """The Terraform state document a stack holds (the document itself is stored apart)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sha256: str
    serial: int
    lineage: str
    terraform_version: str = ""
    size: int
    outputs: tuple[str, ...] = ()
    """The outputs the document set (the stack may hold other outputs, set by hand)."""
    sensitive: tuple[str, ...] = ()
    """Those of `outputs` Terraform marks sensitive."""

    def summary(self) -> dict[str, Any]:
        """What a comparison of two versions shows of it."""
        return {"serial": self.serial, "lineage": self.lineage, "sha256": self.sha256}


@dataclass(frozen=True)
class StateDocument:
    """What a decoded Terraform state document says, as a stack records it."""

    serial: int
    lineage: str
    terraform_version: str
    outputs: dict[str, Any]
    sensitive: tuple[str, ...]
    resources: tuple[Resource, ...]


class NotAStateDocument(InvalidInput):
    def __init__(self, reason: str) -> None:
        super().__init__(f"not a Terraform state document: {reason}")


class SerialWentBackwards(Conflict):
    """A push whose serial is below the one the stack holds, for the same lineage."""

    def __init__(self, stack: str, held: TerraformState, pushed: int) -> None:
        super().__init__(
            f"stack '{stack}' holds Terraform state serial {held.serial} of lineage "
            f"{held.lineage}; serial {pushed} would go backwards (refresh and apply again)",
            stack=stack)


def read_document(document: Any) -> StateDocument:
    """The serial, lineage, outputs and resources of a decoded state document."""
    if not isinstance(document, dict):
        raise NotAStateDocument("expected a JSON object")
    version = document.get("version")
    serial = document.get("serial")
    lineage = document.get("lineage", "")
    if not isinstance(version, int) or isinstance(version, bool):
        raise NotAStateDocument("no integer 'version'")
    if not isinstance(serial, int) or isinstance(serial, bool) or serial < 0:
        raise NotAStateDocument("no 'serial' (a whole number of 0 or more)")
    if not isinstance(lineage, str):
        raise NotAStateDocument("'lineage' is not a string")
    terraform_version = document.get("terraform_version", "")
    if version >= 4:
        outputs, resources = _outputs(document.get("outputs")), _resources_v4(
            document.get("resources"))
    else:
        root = _root_module(document.get("modules"))
        outputs = _outputs(root.get("outputs") if root else None)
        resources = _resources_v3(document.get("modules"))
    values = {name: (SENSITIVE if sensitive else value)
              for name, (value, sensitive) in outputs.items()}
    return StateDocument(
        serial=serial, lineage=lineage,
        terraform_version=terraform_version if isinstance(terraform_version, str) else "",
        outputs=values,
        sensitive=tuple(sorted(name for name, (_, sensitive) in outputs.items() if sensitive)),
        resources=_named(resources))


def _outputs(section: Any) -> dict[str, tuple[Any, bool]]:
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise NotAStateDocument("'outputs' is not an object")
    found = {}
    for name, output in section.items():
        validate_key(name, "output key")
        if not isinstance(output, dict) or "value" not in output:
            raise NotAStateDocument(f"output '{name}' has no value")
        sensitive = bool(output.get("sensitive", False))
        found[name] = (None if sensitive else check_json_value(name, output["value"]),
                       sensitive)
    return found


def _root_module(modules: Any) -> dict[str, Any] | None:
    for module in _modules(modules):
        if module.get("path") == ["root"]:
            return module
    return None


def _modules(modules: Any) -> list[dict[str, Any]]:
    if modules is None:
        return []
    if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
        raise NotAStateDocument("'modules' is not a list of objects")
    return modules


@dataclass(frozen=True)
class _Managed:
    address: str
    mode: str
    type: str
    provider: str
    instances: int


def _resources_v3(modules: Any) -> list[_Managed]:
    """Format 3 keys each instance (`aws_instance.web.0`) under its module's path."""
    grouped: dict[str, _Managed] = {}
    for module in _modules(modules):
        path = module.get("path") or ["root"]
        prefix = "".join(f"module.{part}." for part in path[1:] if isinstance(part, str))
        resources = module.get("resources") or {}
        if not isinstance(resources, dict):
            raise NotAStateDocument("a module's 'resources' is not an object")
        for key, resource in resources.items():
            parts = str(key).split(".")
            mode = "data" if parts[0] == "data" else "managed"
            named = 3 if mode == "data" else 2
            if len(parts) > named and parts[-1].isdigit():
                parts = parts[:-1]
            address = prefix + ".".join(parts)
            kind = resource.get("type", "") if isinstance(resource, dict) else ""
            provider = resource.get("provider", "") if isinstance(resource, dict) else ""
            before = grouped.get(address)
            grouped[address] = _Managed(address, mode, str(kind), str(provider),
                                        (before.instances if before else 0) + 1)
    return list(grouped.values())


def _resources_v4(resources: Any) -> list[_Managed]:
    if resources is None:
        return []
    if not isinstance(resources, list) or not all(isinstance(r, dict) for r in resources):
        raise NotAStateDocument("'resources' is not a list of objects")
    found = []
    for resource in resources:
        mode = str(resource.get("mode", "managed"))
        module = resource.get("module")
        address = (f"{module}." if module else "") + ("data." if mode == "data" else "") + (
            f"{resource.get('type', '')}.{resource.get('name', '')}")
        instances = resource.get("instances")
        found.append(_Managed(address, mode, str(resource.get("type", "")),
                              str(resource.get("provider", "")),
                              len(instances) if isinstance(instances, list) else 0))
    return found


def _named(resources: list[_Managed]) -> tuple[Resource, ...]:
    """Each resource under a name made from its address (which may hold `[0]` or `["a"]`)."""
    named: dict[str, Resource] = {}
    for managed in sorted(resources, key=lambda r: r.address):
        name = _KEY_CHARACTER.sub("", managed.address.replace("[", "/"))
        if (not name or len(name) > MAX_NAME_LENGTH or name in named
                or not (name[0].isalnum() or name[0] == "_")):
            name = "terraform-" + hashlib.sha256(managed.address.encode()).hexdigest()[:16]
        named[name] = Resource(
            name=name, type=TERRAFORM_TYPE, record_only=True,
            attributes={"address": managed.address, "mode": managed.mode,
                        "type": managed.type, "provider": managed.provider,
                        "instances": managed.instances})
    return tuple(named.values())

