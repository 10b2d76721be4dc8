"""The order a workflow's tasks run in: dependency graph, cycle check and levels (networkx)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.dependencies import format_path
from domain.durations import format_duration
from domain.workflow import PlannedTask, WorkflowInvalid, WorkflowPlan, WorkflowSpec

if TYPE_CHECKING:
    import networkx as nx


def task_graph(spec: WorkflowSpec) -> nx.DiGraph[str]:
    """Tasks as nodes, an edge from each task to each task it depends on."""
    import networkx as nx

    graph: nx.DiGraph[str] = nx.DiGraph()
    for index, task in enumerate(spec.tasks):
        graph.add_node(task.name, index=index)
    for task in spec.tasks:
        graph.add_edges_from((task.name, dependency) for dependency in task.depends_on)
    return graph


def check_acyclic(spec: WorkflowSpec, graph: nx.DiGraph[str]) -> None:
    """Raise WorkflowInvalid naming a cycle among the tasks, if there is one."""
    import networkx as nx

    try:
        edges = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return
    path = [edges[0][0], *(edge[1] for edge in edges)]
    where = spec.task(path[0]).defined_at
    prefix = f"{where}: " if where else ""
    raise WorkflowInvalid(f"{prefix}tasks of '{spec.name}' depend on each other in a cycle: "
                          f"{format_path(path)}")


def run_order(spec: WorkflowSpec, graph: nx.DiGraph[str]) -> list[str]:
    """The order a one-at-a-time run takes: dependencies first, then declaration order."""
    import networkx as nx

    index = {task.name: position for position, task in enumerate(spec.tasks)}
    return list(nx.lexicographical_topological_sort(graph.reverse(copy=False),
                                                     key=index.__getitem__))


def levels(spec: WorkflowSpec, graph: nx.DiGraph[str]) -> list[list[str]]:
    """Groups of tasks whose dependencies are all in earlier groups."""
    import networkx as nx

    index = {task.name: position for position, task in enumerate(spec.tasks)}
    return [sorted(level, key=index.__getitem__)
            for level in nx.topological_generations(graph.reverse(copy=False))]


def plan_workflow(spec: WorkflowSpec, default_parallel: int) -> WorkflowPlan:
    """The dry-run plan; raises WorkflowInvalid for a cycle."""
    graph = task_graph(spec)
    check_acyclic(spec, graph)
    grouped = levels(spec, graph)
    level_of = {name: number for number, level in enumerate(grouped) for name in level}
    tasks = []
    for name in run_order(spec, graph):
        task = spec.task(name)
        tasks.append(PlannedTask(
            name=name, description=task.description, depends_on=list(task.depends_on),
            level=level_of[name], retries=task.retries, backoff=task.backoff,
            timeout=format_duration(task.timeout) if task.timeout else None))
    config = spec.config
    return WorkflowPlan(
        workflow=spec.name, description=spec.description, version=spec.version,
        max_parallel_tasks=config.max_parallel_tasks or default_parallel,
        timeout=format_duration(config.timeout) if config.timeout else None,
        require_lock=bool(config.require_lock), create_snapshot=bool(config.create_snapshot),
        rollback_on_failure=config.rollback_on_failure, levels=grouped, tasks=tasks)
