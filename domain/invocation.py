"""Who is acting, from where, when, and under which command invocation."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, field_validator


class Source(StrEnum):
    """Where a change came from."""

    CLI = "cli"
    WORKFLOW = "workflow"
    HOOK = "hook"
    API = "api"
    TERRAFORM = "terraform"
    """Terraform's http backend (`sloth-runner serve`)."""
    WEB = "web"
    """The web pages of `sloth-runner serve`."""
    IMPORT = "import"
    SYSTEM = "system"


class Invocation(BaseModel):
    """The caller of a command: every event it causes records these facts."""

    model_config = ConfigDict(frozen=True)

    actor: str
    source: Source
    correlation_id: str
    at: datetime
    lock_id: str | None = None
    """The lock id the caller presents, which makes it the lock's holder."""

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("the time of an invocation must carry a time zone")
        return value
