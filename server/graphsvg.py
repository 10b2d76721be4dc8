"""The dependency graph as an SVG drawing, laid out on the server (no script needed).

Rows are the layers of `projections.graph.layers`: the stacks that depend on nothing at
the top, each stack below everything it depends on, so the drawing reads top-down in the
order `deps order` runs them; a cycle's members share a row. Within a row, stacks are
placed near the stacks they depend on (one downward pass of the barycentre heuristic), so
that edges cross less. An edge points from a stack to what it depends on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from domain.dependencies import MISSING

if TYPE_CHECKING:
    import networkx as nx

NODE_HEIGHT = 44
ROW_GAP = 64
NODE_GAP = 28
MARGIN = 24
CHAR_WIDTH = 7.6
"""About the width of one character of the node labels (13px sans-serif)."""
MIN_WIDTH = 96


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    status: str
    x: float
    y: float
    width: float
    in_cycle: bool
    focus: bool
    depends_on: tuple[str, ...]

    @property
    def centre(self) -> float:
        return self.x + self.width / 2

    @property
    def link(self) -> bool:
        """A stack that exists has a page; a missing name has none."""
        return self.status != MISSING


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    path: str
    """The SVG path data of the curve."""
    in_cycle: bool


@dataclass(frozen=True, slots=True)
class Drawing:
    width: float
    height: float
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


def cycle_edges(cycles: Iterable[Sequence[str]]) -> set[tuple[str, str]]:
    """The edges that lie on the cycles (each given as a path that ends where it starts)."""
    return {(cycle[index], cycle[index + 1]) for cycle in cycles
            for index in range(len(cycle) - 1)}


def _width(name: str) -> float:
    return max(MIN_WIDTH, len(name) * CHAR_WIDTH + 24)


def _ordered_rows(graph: nx.DiGraph[str], rows: dict[str, int]) -> list[list[str]]:
    count = max(rows.values(), default=-1) + 1
    members: list[list[str]] = [[] for _ in range(count)]
    for name in sorted(rows):
        members[rows[name]].append(name)
    index: dict[str, float] = {name: position for position, name in enumerate(members[0])} \
        if members else {}
    for row in members[1:]:
        def barycentre(name: str) -> tuple[float, str]:
            above = [index[other] for other in graph.successors(name) if other in index]
            return (sum(above) / len(above) if above else float("inf"), name)

        row.sort(key=barycentre)
        index.update((name, position) for position, name in enumerate(row))
    return members


def draw(graph: nx.DiGraph[str], statuses: dict[str, str], cycles: Sequence[Sequence[str]],
         focus: str | None = None) -> Drawing:
    """Lay the graph out: node boxes, and curves from each stack to what it depends on."""
    from projections.graph import layers

    rows = _ordered_rows(graph, layers(graph))
    on_cycle = cycle_edges(cycles)
    in_cycle = {name for edge in on_cycle for name in edge}
    widths = [sum(_width(name) for name in row) + NODE_GAP * (len(row) - 1) for row in rows]
    total = max(widths, default=0.0)
    nodes: dict[str, Node] = {}
    for number, row in enumerate(rows):
        x = MARGIN + (total - widths[number]) / 2
        y = MARGIN + number * (NODE_HEIGHT + ROW_GAP)
        for name in row:
            nodes[name] = Node(name=name, status=statuses.get(name, MISSING), x=x, y=y,
                               width=_width(name), in_cycle=name in in_cycle,
                               focus=name == focus,
                               depends_on=tuple(sorted(graph.successors(name))))
            x += _width(name) + NODE_GAP
    edges = tuple(Edge(source, target, _curve(nodes[source], nodes[target]),
                       (source, target) in on_cycle)
                  for source, target in sorted(graph.edges))
    height = MARGIN * 2 + len(rows) * NODE_HEIGHT + max(len(rows) - 1, 0) * ROW_GAP
    return Drawing(width=total + MARGIN * 2, height=height + (ROW_GAP / 2 if rows else 0),
                   nodes=tuple(nodes[name] for row in rows for name in row), edges=edges)


def _curve(source: Node, target: Node) -> str:
    """From a stack up to what it depends on; along a row (a cycle), an arc below it."""
    if source.name == target.name:
        x, y = source.x + source.width, source.y + NODE_HEIGHT / 2
        return (f"M {x:.1f} {y - 8:.1f} C {x + 36:.1f} {y - 30:.1f}, {x + 36:.1f} {y + 30:.1f},"
                f" {x + 2:.1f} {y + 8:.1f}")
    if abs(source.y - target.y) < 1:
        # Along a row: below it, deeper from right to left, so that a pair of stacks that
        # depend on each other shows two arcs.
        y = source.y + NODE_HEIGHT
        depth = 18 if source.x < target.x else 40
        bend = y + min(depth + abs(source.centre - target.centre) / 10, ROW_GAP * 0.9)
        return (f"M {source.centre:.1f} {y:.1f} C {source.centre:.1f} {bend:.1f},"
                f" {target.centre:.1f} {bend:.1f}, {target.centre:.1f} {y + 2:.1f}")
    start_y, end_y = source.y, target.y + NODE_HEIGHT
    middle = (start_y + end_y) / 2
    return (f"M {source.centre:.1f} {start_y:.1f} C {source.centre:.1f} {middle:.1f},"
            f" {target.centre:.1f} {middle:.1f}, {target.centre:.1f} {end_y + 2:.1f}")
