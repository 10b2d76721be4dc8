"""The dependency graph: order, levels, cycles, reach and the add-time cycle check (in memory)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.dependencies import DependencyCycle
from projections.graph import DependencyGraph


def graph(edges: list[tuple[str, str]], **statuses: str) -> DependencyGraph:
    names = {name for edge in edges for name in edge}
    known = {name: statuses.get(name, "created") for name in names if statuses.get(name) != "missing"}
    return DependencyGraph.build(known, edges)


@st.composite
def dags(draw: st.DrawFn) -> tuple[int, list[tuple[str, str]]]:
    """Random acyclic graphs: stack i may only depend on stacks numbered below it."""
    size = draw(st.integers(min_value=1, max_value=25))
    pairs = draw(st.lists(st.tuples(st.integers(0, size - 1), st.integers(0, size - 1)),
                          max_size=70))
    return size, [(f"s{a}", f"s{b}") for a, b in pairs if a > b]


@settings(max_examples=150, deadline=None)
@given(dags(), st.data())
def test_order_respects_every_edge_and_levels_are_maximal(
        dag: tuple[int, list[tuple[str, str]]], data: st.DataObject) -> None:
    size, edges = dag
    g = DependencyGraph.build({f"s{i}": "created" for i in range(size)}, edges)
    requested = data.draw(st.lists(st.sampled_from(sorted(g.graph.nodes)), min_size=1))
    levels = g.order(requested)
    level_of = {name: index for index, level in enumerate(levels) for name in level}
    flat = [name for level in levels for name in level]
    # Each stack once: the requested ones and everything they depend on, nothing else.
    assert len(flat) == len(set(flat))
    assert set(flat) == g.closure(requested)
    # Every dependency runs on an earlier level than its dependent.
    for stack, dependency in edges:
        if stack in level_of:
            assert level_of[dependency] < level_of[stack]
    # Maximal levels: nothing could run earlier, so a stack past level 0 waits for
    # some dependency on the level just before it.
    for name, index in level_of.items():
        if index:
            assert any(level_of[d] == index - 1 for d in g.graph.successors(name))
    assert all(level == sorted(level) for level in levels)


def test_order_of_the_usage_example() -> None:
    g = graph([("app-stack", "db-stack"), ("frontend-stack", "app-stack"),
               ("app-stack", "cache-stack"), ("worker", "db-stack")])
    assert g.order(["db-stack", "app-stack", "frontend-stack"]) == [
        ["cache-stack", "db-stack"], ["app-stack"], ["frontend-stack"]]
    assert g.order(["frontend-stack"]) == [["cache-stack", "db-stack"], ["app-stack"],
                                           ["frontend-stack"]]


def test_order_refuses_a_cycle_and_names_it() -> None:
    g = graph([("a", "b"), ("b", "c"), ("c", "a"), ("x", "y")])
    assert g.order(["x"]) == [["y"], ["x"]]
    with pytest.raises(DependencyCycle) as found:
        g.order(["x", "a"])
    cycle = found.value.cycle
    assert cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"} and len(cycle) == 4
    assert "dependency cycle: " + " -> ".join(cycle) == str(found.value)


def test_cycles_are_listed_from_their_smallest_name() -> None:
    g = graph([("b", "a"), ("a", "b"), ("c", "d"), ("d", "e"), ("e", "c"), ("x", "c")])
    assert g.cycles() == [["a", "b", "a"], ["c", "d", "e", "c"]]
    assert g.cycles(within=g.closure(["x"])) == [["c", "d", "e", "c"]]
    assert g.cycles(within=["a"]) == []


def test_paths_back_only_run_through_existing_live_stacks() -> None:
    g = graph([("db", "net"), ("net", "app"), ("cache", "old"), ("old", "app")], old="destroyed")
    assert g.paths_back("app", ["db", "cache", "queue"]) == {"db": ["db", "net", "app"]}
    assert graph([("db", "ghost"), ("ghost", "app")], ghost="missing").paths_back(
        "app", ["db"]) == {}


def test_reach_gives_depths_both_ways() -> None:
    g = graph([("web", "app"), ("app", "db"), ("app", "cache"), ("db", "disk"), ("web", "disk")])
    assert g.reach("web") == {"app": 1, "disk": 1}
    assert g.reach("web", transitive=True) == {"app": 1, "disk": 1, "cache": 2, "db": 2}
    assert g.reach("disk", reverse=True, transitive=True) == {"db": 1, "web": 1, "app": 2}
    assert g.reach("nowhere") == {}


def test_facts_name_who_requires_each_dependency_a_check_reports() -> None:
    g = graph([("web", "app"), ("app", "db"), ("web", "db"), ("db", "disk"), ("app", "cache"),
               ("cache", "disk")], disk="missing", db="destroyed", cache="failed")
    checked = g.check("web")
    assert checked.count == 4  # app, db, cache, disk
    facts = {f.name: f for f in checked.dependencies}
    assert set(facts) == {"db", "cache", "disk"}  # app is fine: only counted
    assert facts["db"].required_by == ("app", "web")
    assert facts["disk"].required_by == ("cache", "db")
    assert facts["disk"].status is None
    assert [f.name for f in checked.missing] == ["disk"]
    assert [f.name for f in checked.destroyed] == ["db"]
    assert g.status("disk") == "missing" and not g.exists("disk")
    assert g.check("cache").count == 1 and g.check("disk").count == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True),
       st.lists(st.tuples(st.sampled_from("abcdxy"), st.sampled_from("abcdxy"))),
       st.booleans())
def test_digraph_is_the_graph_networkx_builds_itself(
        nodes: list[str], edges: list[tuple[str, str]], reverse: bool) -> None:
    import networkx as nx

    from projections.graph import digraph

    expected: nx.DiGraph[str] = nx.DiGraph()
    expected.add_nodes_from(nodes)
    expected.add_edges_from([(b, a) for a, b in edges] if reverse else edges)
    built = digraph(nodes, edges, reverse=reverse)
    assert list(built.nodes) == list(expected.nodes)  # the same order, too
    assert list(built.edges) == list(expected.edges)
    for node in expected:
        assert list(built.successors(node)) == list(expected.successors(node))
        assert list(built.predecessors(node)) == list(expected.predecessors(node))
        assert built.in_degree(node) == expected.in_degree(node)
    assert nx.utils.graphs_equal(built, expected)


def test_edges_of_a_built_graph_cannot_be_given_attributes() -> None:
    from projections.graph import digraph

    built = digraph(["a", "b"], [("a", "b")])
    with pytest.raises(TypeError):
        built.edges["a", "b"]["weight"] = 1


def test_ordering_leaves_nothing_for_the_cyclic_collector() -> None:
    import gc
    import weakref

    g = graph([("app", "db"), ("db", "net"), ("web", "app")])
    assert g.order() == [["net"], ["db"], ["app"], ["web"]]
    freed = weakref.ref(g.graph)
    gc.disable()
    try:
        del g
        assert freed() is None
    finally:
        gc.enable()
