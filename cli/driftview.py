"""How drift reads: resource / attribute / expected / actual tables, plans and fix results."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cli import output
from domain.fix_results import fix_succeeded

MAX_VALUE_WIDTH = 48
DRIFT_HEADERS = ["RESOURCE", "TYPE", "ATTRIBUTE", "EXPECTED", "ACTUAL"]


def value_shown(value: Any) -> str:
    """An expected or actual value on one line: JSON, a digest for long content, `-` for none."""
    if value is None:
        return "-"
    if isinstance(value, Mapping) and set(value) == {"sha256", "size"}:
        return f"sha256:{str(value['sha256'])[:12]}... ({value['size']} bytes)"
    text = output.value_text(value)
    return text if len(text) <= MAX_VALUE_WIDTH else text[: MAX_VALUE_WIDTH - 3] + "..."


def drift_rows(resources: Iterable[Mapping[str, Any]]) -> list[list[str]]:
    """One row per differing attribute; one per resource whose state is unknown.

    Resources in sync have neither, so a full observation and a recorded report (which
    keeps only what was not in sync) read the same.
    """
    rows: list[list[str]] = []
    for resource in resources:
        if resource["status"] == "unknown":
            rows.append([resource["name"], resource["type"], "(unknown)", "-",
                         resource["reason"] or "could not be read"])
        for difference in resource.get("differences", ()):
            rows.append([resource["name"], resource["type"], difference["attribute"],
                         value_shown(difference["expected"]), value_shown(difference["actual"])])
    return rows


def drift_table(resources: Iterable[Mapping[str, Any]]) -> list[str]:
    return output.table(DRIFT_HEADERS, drift_rows(resources))


def summary(total: int, in_sync: int, drifted: int, unknown: int, colour: bool) -> str:
    """`Result: DRIFTED - 2 of 3 resources drifted, 1 unknown, 0 in sync`."""
    if not drifted and not unknown:
        resources = "resource matches" if total == 1 else "resources match"
        return (f"Result: {output.paint('IN SYNC', 'in_sync', colour)} - {total} {resources} "
                "the desired state")
    word = "DRIFTED" if drifted else "UNKNOWN"
    return (f"Result: {output.paint(word, word.lower(), colour)} - {drifted} of {total} "
            f"resource{'s' if total != 1 else ''} drifted, {unknown} unknown, {in_sync} in sync")


def report_counts(resources: Sequence[Mapping[str, Any]]) -> tuple[int, int, int, int]:
    statuses = [resource["status"] for resource in resources]
    return (len(statuses), statuses.count("in_sync"), statuses.count("drifted"),
            statuses.count("unknown"))


def fix_lines(fixes: Iterable[Mapping[str, Any]]) -> list[str]:
    """One line per resource a fix acted on: what happened, what changed, or why not."""
    lines = []
    for fix in fixes:
        if fix_succeeded(fix["result"]):
            changed = ", ".join(d["attribute"] for d in fix["changes"]) or "state was unknown"
            lines.append(f"{output.tick()} {fix['name']}: {fix['result']} ({changed})")
        else:
            lines.append(f"{output.cross()} {fix['name']}: {fix['result']}: {fix['reason']}")
    return [output.printable(line) for line in lines]
