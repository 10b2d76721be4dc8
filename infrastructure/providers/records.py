"""Record-only resource types: what another tool manages, recorded but never probed."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from infrastructure.providers.base import RecordOnlyType


class TerraformResourceSpec(BaseModel):
    """A resource of a Terraform state, as the state's last push described it."""

    model_config = ConfigDict(extra="forbid")

    address: str = Field(min_length=1)
    mode: Literal["managed", "data"] = "managed"
    type: str = ""
    provider: str = ""
    instances: int = Field(default=0, ge=0)


class TerraformType(RecordOnlyType[TerraformResourceSpec]):
    """`terraform`: declared by pushes to the Terraform http backend (`sloth-runner serve`)."""

    spec = TerraformResourceSpec


class ImportedResourceSpec(BaseModel):
    """A resource an import found (in the Go tool's database, a Pulumi export) that no
    provider here observes: what the other tool recorded of it."""

    model_config = ConfigDict(extra="forbid")

    imported_from: str = Field(min_length=1)
    """The tool it came from: `go`, `pulumi`."""
    type: str = Field(min_length=1)
    """Its type in that tool."""
    source_id: str = ""
    """Its id in that tool (the Go tool's resource id, Pulumi's URN)."""
    details: dict[str, Any] = {}
    """What that tool recorded of it (never a secret's value)."""


class ImportedType(RecordOnlyType[ImportedResourceSpec]):
    """`imported`: declared by `sloth-runner import`; shown, never probed."""

    spec = ImportedResourceSpec
