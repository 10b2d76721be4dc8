"""Resource providers: how each resource type reads and changes the real world.

Third-party types subclass `ResourceType` and register under the `sloth_runner.resource_types`
entry-point group; see docs/en/resources-and-drift.md.
"""

from __future__ import annotations

from infrastructure.providers.base import (
    AbsolutePath,
    ApplyFailed,
    Mode,
    ProbeFailed,
    RecordOnlyType,
    ResourceType,
)
from infrastructure.providers.registry import ENTRY_POINT_GROUP, ProviderRegistry

__all__ = ["ENTRY_POINT_GROUP", "AbsolutePath", "ApplyFailed", "Mode", "ProbeFailed",
           "ProviderRegistry", "RecordOnlyType", "ResourceType"]
