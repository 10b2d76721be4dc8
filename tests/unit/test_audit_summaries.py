"""Every event type reads as a sentence in the audit log, not as its bare type name."""

from __future__ import annotations

from domain.events import DomainEvent
from domain.hooks import Hook
from domain.stack import Stack
from projections.projectors.audit import summarize

EVENT_TYPES = [cls for aggregate in (Stack, Hook) for cls in vars(aggregate).values()
               if isinstance(cls, type) and issubclass(cls, DomainEvent) and "TOPIC" in vars(cls)]


def test_every_event_type_has_its_own_summary() -> None:
    fallback = summarize.dispatch(DomainEvent)
    assert len(EVENT_TYPES) >= 29
    missing = [cls.TOPIC for cls in EVENT_TYPES if summarize.dispatch(cls) is fallback]
    assert missing == []


def test_token_events_have_summaries_that_never_hold_a_secret() -> None:
    from domain.tokens import ApiToken
    from tests.conftest import invocation

    token = ApiToken.create("ci", "a" * 64, invocation(), read_only=True, stacks=["prod-*"])
    token.revoke(invocation())
    created, revoked = token.collect_events()
    assert summarize(created) == ("info", "API token 'ci' created (read-only, stacks prod-*)")
    assert summarize(revoked) == ("warning", "API token 'ci' revoked")
    assert "a" * 64 not in summarize(created)[1]


def test_the_seal_of_the_log_reads_as_a_sentence() -> None:
    from domain.audit_log import AuditLog
    from tests.conftest import invocation

    sealed = AuditLog.seal(120, 118, "ab" * 32, invocation()).collect_events()[0]
    assert summarize.dispatch(type(sealed)) is not summarize.dispatch(DomainEvent)
    assert summarize(sealed) == ("info", "event log sealed: 118 events stored before the "
                                 "chain chained, up to position 120 (head abababababab)")


def test_a_dependency_added_reads_as_a_sentence() -> None:
    from tests.conftest import invocation

    stack = Stack.create("app", "", invocation())
    stack.add_dependencies(["db"], invocation(), paths_back={})
    event = stack.collect_events()[-1]
    assert summarize(event) == ("info", "now depends on 'db'")
