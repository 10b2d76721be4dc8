"""Maps pydantic domain events to stored events and back, through orjson."""

from __future__ import annotations

from typing import Any, cast
from uuid import UUID

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent, Transcoder
from eventsourcing.utils import get_topic, resolve_topic
from pydantic import BaseModel

from domain.events import upcast

_ORIGINATOR_FIELDS = {"originator_id", "originator_version"}


class OrjsonTranscoder(Transcoder):
    """Encodes JSON-ready objects with orjson; pydantic has already made them JSON-ready."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


class PydanticMapper(Mapper[UUID]):
    """Stores each event's JSON form under its stable topic and upcasts old versions on load."""

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        model = cast(BaseModel, domain_event)
        state = model.model_dump(mode="json", exclude=_ORIGINATOR_FIELDS)
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        data = self.transcoder.encode(state)
        if self.compressor:
            data = self.compressor.compress(data)
        if self.cipher:
            data = self.cipher.encrypt(data)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=get_topic(type(domain_event)),
            state=data,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        cls = resolve_topic(stored_event.topic)
        data = stored_event.state
        try:
            if self.cipher:
                data = self.cipher.decrypt(data)
            if self.compressor:
                data = self.compressor.decompress(data)
            state: dict[str, Any] = self.transcoder.decode(data)
        except Exception as exc:
            raise MapperDeserialisationError(
                f"cannot decode stored event {stored_event.topic} "
                f"{stored_event.originator_id} v{stored_event.originator_version}: {exc}"
            ) from exc
        upcast(cls, state)
        originator_id = stored_event.originator_id
        state["originator_id"] = originator_id if isinstance(originator_id, UUID) else UUID(
            originator_id
        )
        state["originator_version"] = stored_event.originator_version
        return cast(DomainEventProtocol[UUID], cls.model_validate(state))
