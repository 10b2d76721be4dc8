"""The order a workflow's tasks run in: their dependency graph, cycle check and levels.

The graph of a workflow's tasks is small and read once per run, so it uses the standard
library's `graphlib` (whose sorter finds cycles and hands out ready tasks level by level)
rather than networkx, whose import alone costs more than a short run.
"""

from __future__ import annotations

import graphlib

from domain.dependencies import format_path
from domain.durations import format_duration
from domain.workflow import PlannedTask, WorkflowInvalid, WorkflowPlan, WorkflowSpec


class TaskGraph:
    """A workflow's tasks and what each depends on; a cycle is refused when it is built."""

    def __init__(self, spec: WorkflowSpec) -> None:
        self.spec = spec
        self.index = {task.name: position for position, task in enumerate(spec.tasks)}
        self.depends_on = {task.name: tuple(task.depends_on) for task in spec.tasks}
        sorter = graphlib.TopologicalSorter(self.depends_on)
        try:
            sorter.prepare()
        except graphlib.CycleError as cycle:
            raise self._cycle(list(cycle.args[1])) from None
        self.levels: list[list[str]] = []
        while sorter.is_active():
            level = sorted(sorter.get_ready(), key=self.index.__getitem__)
            self.levels.append(level)
            sorter.done(*level)
        self.order = self._declaration_order()
        # Everything each task needs, transitively: folded along an order that puts every
        # task after the tasks it depends on.
        self.requires: dict[str, frozenset[str]] = {}
        for name in self.order:
            needed = set(self.depends_on[name])
            for dependency in self.depends_on[name]:
                needed |= self.requires[dependency]
            self.requires[name] = frozenset(needed)

    def _declaration_order(self) -> list[str]:
        """Dependencies first, and among the tasks ready at once, declaration order."""
        sorter = graphlib.TopologicalSorter(self.depends_on)
        sorter.prepare()
        ready: list[str] = []
        order: list[str] = []
        while sorter.is_active():
            ready.extend(sorter.get_ready())
            ready.sort(key=self.index.__getitem__)
            name = ready.pop(0)
            order.append(name)
            sorter.done(name)
        return order

    def _cycle(self, cycle: list[str]) -> WorkflowInvalid:
        # graphlib lists each node before the one that depends on it: turn it round, so that
        # it reads "a depends on b depends on ...", starting at the first declared task.
        path = list(reversed(cycle[:-1]))
        start = min(range(len(path)), key=lambda position: self.index[path[position]])
        path = path[start:] + path[:start]
        where = self.spec.task(path[0]).defined_at
        prefix = f"{where}: " if where else ""
        return WorkflowInvalid(f"{prefix}tasks of '{self.spec.name}' depend on each other in a "
                               f"cycle: {format_path([*path, path[0]])}")

    def needs(self, name: str) -> list[str]:
        """Every task `name` depends on, directly or not, in run order."""
        required = self.requires[name]
        return [task for task in self.order if task in required]

    def dependants(self, name: str) -> list[str]:
        """Every task that depends on `name`, directly or not, in run order."""
        return [task for task in self.order if name in self.requires[task]]


def plan_workflow(spec: WorkflowSpec, default_parallel: int) -> WorkflowPlan:
    """The dry-run plan; raises WorkflowInvalid for a cycle."""
    graph = TaskGraph(spec)
    level_of = {name: number for number, level in enumerate(graph.levels) for name in level}
    tasks = []
    for name in graph.order:
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
        rollback_on_failure=config.rollback_on_failure, levels=graph.levels, tasks=tasks)
