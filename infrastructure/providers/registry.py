"""The resource types this run knows: the built-ins, and plug-ins found through entry points."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from domain.errors import InvalidInput
from domain.resources import Resource
from infrastructure.providers.base import ResourceType

ENTRY_POINT_GROUP = "sloth_runner.resource_types"
MAX_KNOWN_SPECS = 20_000
"""How many validated specs a registry keeps (a long-lived process sees the same
declarations again and again: the event store's cache hands out the same resources)."""


def builtin_types() -> dict[str, ResourceType[Any]]:
    from infrastructure.providers.command import CommandType
    from infrastructure.providers.files import DirectoryType, FileType
    from infrastructure.providers.records import ImportedType, TerraformType

    return {"file": FileType(), "directory": DirectoryType(), "command": CommandType(),
            "terraform": TerraformType(), "imported": ImportedType()}


def describe_errors(error: ValidationError) -> str:
    """One line naming each offending attribute and what is wrong with it."""
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"])
        if item["type"] == "extra_forbidden":
            parts.append(f"unknown attribute '{where}'")
        elif item["type"] == "missing":
            parts.append(f"missing attribute '{where}'")
        else:
            reason = item["msg"].removeprefix("Value error, ")
            parts.append(f"{where}: {reason}" if where else reason)
    return "; ".join(parts)


class ProviderRegistry:
    """Finds the provider of each resource type and runs it on a resource's validated spec.

    Plug-ins are looked up (and imported) only when a resource names a type that is not
    built in; a built-in name cannot be taken over by a plug-in.
    """

    def __init__(self, types: Mapping[str, ResourceType[Any]] | None = None, *,
                 plugins: bool = True) -> None:
        self._types: dict[str, ResourceType[Any]] = (
            dict(types) if types is not None else builtin_types())
        self._plugins = plugins
        # By the identity of the (frozen) resource, which each entry keeps alive, so an id
        # is never reused while its entry is here. Read and written whole: safe in threads.
        self._specs: dict[int, tuple[Resource, ResourceType[Any], BaseModel]] = {}

    def type_names(self) -> list[str]:
        return sorted(self._types)

    def provider(self, resource: Resource) -> ResourceType[Any]:
        provider = self._types.get(resource.type)
        if provider is None and self._plugins:
            provider = self._load_plugin(resource)
        if provider is None:
            raise InvalidInput(
                f"resource '{resource.name}': unknown type '{resource.type}' (known: "
                f"{', '.join(self.type_names())}; more through the '{ENTRY_POINT_GROUP}' "
                "entry-point group)", resource=resource.name)
        return provider

    def _load_plugin(self, resource: Resource) -> ResourceType[Any] | None:
        from importlib.metadata import entry_points

        for entry_point in entry_points(group=ENTRY_POINT_GROUP, name=resource.type):
            try:
                loaded = entry_point.load()
                provider: ResourceType[Any] = loaded() if isinstance(loaded, type) else loaded
            except Exception as exc:
                raise InvalidInput(
                    f"resource '{resource.name}': type '{resource.type}' "
                    f"({entry_point.value}) cannot be loaded: {exc}",
                    resource=resource.name) from None
            spec = getattr(provider, "spec", None)
            if not (isinstance(spec, type) and issubclass(spec, BaseModel)) or not all(
                    callable(getattr(provider, m, None))
                    for m in ("expected", "read", "apply", "adopt")):
                raise InvalidInput(
                    f"resource '{resource.name}': type '{resource.type}' "
                    f"({entry_point.value}) is not a resource type: it needs a pydantic "
                    "`spec` and expected/read/apply/adopt methods", resource=resource.name)
            self._types[resource.type] = provider
            return provider
        return None

    def _spec(self, resource: Resource) -> tuple[ResourceType[Any], BaseModel]:
        # Observing asks for `expected` and then `read` of the same (frozen) resource, and
        # every check of a stack asks again: validating its attributes once is enough.
        known = self._specs.get(id(resource))
        if known is not None and known[0] is resource:
            return known[1], known[2]
        provider = self.provider(resource)
        try:
            spec = provider.spec.model_validate(resource.attributes)
        except ValidationError as exc:
            raise InvalidInput(f"resource '{resource.name}' ({resource.type}): "
                               f"{describe_errors(exc)}", resource=resource.name) from None
        if len(self._specs) >= MAX_KNOWN_SPECS:
            self._specs = {}
        self._specs[id(resource)] = (resource, provider, spec)
        return provider, spec

    def parallel(self, resource: Resource) -> bool:
        """Whether reading this resource waits on something outside this process."""
        return bool(getattr(self.provider(resource), "parallel_reads", False))

    def normalize(self, resource: Resource) -> Resource:
        """The resource with its attributes validated and spelled out in full."""
        _, spec = self._spec(resource)
        provider = self.provider(resource)
        return Resource(name=resource.name, type=resource.type,
                        attributes=spec.model_dump(mode="json"),
                        depends_on=resource.depends_on,
                        record_only=bool(getattr(provider, "record_only", False)))

    def expected(self, resource: Resource) -> dict[str, Any]:
        provider, spec = self._spec(resource)
        return provider.expected(spec)

    def read(self, resource: Resource) -> dict[str, Any]:
        provider, spec = self._spec(resource)
        return provider.read(spec)

    def apply(self, resource: Resource) -> None:
        provider, spec = self._spec(resource)
        provider.apply(spec)

    def adopt(self, resource: Resource, observed: Mapping[str, Any]) -> dict[str, Any]:
        provider, spec = self._spec(resource)
        return provider.adopt(spec, observed)
