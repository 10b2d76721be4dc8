"""Record-only resource types: what another tool manages, recorded but never probed."""

from __future__ import annotations

from typing import Literal

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
