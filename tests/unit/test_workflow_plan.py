"""The dry-run plan: order, levels, cycles, the parallelism limit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from commands.workflow_plan import plan_workflow
from domain.workflow import TaskSpec, WorkflowConfig, WorkflowInvalid, WorkflowSpec


def _spec(*tasks: TaskSpec, config: WorkflowConfig | None = None) -> WorkflowSpec:
    return WorkflowSpec(name="w", tasks=tasks, config=config or WorkflowConfig())


def test_the_plan_orders_tasks_after_their_dependencies_in_declaration_order() -> None:
    plan = plan_workflow(_spec(
        TaskSpec(name="deploy", depends_on=("build", "test")),
        TaskSpec(name="test", depends_on=("build",)),
        TaskSpec(name="build"),
        TaskSpec(name="lint"),
        TaskSpec(name="notify", depends_on=("deploy", "lint"))), default_parallel=3)
    assert [task.name for task in plan.tasks] == ["build", "test", "deploy", "lint", "notify"]
    assert plan.levels == [["build", "lint"], ["test"], ["deploy"], ["notify"]]
    assert {task.name: task.level for task in plan.tasks} == {
        "build": 0, "lint": 0, "test": 1, "deploy": 2, "notify": 3}
    assert plan.tasks[2].depends_on == ["build", "test"]
    assert plan.max_parallel_tasks == 3


def test_the_workflow_config_overrides_the_default_parallelism() -> None:
    plan = plan_workflow(_spec(TaskSpec(name="a", timeout=timedelta(seconds=90)),
                               config=WorkflowConfig(max_parallel_tasks=7,
                                                     timeout=timedelta(minutes=30),
                                                     require_lock=True)), default_parallel=3)
    assert plan.max_parallel_tasks == 7
    assert (plan.timeout, plan.require_lock, plan.create_snapshot) == ("30m 0s", True, False)
    assert plan.tasks[0].timeout == "1m 30s"


def test_a_cycle_is_printed_with_the_file_line_of_a_task_in_it() -> None:
    spec = _spec(TaskSpec(name="a"),
                 TaskSpec(name="b", depends_on=("a", "d"), defined_at="x.sloth:4"),
                 TaskSpec(name="c", depends_on=("b",), defined_at="x.sloth:7"),
                 TaskSpec(name="d", depends_on=("c",), defined_at="x.sloth:10"))
    with pytest.raises(WorkflowInvalid) as caught:
        plan_workflow(spec, default_parallel=1)
    message = str(caught.value)
    assert "tasks of 'w' depend on each other in a cycle: " in message
    cycle = message.split("cycle: ")[1].split(" -> ")
    assert cycle[0] == cycle[-1] and set(cycle) == {"b", "c", "d"} and len(cycle) == 4
    assert message.startswith({"b": "x.sloth:4", "c": "x.sloth:7", "d": "x.sloth:10"}[cycle[0]])
