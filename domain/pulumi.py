"""What a Pulumi stack export says, as a stack records it.

`pulumi stack export` writes a deployment (version 3 from Pulumi 1.0 on): every resource by
URN and type, the stack resource's outputs among them. Secrets are objects marked with
Pulumi's signature key; their values (ciphertext, or plaintext with `--show-secrets`) are
never kept: such an output reads as `<secret>`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from domain.errors import InvalidInput
from domain.imports import IMPORTED_FROM, IMPORTED_TYPE, PULUMI, SECRET
from domain.names import MAX_NAME_LENGTH, validate_key
from domain.resources import Resource
from domain.values import check_json_value

DEPLOYMENT_VERSION = 3
STACK_TYPE = "pulumi:pulumi:Stack"
SIGNATURE_KEY = "4dabf18193072939515e22adb298388d"
"""The key that marks a special value in Pulumi's state (a secret, an asset, an archive)."""
SECRET_SIGNATURE = "1b47061264138c4ac30d75fd1eb44270"
"""The signature key's value that says: this value is a secret."""

_NAME_CHARACTER = re.compile(r"[^A-Za-z0-9_.\-/]")


class NotAPulumiExport(InvalidInput):
    def __init__(self, reason: str) -> None:
        super().__init__(f"not a Pulumi stack export: {reason}")


class UnsupportedDeployment(InvalidInput):
    def __init__(self, version: Any) -> None:
        super().__init__(f"a Pulumi deployment of version {version!r} cannot be imported: "
                         f"only version {DEPLOYMENT_VERSION} (`pulumi stack export`) is read")


@dataclass(frozen=True)
class PulumiDeployment:
    """The stack's identity, its outputs (secrets concealed) and its resources as records."""

    stack: str
    project: str
    outputs: dict[str, Any]
    secrets: tuple[str, ...]
    """The outputs that held a secret (anywhere inside): each reads `<secret>` there."""
    resources: tuple[Resource, ...]
    notes: tuple[str, ...] = field(default=())


def read_export(document: Any) -> PulumiDeployment:
    """The outputs and resources of a decoded `pulumi stack export` document."""
    if not isinstance(document, dict):
        raise NotAPulumiExport("expected a JSON object")
    if "version" not in document or "deployment" not in document:
        raise NotAPulumiExport("no 'version' and 'deployment'")
    version = document["version"]
    if version != DEPLOYMENT_VERSION or isinstance(version, bool):
        raise UnsupportedDeployment(version)
    deployment = document["deployment"]
    if not isinstance(deployment, dict):
        raise NotAPulumiExport("'deployment' is not an object")
    resources = deployment.get("resources") or []
    if not isinstance(resources, list) or not all(
            isinstance(r, dict) and isinstance(r.get("urn"), str) and isinstance(r.get("type"), str)
            for r in resources):
        raise NotAPulumiExport("'deployment.resources' is not a list of resources with a urn "
                               "and a type")
    root = next((r for r in resources if r["type"] == STACK_TYPE and not r.get("parent")), None)
    notes: list[str] = []
    outputs, secrets = _outputs(root, notes)
    stack, project = _identity(root)
    records = _records([r for r in resources if r is not root])
    return PulumiDeployment(stack=stack, project=project, outputs=outputs,
                            secrets=tuple(secrets), resources=records, notes=tuple(notes))


def _identity(root: dict[str, Any] | None) -> tuple[str, str]:
    """`urn:pulumi:STACK::PROJECT::pulumi:pulumi:Stack::NAME` -> (STACK, PROJECT)."""
    if root is None:
        return "", ""
    parts = str(root["urn"]).split("::")
    stack = parts[0].removeprefix("urn:pulumi:") if parts else ""
    return stack, parts[1] if len(parts) > 1 else ""


def _outputs(root: dict[str, Any] | None, notes: list[str]) -> tuple[dict[str, Any], list[str]]:
    section = (root or {}).get("outputs") or {}
    if not isinstance(section, dict):
        raise NotAPulumiExport("the stack's 'outputs' is not an object")
    outputs: dict[str, Any] = {}
    secrets: list[str] = []
    for name in sorted(section):
        value, secret = conceal(section[name])
        try:
            validate_key(name, "output key")
            check_json_value(name, value)
        except InvalidInput as exc:
            notes.append(f"output '{name}' not imported: {exc}")
            continue
        outputs[name] = value
        if secret:
            secrets.append(name)
    return outputs, secrets


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIGNATURE_KEY) == SECRET_SIGNATURE


def conceal(value: Any) -> tuple[Any, bool]:
    """The value with every secret in it replaced by `<secret>`; and whether there was one."""
    if is_secret(value):
        return SECRET, True
    if isinstance(value, dict):
        found = False
        concealed = {}
        for key, item in value.items():
            concealed[key], secret = conceal(item)
            found = found or secret
        return concealed, found
    if isinstance(value, list):
        items = [conceal(item) for item in value]
        return [item for item, _ in items], any(secret for _, secret in items)
    return value, False


def _records(resources: list[dict[str, Any]]) -> tuple[Resource, ...]:
    """Each resource as a record under a name made from its URN's name part."""
    names: dict[str, str] = {}
    for resource in sorted(resources, key=lambda r: str(r["urn"])):
        urn = str(resource["urn"])
        name = _NAME_CHARACTER.sub("-", urn.rsplit("::", 1)[-1])
        digest = hashlib.sha256(urn.encode()).hexdigest()
        if name in names.values():
            name = f"{name}.{digest[:8]}"
        if (not name or len(name) > MAX_NAME_LENGTH or name in names.values()
                or not (name[0].isalnum() or name[0] == "_")):
            name = "pulumi-" + digest[:16]
        names[urn] = name
    records = []
    for resource in resources:
        urn = str(resource["urn"])
        details = {key: resource[key] for key in ("id", "provider", "parent", "custom")
                   if resource.get(key) not in (None, "")}
        needs = resource.get("dependencies")
        depends_on = sorted({names[other] for other in needs
                             if isinstance(other, str) and other in names and other != urn}
                            if isinstance(needs, list) else set())
        records.append(Resource(
            name=names[urn], type=IMPORTED_TYPE, record_only=True, depends_on=tuple(depends_on),
            attributes={IMPORTED_FROM: PULUMI, "type": resource["type"], "source_id": urn,
                        "details": details}))
    return tuple(sorted(records, key=lambda r: r.name))
