"""The dependency graph between stacks, read from the read models and analysed with networkx.

Nodes are stack names carrying their status (`missing` for a name that a dependency
declares but no stack has); an edge `a -> b` means "a depends on b". Every algorithm here
is networkx's. This module is imported only by the commands that need the graph, so the
others do not pay for importing networkx.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import networkx as nx

from domain.dependencies import DESTROYED, MISSING, DependencyCycle
from domain.validation import DependencyFacts
from infrastructure.collector import collection_paused
from projections.queries import dependencies, stacks

if TYPE_CHECKING:
    from infrastructure.sql import Connection

REPORTED = frozenset({None, DESTROYED, "failed"})
"""The statuses of dependencies that a check reports (None: no such stack)."""

MAX_CYCLES = 20
"""At most this many cycles are listed: a dense graph can hold exponentially many."""


NO_ATTRIBUTES: Mapping[str, Any] = MappingProxyType({})
"""The attributes of every edge of a graph `digraph` builds: none, and none can be added."""


def digraph(nodes: Iterable[str], edges: Iterable[tuple[str, str]], *,
            reverse: bool = False) -> nx.DiGraph[str]:
    """A networkx graph of these nodes and edges (with every edge turned round, `reverse`).

    The same graph as `add_nodes_from` then `add_edges_from` make, in the same order, built
    in one pass straight into networkx's documented data structure (dicts of successors and
    of predecessors, each holding an edge's attribute dict): networkx adds edges one at a
    time, with several dictionary operations and two new dicts each, which was most of the
    time of ordering a large graph. Edges here carry no attributes and share one read-only
    attribute mapping, so adding edges to the graph afterwards fails loudly instead of
    changing them all. tests/unit/test_graph.py compares it with networkx's own building.
    """
    successors: dict[str, dict[str, Any]] = {node: {} for node in nodes}
    predecessors: dict[str, dict[str, Any]] = {node: {} for node in successors}
    pairs = ((target, source) for source, target in edges) if reverse else edges
    for source, target in pairs:
        if source not in successors:
            successors[source], predecessors[source] = {}, {}
        if target not in successors:
            successors[target], predecessors[target] = {}, {}
        successors[source][target] = predecessors[target][source] = NO_ATTRIBUTES
    graph: nx.DiGraph[str] = nx.DiGraph()
    vars(graph).update(_node={node: {} for node in successors}, _succ=successors,
                       _adj=successors, _pred=predecessors)
    return graph


class DependencyGraph:
    """The stacks and the dependencies declared between them.

    `graph` holds every stack and every name a dependency declares; `statuses` holds the
    status of each stack that exists.
    """

    def __init__(self, graph: nx.DiGraph[str], statuses: Mapping[str, str]) -> None:
        self.graph = graph
        self.statuses = dict(statuses)
        self._is_dag: bool | None = None

    @classmethod
    def load(cls, connection: Connection) -> DependencyGraph:
        """The graph as the read models hold it (the caller has caught them up)."""
        with collection_paused():
            return cls.build(stacks.stack_statuses(connection),
                             dependencies.dependency_edges(connection))

    @classmethod
    def build(cls, statuses: Mapping[str, str],
              edges: Iterable[tuple[str, str]]) -> DependencyGraph:
        # Names no stack has become nodes too.
        return cls(digraph(statuses, edges), statuses)

    # ---- nodes --------------------------------------------------------------------------

    def status(self, name: str) -> str:
        """The stack's status, or `missing` when no stack has that name."""
        return self.statuses.get(name, MISSING)

    def exists(self, name: str) -> bool:
        return self.status(name) != MISSING

    def is_live(self, name: str) -> bool:
        """The stack exists and is not destroyed."""
        return self.status(name) not in (MISSING, DESTROYED)

    # ---- neighbours ---------------------------------------------------------------------

    def reach(self, name: str, *, reverse: bool = False,
              transitive: bool = False) -> dict[str, int]:
        """What `name` depends on (or, reversed, what depends on it), with each one's depth.

        Depth 1 is a direct dependency; depth n is the shortest chain of n edges.
        """
        if name not in self.graph:
            return {}
        graph = self.graph.reverse(copy=False) if reverse else self.graph
        cutoff = None if transitive else 1
        depths = nx.single_source_shortest_path_length(graph, name, cutoff=cutoff)
        depths.pop(name, None)
        return dict(sorted(depths.items(), key=lambda item: (item[1], item[0])))

    def closure(self, stacks: Iterable[str]) -> set[str]:
        """The stacks and everything they depend on, transitively."""
        wanted = list(dict.fromkeys(stacks))
        present = [name for name in wanted if name in self.graph]
        reached = set(wanted)
        if present:
            for layer in nx.bfs_layers(self.graph, present):
                reached.update(layer)
        return reached

    def neighbourhood(self, name: str) -> set[str]:
        """A stack with everything it depends on and everything that depends on it."""
        if name not in self.graph:
            return {name}
        return {name} | nx.descendants(self.graph, name) | nx.ancestors(self.graph, name)

    def subgraph(self, nodes: Iterable[str]) -> nx.DiGraph[str]:
        """A copy of the graph on these nodes, each with its status (`missing` included)."""
        chosen = set(nodes)
        sub: nx.DiGraph[str] = self.graph.subgraph(chosen).copy()
        sub.add_nodes_from(chosen)
        for name in sub.nodes:
            sub.nodes[name]["status"] = self.status(name)
        return sub

    # ---- cycles -------------------------------------------------------------------------

    def paths_back(self, stack: str, dependencies: Sequence[str]) -> dict[str, list[str]]:
        """For each dependency, the shortest path from it back to `stack`, if any.

        Only existing, not destroyed stacks count: a cycle through a missing or destroyed
        stack is not refused (it is reported by the checks instead).
        """
        live = nx.subgraph_view(self.graph, filter_node=lambda n: n == stack or self.is_live(n))
        found: dict[str, list[str]] = {}
        for name in dependencies:
            if name == stack or name not in live or stack not in live:
                continue
            try:
                found[name] = list(nx.shortest_path(live, name, stack))
            except nx.NetworkXNoPath:
                continue
        return found

    def cycles(self, within: Iterable[str] | None = None,
               limit: int = MAX_CYCLES) -> list[list[str]]:
        """Elementary cycles (as paths that end where they start), smallest name first."""
        graph = self.graph if within is None else self.graph.subgraph(set(within))
        found = []
        for cycle in islice(nx.simple_cycles(graph), limit):
            start = cycle.index(min(cycle))
            rotated = cycle[start:] + cycle[:start]
            found.append([*rotated, rotated[0]])
        return sorted(found)

    # ---- order --------------------------------------------------------------------------

    def live(self) -> list[str]:
        """Every stack that exists and is not destroyed."""
        return [name for name, status in self.statuses.items() if status != DESTROYED]

    def order(self, stacks: Iterable[str] | None = None) -> list[list[str]]:
        """Levels of an execution order for the stacks and their transitive dependencies.

        Without stacks: every live stack. Every stack comes after all it depends on, and as
        early as that allows, so the members of a level can run in parallel. Raises
        DependencyCycle if there is none.
        """
        graph: nx.DiGraph[str]
        if stacks is None and DESTROYED not in self.statuses.values():
            graph = self.graph
        else:
            members = self.closure(self.live() if stacks is None else stacks)
            if any(name not in self.graph for name in members):
                graph = self.subgraph(members)
            elif len(members) == len(self.graph):
                graph = self.graph
            else:
                graph = self.graph.subgraph(members)
        reversed_graph = graph.reverse(copy=False)
        try:
            # Dependencies first: generations of the graph with every edge turned round.
            return [sorted(level) for level in nx.topological_generations(reversed_graph)]
        except nx.NetworkXUnfeasible:
            raise DependencyCycle(self._one_cycle(graph)) from None
        finally:
            # networkx keeps the degree views it makes on the graph object, and they refer
            # back to it: without them, the graph is freed as soon as it is dropped instead
            # of waiting for the cyclic collector to walk it.
            vars(reversed_graph).pop("in_degree", None)

    @staticmethod
    def _one_cycle(graph: nx.DiGraph[str]) -> list[str]:
        edges = nx.find_cycle(graph)
        return [edges[0][0], *(edge[1] for edge in edges)]

    # ---- facts for checks ---------------------------------------------------------------

    def check(self, name: str) -> DependencyCheck:
        """What `deps check` and `stack validate` know of a stack's dependencies."""
        # Every stack it reaches (itself included): the cheapest of networkx's traversals.
        members = (set(nx.single_source_shortest_path_length(self.graph, name))
                   if name in self.graph else {name})
        statuses = self.statuses
        # Only the dependencies a check reports need what requires them: most need counting.
        reported = sorted(other for other in members
                          if other != name and statuses.get(other) in REPORTED)
        facts = [DependencyFacts(name=other, status=statuses.get(other), required_by=tuple(
                     sorted(p for p in self.graph.predecessors(other) if p in members)))
                 for other in reported]
        cycles = [] if self._acyclic() else self.cycles(within=members)
        return DependencyCheck(len(members - {name}), tuple(facts),
                               tuple(tuple(cycle) for cycle in cycles))

    def _acyclic(self) -> bool:
        if self._is_dag is None:
            self._is_dag = nx.is_directed_acyclic_graph(self.graph)
        return self._is_dag


def layers(graph: nx.DiGraph[str]) -> dict[str, int]:
    """Each stack's row in a picture: row 0 holds the stacks that depend on nothing, and a
    stack's row comes after the rows of everything it depends on; a cycle's members share one."""
    condensed = nx.condensation(graph)
    rows: dict[str, int] = {}
    for row, members in enumerate(nx.topological_generations(condensed.reverse(copy=False))):
        for component in members:
            for name in condensed.nodes[component]["members"]:
                rows[name] = row
    return rows


@dataclass(frozen=True)
class DependencyCheck:
    """A stack's dependencies, transitively, and the cycles among them."""

    count: int
    """How many stacks it depends on, directly or transitively."""
    dependencies: tuple[DependencyFacts, ...]
    """Those that are missing, destroyed or last failed, with what requires each."""
    cycles: tuple[tuple[str, ...], ...]

    @property
    def missing(self) -> list[DependencyFacts]:
        return [fact for fact in self.dependencies if fact.status is None]

    @property
    def destroyed(self) -> list[DependencyFacts]:
        return [fact for fact in self.dependencies if fact.status == DESTROYED]

    @property
    def problems(self) -> int:
        return len(self.cycles) + len(self.missing) + len(self.destroyed)
