"""Comparing observed with desired state, and judging a fix by what is observed after it."""

from __future__ import annotations

from domain.drift import (
    AttributeDrift,
    DriftReport,
    DriftStatus,
    FixMode,
    FixResult,
    ResourceDrift,
    assess,
    compare,
    fix_outcome,
    skipped,
    unreadable,
)
from domain.resources import Resource

MOTD = Resource(name="motd", type="file", attributes={"path": "/srv/motd"})


def test_only_expected_attributes_are_compared() -> None:
    expected = {"ensure": "present", "content": "hello\n", "mode": "0644"}
    observed = {"ensure": "present", "content": "hello\n", "mode": "0600", "owner": "root"}
    assert compare(expected, observed) == [
        AttributeDrift(attribute="mode", expected="0644", actual="0600")]


def test_a_missing_resource_is_one_difference_not_one_per_attribute() -> None:
    expected = {"ensure": "present", "content": "hello\n", "mode": "0644"}
    assert compare(expected, {"ensure": "absent"}) == [
        AttributeDrift(attribute="ensure", expected="present", actual="absent")]


def test_assess_and_unreadable() -> None:
    in_sync = assess(MOTD, {"ensure": "present"}, {"ensure": "present", "mode": "0644"})
    assert (in_sync.status, in_sync.observed) == (DriftStatus.IN_SYNC,
                                                  {"ensure": "present", "mode": "0644"})
    drifted = assess(MOTD, {"ensure": "absent"}, {"ensure": "present"})
    assert drifted.status is DriftStatus.DRIFTED
    unknown = unreadable(MOTD, "cannot read /srv/motd: Permission denied")
    assert (unknown.status, unknown.observed, unknown.reason) == (
        DriftStatus.UNKNOWN, None, "cannot read /srv/motd: Permission denied")


def test_a_report_counts_and_lists_what_is_out_of_sync() -> None:
    report = DriftReport(resources=(
        ResourceDrift(name="a", type="file", status=DriftStatus.IN_SYNC),
        ResourceDrift(name="b", type="file", status=DriftStatus.DRIFTED),
        ResourceDrift(name="c", type="file", status=DriftStatus.UNKNOWN, reason="timeout")))
    assert [r.name for r in report.out_of_sync] == ["b", "c"]
    assert (report.count(DriftStatus.DRIFTED), report.count(DriftStatus.UNKNOWN)) == (1, 1)
    assert not report.in_sync
    assert DriftReport().in_sync


def test_a_fix_counts_only_when_observing_again_finds_a_match() -> None:
    before = assess(MOTD, {"mode": "0644"}, {"mode": "0600"})
    repaired = fix_outcome(before, assess(MOTD, {"mode": "0644"}, {"mode": "0644"}),
                           mode=FixMode.APPLY)
    assert (repaired.result, repaired.succeeded, repaired.changes) == (
        FixResult.REPAIRED, True, before.differences)
    still = fix_outcome(before, before, mode=FixMode.APPLY)
    assert (still.result, still.reason) == (FixResult.FAILED, "still drifted after the fix: mode")
    failed = fix_outcome(before, before, mode=FixMode.APPLY, error="cannot write: disk full")
    assert (failed.result, failed.reason) == (FixResult.FAILED, "cannot write: disk full")
    blind = fix_outcome(before, unreadable(MOTD, "timed out"), mode=FixMode.APPLY)
    assert blind.reason == "cannot be read after the fix: timed out"
    accepted = fix_outcome(before, assess(MOTD, {}, {}), mode=FixMode.ACCEPT)
    assert accepted.result is FixResult.ACCEPTED


def test_a_skipped_fix_names_the_dependency() -> None:
    before = assess(MOTD, {"mode": "0644"}, {"mode": "0600"})
    fix = skipped(before, "data-dir")
    assert (fix.result, fix.succeeded, fix.after) == (FixResult.SKIPPED, False, before)
    assert "'data-dir'" in fix.reason
