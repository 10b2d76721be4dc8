"""The dependency graph's SVG layout: rows in execution order, no overlaps, cycles marked."""

from __future__ import annotations

from itertools import pairwise

import networkx as nx

from server.graphsvg import NODE_GAP, cycle_edges, draw


def _graph(edges: list[tuple[str, str]], *nodes: str) -> nx.DiGraph[str]:
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(edges)
    return graph


def test_a_stack_is_drawn_below_what_it_depends_on() -> None:
    graph = _graph([("app", "db"), ("app", "cache"), ("db", "network"), ("worker", "db")])
    drawing = draw(graph, {}, [])
    y = {node.name: node.y for node in drawing.nodes}
    assert y["network"] < y["db"] < y["app"]
    assert y["cache"] == y["network"] and y["worker"] == y["app"]
    assert {node.status for node in drawing.nodes} == {"missing"}  # no statuses given


def test_boxes_of_a_row_do_not_overlap_and_fit_the_drawing() -> None:
    names = [f"stack-with-a-long-name-{index}" for index in range(12)]
    drawing = draw(_graph([(name, "base") for name in names]), {}, [])
    row = sorted((node for node in drawing.nodes if node.name != "base"), key=lambda n: n.x)
    for left, right in pairwise(row):
        assert left.x + left.width + NODE_GAP <= right.x + 0.01
    assert all(node.x + node.width <= drawing.width for node in drawing.nodes)


def test_both_edges_of_a_two_stack_cycle_are_marked_and_drawn_apart() -> None:
    graph = _graph([("a", "b"), ("b", "a"), ("app", "a")])
    cycles = [["a", "b", "a"]]
    drawing = draw(graph, {"a": "created", "b": "created", "app": "failed"}, cycles, "app")
    marked = {(edge.source, edge.target) for edge in drawing.edges if edge.in_cycle}
    assert marked == cycle_edges(cycles) == {("a", "b"), ("b", "a")}
    paths = {edge.path for edge in drawing.edges if edge.in_cycle}
    assert len(paths) == 2
    nodes = {node.name: node for node in drawing.nodes}
    assert nodes["a"].in_cycle and not nodes["app"].in_cycle and nodes["app"].focus
    assert nodes["app"].depends_on == ("a",)


def test_an_empty_graph_is_an_empty_drawing() -> None:
    drawing = draw(_graph([]), {}, [])
    assert drawing.nodes == () and drawing.edges == ()
