"""Counts read as English in one-line messages: one thing is singular, and so is what agrees
with it."""

from __future__ import annotations

import pytest

from domain.validation import StackFacts, check_drift, check_resources
from domain.wording import agreeing, plural


def test_one_thing_is_singular_and_others_plural() -> None:
    assert [plural(n, "stack") for n in (0, 1, 2)] == ["0 stacks", "1 stack", "2 stacks"]
    assert [agreeing(n, "its type", "their types") for n in (0, 1, 2)] == [
        "their types", "its type", "their types"]


@pytest.mark.parametrize(("count", "reason"), [
    (1, "1 declared resource valid for its type"),
    (3, "3 declared resources valid for their types"),
    (0, "no resources declared"),
])
def test_the_resources_check_agrees_with_the_count(count: int, reason: str) -> None:
    facts = StackFacts(name="app", status="created", resources_declared=count)
    assert check_resources(facts).reason == reason


def test_the_drift_check_counts_resources_in_sync() -> None:
    one = StackFacts(name="app", status="created", resources_declared=1, drift=())
    two = StackFacts(name="app", status="created", resources_declared=2, drift=())
    assert (check_drift(one).reason, check_drift(two).reason) == (
        "1 resource in sync", "2 resources in sync")
