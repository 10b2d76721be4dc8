"""`sloth-runner stack deps`: dependencies between stacks — declare, show, graph, check, order."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli import output
from cli.context import CliState, JsonFlag, LockIdOption, state
from cli.errors import Typer, UsageProblem
from domain.dependencies import DESTROYED, MISSING
from domain.errors import StackNotFound
from domain.names import stack_id, validate_stack_name
from domain.wording import listed, plural

if TYPE_CHECKING:
    from infrastructure.sql import Connection
    from projections.graph import DependencyGraph

app = Typer(no_args_is_help=True,
            help="Dependencies between stacks: declare, show, graph, check and order them.")

StackArg = Annotated[str, typer.Argument(help="Stack name.", show_default=False)]
OthersArg = Annotated[
    list[str], typer.Argument(help="Stacks it depends on (they may not exist yet).",
                              show_default=False)
]


def _names(names: list[str]) -> str:
    return listed(names, 10)


def _load_graph(st: CliState) -> tuple[Connection, DependencyGraph]:
    from projections.graph import DependencyGraph

    connection = st.reader()
    return connection, DependencyGraph.load(connection)


def _require(graph: DependencyGraph, name: str) -> None:
    """The stack must exist (destroyed ones do); the graph holds every stack there is."""
    validate_stack_name(name)
    if not graph.exists(name):
        raise StackNotFound(name)


@app.command("add")
def add(ctx: typer.Context, stack: StackArg, dependencies: OthersArg,
        lock_id: LockIdOption = None, json_output: JsonFlag = False) -> None:
    """Make STACK depend on other stacks (refused if that would close a cycle)."""
    from commands.models import AddDependencies
    from projections.queries.stacks import stack_statuses

    st = state(ctx)
    outcome = st.service().add_dependencies(
        AddDependencies(stack=stack, dependencies=dependencies), st.invocation(lock_id=lock_id))
    st.written()
    known = stack_statuses(st.reader(), dependencies)
    missing = [name for name in dict.fromkeys(dependencies) if name not in known]
    if st.wants_json(json_output):
        output.emit_json({**outcome.to_json(), "missing": missing})
        return
    added = outcome.detail["added"]
    if added:
        output.say(f"{output.tick()} '{stack}' now depends on {_names(added)}")
    already = [name for name in dict.fromkeys(dependencies) if name not in added]
    if already:
        output.say(f"'{stack}' already depends on {_names(already)}")
    for name in missing:
        output.say(f"note: no stack '{name}' exists yet")


@app.command("remove")
def remove(ctx: typer.Context, stack: StackArg, dependencies: OthersArg,
           lock_id: LockIdOption = None, json_output: JsonFlag = False) -> None:
    """Make STACK stop depending on other stacks."""
    from commands.models import RemoveDependencies

    st = state(ctx)
    outcome = st.service().remove_dependencies(
        RemoveDependencies(stack=stack, dependencies=dependencies), st.invocation(lock_id=lock_id))
    st.finish(outcome, json_output,
              f"{output.tick()} '{stack}' no longer depends on {_names(outcome.detail['removed'])}")


@app.command("show")
def show(
    ctx: typer.Context,
    stack: StackArg,
    reverse: Annotated[
        bool, typer.Option("--reverse", "-r", help="What depends on STACK instead.")] = False,
    transitive: Annotated[
        bool, typer.Option("--transitive", "-t", help="Follow dependencies all the way.")] = False,
    json_output: JsonFlag = False,
) -> None:
    """What STACK depends on (or, with --reverse, what depends on it)."""
    from projections.queries.dependencies import find_dependencies, find_dependents

    st = state(ctx)
    connection, graph = _load_graph(st)
    _require(graph, stack)
    depths = graph.reach(stack, reverse=reverse, transitive=transitive)
    records = (find_dependents(connection, stack) if reverse
               else find_dependencies(connection, str(stack_id(stack))))
    direct = {(record.stack if reverse else record.depends_on): record for record in records}
    entries: list[dict[str, Any]] = [
        {"name": name, "status": graph.status(name), "depth": depth,
         "added_at": direct[name].added_at if name in direct else None,
         "added_by": direct[name].added_by if name in direct else None}
        for name, depth in depths.items()]
    if st.wants_json(json_output):
        output.emit_json({"stack": stack, "direction": "dependents" if reverse else "dependencies",
                          "transitive": transitive, "stacks": entries, "total": len(entries)})
        return
    how = "transitively " if transitive else ""
    if not entries:
        output.say(f"No stack {how}depends on '{stack}'" if reverse
                   else f"'{stack}' {how}depends on no other stack")
        return
    count = plural(len(entries), "stack")
    output.say(f"{count} {how}depend{'s' if len(entries) == 1 else ''} on '{stack}':" if reverse
               else f"'{stack}' {how}depends on {count}:")
    output.say()
    if transitive:
        headers = ["NAME", "STATUS", "DEPTH"]
        rows = [[e["name"], e["status"], str(e["depth"])] for e in entries]
    else:
        headers = ["NAME", "STATUS", "ADDED", "BY"]
        rows = [[e["name"], e["status"], output.short_time(e["added_at"]), e["added_by"] or "-"]
                for e in entries]
    for line in output.table(headers, rows, colour_column=1, colour=st.color()):
        output.say(line)


@app.command("graph")
def graph(
    ctx: typer.Context,
    stack: Annotated[str | None, typer.Argument(
        help="Draw this stack with what it depends on and what depends on it.",
        show_default=False)] = None,
    all_stacks: Annotated[bool, typer.Option("--all", "-a", help="Draw every stack.")] = False,
    format_name: Annotated[str | None, typer.Option(
        "--format", "-f", help="dot, mermaid, json or tree (default: tree, or from --output).",
        show_default=False)] = None,
    output_file: Annotated[str | None, typer.Option(
        "--output", "-o", help="Write to FILE; .png .svg .dot .mmd .json pick the format.",
        show_default=False)] = None,
    json_output: JsonFlag = False,
) -> None:
    """Draw the dependency graph of a stack (or of every stack with --all)."""
    from cli import graphview

    if (stack is None) == (not all_stacks):
        raise UsageProblem("name a STACK or pass --all (not both)")
    st = state(ctx)
    chosen = graphview.choose_format(format_name, output_file,
                                     json_flag=st.wants_json(json_output) and output_file is None)
    _, dependency_graph = _load_graph(st)
    if stack is not None:
        _require(dependency_graph, stack)
        nodes = dependency_graph.neighbourhood(stack)
    else:
        nodes = {name for name in dependency_graph.graph.nodes
                 if dependency_graph.status(name) != "destroyed"
                 or dependency_graph.graph.degree(name)}
    drawn = dependency_graph.subgraph(nodes)
    cycles = dependency_graph.cycles(within=nodes)
    if chosen == "json":
        text = output.json_text(graphview.to_json(drawn, cycles, stack))
    elif chosen in ("png", "svg"):
        text = None
    else:
        text = {"dot": graphview.to_dot, "mermaid": graphview.to_mermaid,
                "tree": graphview.to_tree}[chosen](drawn)
    if output_file is None:
        output.say(text.rstrip("\n") if text else "")
        return
    path = Path(output_file)
    try:
        if text is None:
            title = f"Dependencies of {stack}" if stack else "Stack dependencies"
            graphview.write_picture(drawn, path, chosen, title)
        else:
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageProblem(f"cannot write {output_file}: {exc.strerror or exc}") from None
    summary = {"output": str(path), "format": chosen, "stacks": drawn.number_of_nodes(),
               "dependencies": drawn.number_of_edges(), "cycles": cycles}
    if st.wants_json(json_output):
        output.emit_json(summary)
        return
    edges = drawn.number_of_edges()
    output.say(f"{output.tick()} Wrote {path} ({chosen}: {plural(drawn.number_of_nodes(), 'stack')}, "
               f"{edges} {'dependency' if edges == 1 else 'dependencies'})")


@app.command("check")
def check(ctx: typer.Context, stack: StackArg, json_output: JsonFlag = False) -> None:
    """Look for cycles, missing and destroyed stacks among STACK's dependencies (exit 1 if any)."""
    st = state(ctx)
    _, dependency_graph = _load_graph(st)
    _require(dependency_graph, stack)
    checked = dependency_graph.check(stack)
    cycles = [list(cycle) for cycle in checked.cycles]
    missing, destroyed, problems = checked.missing, checked.destroyed, checked.problems
    if st.wants_json(json_output):
        output.emit_json({
            "stack": stack, "ok": not problems, "dependencies": checked.count, "cycles": cycles,
            "missing": [{"stack": f.name, "required_by": list(f.required_by)} for f in missing],
            "destroyed": [{"stack": f.name, "required_by": list(f.required_by)}
                          for f in destroyed]})
    else:
        output.say(f"Dependencies of '{stack}': {plural(checked.count, 'stack')}, transitively")
        output.say()
        for cycle in cycles:
            output.say(f"  cycle:      {' -> '.join(cycle)}")
        for label, found in (("missing:   ", missing), ("destroyed: ", destroyed)):
            for fact in found:
                output.say(f"  {label} {fact.name} (required by {_names(list(fact.required_by))})")
        if problems:
            output.say()
            output.say(f"{plural(problems, 'problem')} found")
        else:
            output.say(f"{output.tick()} No cycles, no missing or destroyed dependencies")
    if problems:
        raise typer.Exit(1)


@app.command("order")
def order(
    ctx: typer.Context,
    stacks: Annotated[list[str] | None, typer.Argument(
        help="Stacks to run; their dependencies are included.", show_default=False)] = None,
    all_stacks: Annotated[
        bool, typer.Option("--all", "-a", help="Every stack that is not destroyed.")] = False,
    json_output: JsonFlag = False,
) -> None:
    """An execution order: levels whose stacks can run in parallel (exit 1 on a cycle)."""
    if not stacks and not all_stacks:
        raise UsageProblem("name at least one stack (or pass --all)")
    if stacks and all_stacks:
        raise UsageProblem("name stacks or pass --all, not both")
    from infrastructure.collector import collection_paused

    st = state(ctx)
    # The graph is the bulk of what this command allocates, and it is all alive until the
    # order is printed: collecting cycles meanwhile would only walk it again and again.
    with collection_paused():
        _order(st, stacks, json_output)


def _order(st: CliState, stacks: list[str] | None, json_output: bool) -> None:
    _, dependency_graph = _load_graph(st)
    if stacks:
        for name in stacks:
            _require(dependency_graph, name)
    levels = dependency_graph.order(stacks or None)
    flat = [name for level in levels for name in level]
    if st.wants_json(json_output):
        output.emit_json({
            "levels": levels, "order": flat, "total": len(flat),
            "missing": [n for n in flat if dependency_graph.status(n) == MISSING],
            "destroyed": [n for n in flat if dependency_graph.status(n) == DESTROYED]})
        return
    output.say(f"Execution order: {plural(len(flat), 'stack')} in {plural(len(levels), 'level')}"
               " (the stacks of one level can run in parallel)")
    output.say()
    statuses = dependency_graph.statuses
    marked = {name: f"{name} ({status})" for name in flat
              if (status := statuses.get(name, MISSING)) in (MISSING, DESTROYED)}
    for number, level in enumerate(levels, start=1):
        output.say(f"Level {number}: {', '.join(marked.get(name, name) for name in level)}")
