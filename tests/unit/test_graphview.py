"""Graph renderings: DOT and Mermaid parse back to the same edges; the tree; format choice."""

from __future__ import annotations

import re

import networkx as nx
import pytest

from cli import graphview
from cli.errors import UsageProblem

EDGES = [("app-stack", "db-stack"), ("app-stack", "cache.v2"), ("web_1", "app-stack"),
         ("web_1", "db-stack")]


def sample(edges: list[tuple[str, str]] = EDGES) -> nx.DiGraph[str]:
    g: nx.DiGraph[str] = nx.DiGraph()
    g.add_edges_from(edges)
    for name in g.nodes:
        g.nodes[name]["status"] = "missing" if name == "cache.v2" else "completed"
    return g


def parse_dot(text: str) -> tuple[dict[str, str], set[tuple[str, str]]]:
    """Node labels and edges of the DOT we write (quoted ids, one statement per line)."""
    assert text.startswith("digraph ") and text.rstrip().endswith("}")
    nodes = dict(re.findall(r'^\s*"([^"]+)" \[label="([^"]*)"', text, re.MULTILINE))
    edges = set(re.findall(r'^\s*"([^"]+)" -> "([^"]+)";$', text, re.MULTILINE))
    return nodes, edges


def parse_mermaid(text: str) -> tuple[dict[str, str], set[tuple[str, str]]]:
    lines = text.splitlines()
    assert lines[0].startswith("flowchart ")
    labels = dict(re.findall(r'^\s+(\w+)\["([^"]*)"\]', text, re.MULTILINE))
    names = {node_id: label.split("<br/>")[0] for node_id, label in labels.items()}
    edges = {(names[a], names[b]) for a, b in re.findall(r"^\s+(\w+) --> (\w+)$", text, re.MULTILINE)}
    return {names[i]: label for i, label in labels.items()}, edges


def test_dot_parses_back_to_the_same_edges_and_shows_status() -> None:
    nodes, edges = parse_dot(graphview.to_dot(sample()))
    assert edges == set(EDGES)
    assert nodes["cache.v2"] == "cache.v2\\n(missing)"
    assert nodes["app-stack"] == "app-stack\\n(completed)"
    assert 'style="rounded,dashed"' in graphview.to_dot(sample())


def test_mermaid_parses_back_to_the_same_edges_and_shows_status() -> None:
    text = graphview.to_mermaid(sample())
    nodes, edges = parse_mermaid(text)
    assert edges == set(EDGES)
    assert nodes["cache.v2"] == "cache.v2<br/>(missing)"
    assert "classDef missing" in text and "stroke-dasharray" in text


def test_tree_draws_each_stack_above_its_dependencies() -> None:
    assert graphview.to_tree(sample()).splitlines() == [
        "web_1 (completed)",
        "├── app-stack (completed)",
        "│   ├── cache.v2 (missing)",
        "│   └── db-stack (completed)",
        "└── db-stack (completed) (see above)",
    ]


def test_tree_marks_cycles() -> None:
    lines = graphview.to_tree(sample([("a", "b"), ("b", "a")])).splitlines()
    assert lines == ["a (completed)", "└── b (completed)", "    └── a (completed) (cycle)"]


@pytest.mark.parametrize(("format_name", "output", "json_flag", "chosen"), [
    (None, None, False, "tree"),
    (None, None, True, "json"),
    ("json", None, True, "json"),
    (None, "deps.PNG", False, "png"),
    (None, "out/deps.svg", False, "svg"),
    (None, "g.mmd", False, "mermaid"),
    ("json", "g.json", False, "json"),
])
def test_format_choice(format_name: str | None, output: str | None, json_flag: bool,
                       chosen: str) -> None:
    assert graphview.choose_format(format_name, output, json_flag=json_flag) == chosen


@pytest.mark.parametrize(("format_name", "output", "fragment"), [
    ("png", None, "unknown format 'png'"),
    ("xml", None, "unknown format 'xml'"),
    (None, "deps.txt", "unknown output extension '.txt'"),
    (None, "deps", "unknown output extension 'deps'"),
    ("dot", "deps.png", "does not match"),
])
def test_unknown_formats_are_usage_errors(format_name: str | None, output: str | None,
                                          fragment: str) -> None:
    with pytest.raises(UsageProblem, match=re.escape(fragment)):
        graphview.choose_format(format_name, output, json_flag=False)


@pytest.mark.parametrize("format_name", ["dot", "mermaid", "tree"])
def test_json_flag_refuses_another_printed_format(format_name: str) -> None:
    with pytest.raises(UsageProblem, match=re.escape("--json prints the graph as JSON")):
        graphview.choose_format(format_name, None, json_flag=True)
