"""How a dependency graph reads: DOT, Mermaid, JSON, a text tree, and PNG/SVG pictures.

Edges point from a stack to what it depends on (`app -> db`), as `terraform graph` draws
them. Every node shows its stack's status; a name no stack has is drawn as `missing`
(dashed). Pictures are drawn with networkx and matplotlib (imported only for them), so they
need no Graphviz or any other system package.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx

from cli.errors import UsageProblem
from domain.dependencies import DESTROYED, MISSING

TEXT_FORMATS = ("dot", "mermaid", "json", "tree")
EXTENSIONS = {".png": "png", ".svg": "svg", ".dot": "dot", ".mmd": "mermaid", ".json": "json"}

FILL = {
    "created": "#bbdefb",
    "running": "#fff59d",
    "completed": "#c8e6c9",
    "failed": "#ffcdd2",
    DESTROYED: "#e0e0e0",
    MISSING: "#ffffff",
}
STROKE = {
    "created": "#1565c0",
    "running": "#f9a825",
    "completed": "#2e7d32",
    "failed": "#c62828",
    DESTROYED: "#757575",
    MISSING: "#757575",
}

if TYPE_CHECKING:
    Graph = nx.DiGraph[str]


def choose_format(format_name: str | None, output_path: str | None, *, json_flag: bool) -> str:
    """The format from --format, the --output file's extension, or --json; `tree` otherwise.

    `json_flag` means the graph itself is printed under --json (no --output), so any other
    --format contradicts it.
    """
    if format_name is not None and format_name not in TEXT_FORMATS:
        raise UsageProblem(f"unknown format '{format_name}': use {', '.join(TEXT_FORMATS)}")
    from_extension = None
    if output_path is not None and (not output_path or "\x00" in output_path):
        raise UsageProblem("--output needs a file name without NUL characters")
    if output_path is not None:
        suffix = Path(output_path).suffix.lower()
        from_extension = EXTENSIONS.get(suffix)
        if from_extension is None:
            raise UsageProblem(f"unknown output extension '{suffix or output_path}': use "
                               f"{', '.join(EXTENSIONS)}")
        if format_name is not None and format_name != from_extension:
            raise UsageProblem(f"--format {format_name} does not match --output "
                               f"{output_path} ({from_extension})")
    if json_flag and format_name not in (None, "json"):
        raise UsageProblem(f"--json prints the graph as JSON, not as {format_name}: drop --json, "
                           "or write the picture to a file with --output")
    return from_extension or format_name or ("json" if json_flag else "tree")


def status_of(graph: Graph, name: str) -> str:
    return str(graph.nodes[name].get("status", MISSING))


def _sorted_edges(graph: Graph) -> list[tuple[str, str]]:
    return sorted(graph.edges)


# ---- text formats ---------------------------------------------------------------------------

def to_dot(graph: Graph) -> str:
    lines = [
        "digraph dependencies {",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica"];',
    ]
    for name in sorted(graph.nodes):
        status = status_of(graph, name)
        style = ', style="rounded,dashed"' if status == MISSING else ""
        lines.append(f'  "{name}" [label="{name}\\n({status})", fillcolor="{FILL.get(status, "#ffffff")}",'
                     f' color="{STROKE.get(status, "#000000")}"{style}];')
    lines.extend(f'  "{stack}" -> "{dependency}";' for stack, dependency in _sorted_edges(graph))
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(graph: Graph) -> str:
    ids = {name: f"s{index}" for index, name in enumerate(sorted(graph.nodes))}
    lines = ["flowchart TB"]
    for name, node_id in ids.items():
        status = status_of(graph, name)
        lines.append(f'    {node_id}["{name}<br/>({status})"]:::{status}')
    lines.extend(f"    {ids[stack]} --> {ids[dependency]}" for stack, dependency in _sorted_edges(graph))
    for status in sorted({status_of(graph, name) for name in graph.nodes}):
        dashed = ",stroke-dasharray:5 5" if status == MISSING else ""
        lines.append(f"    classDef {status} fill:{FILL.get(status, '#ffffff')},"
                     f"stroke:{STROKE.get(status, '#000000')}{dashed}")
    return "\n".join(lines) + "\n"


def to_json(graph: Graph, cycles: Sequence[Sequence[str]], root: str | None) -> dict[str, Any]:
    return {
        "root": root,
        "nodes": [{"name": name, "status": status_of(graph, name)} for name in sorted(graph.nodes)],
        "edges": [{"stack": stack, "depends_on": dependency}
                  for stack, dependency in _sorted_edges(graph)],
        "cycles": [list(cycle) for cycle in cycles],
    }


def _branches() -> tuple[str, str, str, str]:
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "├└│─".encode(encoding)
    except (LookupError, UnicodeEncodeError):
        return "|-- ", "`-- ", "|   ", "    "
    return "├── ", "└── ", "│   ", "    "


def to_tree(graph: Graph) -> str:
    """Each stack above what it depends on, from the stacks nothing depends on.

    A stack reached again is named with `(see above)`; an edge back into the current
    branch is a cycle and says so.
    """
    middle, last, through, blank = _branches()
    roots = sorted(name for name in graph.nodes if graph.in_degree(name) == 0)
    ordered: nx.DiGraph[str] = nx.DiGraph()
    # Depth-first from the roots first; stacks only on cycles are reached afterwards.
    ordered.add_nodes_from(roots)
    ordered.add_nodes_from(sorted(graph.nodes))
    ordered.add_edges_from(_sorted_edges(graph))
    lines: list[str] = []
    path: list[tuple[str, str, list[int]]] = []  # (node, prefix of its children, children left)

    def label(name: str) -> str:
        return f"{name} ({status_of(graph, name)})"

    def branch(child: str) -> tuple[str, bool]:
        _, prefix, left = path[-1]
        left[0] -= 1
        return prefix + (last if left[0] == 0 else middle), left[0] == 0

    for parent, child, kind in nx.dfs_labeled_edges(ordered):
        if kind == "forward" and parent == child:
            lines.append(label(child))
            path.append((child, "", [ordered.out_degree(child)]))
        elif kind == "forward":
            line, is_last = branch(child)
            lines.append(line + label(child))
            path.append((child, path[-1][1] + (blank if is_last else through),
                         [ordered.out_degree(child)]))
        elif kind == "nontree":
            line, _ = branch(child)
            on_path = any(node == child for node, _, _ in path)
            lines.append(line + label(child) + (" (cycle)" if on_path else " (see above)"))
        elif kind == "reverse":
            path.pop()
    return "\n".join(lines) + "\n" if lines else "(no stacks)\n"


# ---- pictures -------------------------------------------------------------------------------

def write_picture(graph: Graph, path: Path, image_format: str, title: str) -> None:
    """Draw the graph into a PNG or SVG file."""
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    from projections.graph import layers

    rows = layers(graph)
    placed: nx.DiGraph[str] = nx.DiGraph()
    for name in sorted(graph.nodes):
        placed.add_node(name, row=rows[name])
    placed.add_edges_from(graph.edges)
    positions = nx.multipartite_layout(placed, subset_key="row", align="horizontal") if len(
        placed) else {}
    widest = max((list(rows.values()).count(row) for row in set(rows.values())), default=1)
    width = min(max(4.0, 2.4 * widest), 60.0)
    height = min(max(3.0, 1.4 * (max(rows.values(), default=0) + 1)), 60.0)

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "sloth-runner"}):
        figure = Figure(figsize=(width, height), dpi=100)
        axes = figure.add_subplot()
        axes.set_axis_off()
        axes.set_title(title, fontsize=11)
        nx.draw_networkx_edges(placed, positions, ax=axes, arrows=True, arrowstyle="-|>",
                               arrowsize=14, edge_color="#555555", node_size=2600,
                               connectionstyle="arc3,rad=0.08")
        statuses = sorted({status_of(graph, name) for name in graph.nodes})
        for status in statuses:
            members = [name for name in graph.nodes if status_of(graph, name) == status]
            nx.draw_networkx_labels(
                placed, positions, labels={name: f"{name}\n{status}" for name in members},
                ax=axes, font_size=9,
                bbox={"boxstyle": "round,pad=0.45", "facecolor": FILL.get(status, "#ffffff"),
                      "edgecolor": STROKE.get(status, "#000000"),
                      "linestyle": "--" if status == MISSING else "-", "linewidth": 1.4})
        axes.legend(handles=[Patch(facecolor=FILL.get(s, "#ffffff"), edgecolor=STROKE.get(s, "#000"),
                                   linestyle="--" if s == MISSING else "-", label=s)
                             for s in statuses],
                    loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
        axes.margins(0.2)
        figure.savefig(path, format=image_format, bbox_inches="tight",
                       metadata={"Date": None} if image_format == "svg" else None)
