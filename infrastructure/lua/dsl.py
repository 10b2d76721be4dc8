"""The workflow DSL: `task(...)` and `workflow.define(...)` builders, and reading what they built.

The builders are Lua (they run inside the sandbox with the user's file) and only record what
they are given, with the line of each call; `workflow_spec` turns a recorded workflow into a
validated `WorkflowSpec`, naming `file:line` in every message.

    local build = task("build"):command("make"):timeout("5m"):retries(2, "exponential"):build()
    workflow.define("ship", { tasks = { build }, config = { timeout = "30m" } })
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.errors import InvalidInput
from domain.workflow import (
    DEFAULT_RETRY_DELAY,
    MAX_RETRIES,
    Backoff,
    TaskSpec,
    WorkflowConfig,
    WorkflowInvalid,
    WorkflowSpec,
    duration_value,
    parse_workflow_config,
    validate_name,
)
from infrastructure.lua.convert import NotData, to_python
from infrastructure.lua.sandbox import Sandbox

_DSL = r"""
local line, chunk = ...
local type, error, pairs, ipairs, tostring, select = type, error, pairs, ipairs, tostring, select
local setmetatable, getmetatable, rawget = setmetatable, getmetatable, rawget
local format, concat, sort = string.format, table.concat, table.sort
local math_type = math.type

local function fail(at, message)
  error(chunk .. ":" .. at .. ": " .. message, 0)
end

local function sorted_keys(map)
  local keys = {}
  for key in pairs(map) do keys[#keys + 1] = tostring(key) end
  sort(keys)
  return concat(keys, ", ")
end

local function describe(value)
  if type(value) == "string" then return format("'%s'", value) end
  if type(value) == "nil" or type(value) == "boolean" or type(value) == "number" then
    return tostring(value)
  end
  return "a " .. type(value)
end

-- tasks ---------------------------------------------------------------------------------------
local Task, task_methods, task_setters = {}, {}, {}

local function record_of(item)
  if getmetatable(item) == Task then return rawget(item, "_") end
  return nil
end

function task_setters.description(record, at, text)
  if type(text) ~= "string" then
    fail(at, format("task '%s': description must be a string, got %s", record.name, describe(text)))
  end
  record.description = text
end

function task_setters.command(record, at, command)
  if type(command) ~= "function" and (type(command) ~= "string" or command == "") then
    fail(at, format("task '%s': command must be a function or a shell command string, got %s",
                    record.name, describe(command)))
  end
  record.command = command
end

function task_setters.depends_on(record, at, names)
  if type(names) == "string" or record_of(names) then names = { names } end
  if type(names) ~= "table" then
    fail(at, format("task '%s': depends_on takes a list of task names, got %s", record.name,
                    describe(names)))
  end
  local count = 0
  for _ in pairs(names) do count = count + 1 end
  if count ~= #names then
    fail(at, format("task '%s': depends_on takes a list of task names", record.name))
  end
  for _, item in ipairs(names) do
    local other = record_of(item)
    if other then item = other.name end
    if type(item) ~= "string" then
      fail(at, format("task '%s': depends_on takes task names, got %s", record.name, describe(item)))
    end
    record.depends_on[#record.depends_on + 1] = item
  end
end

local function check_duration(record, at, what, value)
  if value ~= nil and type(value) ~= "string" and type(value) ~= "number" then
    fail(at, format("task '%s': %s must be a duration such as '5m' or a number of seconds, got %s",
                    record.name, what, describe(value)))
  end
end

function task_setters.timeout(record, at, value)
  check_duration(record, at, "timeout", value)
  if value == nil then fail(at, format("task '%s': timeout needs a duration such as '5m'", record.name)) end
  record.timeout = value
end

function task_setters.retries(record, at, count, backoff, delay)
  if math_type(count) ~= "integer" and not (type(count) == "number" and count == count // 1) then
    fail(at, format("task '%s': retries takes a whole number, got %s", record.name, describe(count)))
  end
  if backoff ~= nil and type(backoff) ~= "string" then
    fail(at, format("task '%s': the backoff must be 'fixed', 'linear' or 'exponential', got %s",
                    record.name, describe(backoff)))
  end
  check_duration(record, at, "the retry delay", delay)
  record.retries, record.backoff, record.retry_delay = count, backoff, delay
end

local function hook_setter(name)
  return function(record, at, fn)
    if type(fn) ~= "function" then
      fail(at, format("task '%s': %s takes a function, got %s", record.name, name, describe(fn)))
    end
    record[name] = fn
  end
end
task_setters.on_success = hook_setter("on_success")
task_setters.on_failure = hook_setter("on_failure")

for field, setter in pairs(task_setters) do
  task_methods[field] = function(self, ...)
    local at = line(2)
    local record = record_of(self)
    if not record then fail(at, format("call task methods with ':', as in task(\"name\"):%s(...)", field)) end
    setter(record, at, ...)
    record.lines[field] = at
    return self
  end
end

function task_methods.build(self)
  local record = record_of(self)
  if not record then fail(line(2), "call task methods with ':', as in task(\"name\"):build()") end
  record.built = true
  return self
end

Task.__index = function(self, key)
  local method = task_methods[key]
  if method == nil then
    fail(line(2), format("task '%s' has no method %s (methods: %s, build)", rawget(self, "_").name,
                         describe(key), sorted_keys(task_setters)))
  end
  return method
end
Task.__newindex = function(self, key)
  fail(line(2), format("task '%s': set %s with its method", rawget(self, "_").name, describe(key)))
end

local TASK_OPTIONS = { name = true, retries = true, backoff = true, retry_delay = true }
for field in pairs(task_setters) do TASK_OPTIONS[field] = true end

local function new_task(name, at)
  if type(name) ~= "string" or name == "" then
    fail(at, format("task(name): the name must be a non-empty string, got %s", describe(name)))
  end
  return setmetatable({ _ = { name = name, line = at, lines = {}, depends_on = {} } }, Task)
end

local function apply_task_options(self, options, at)
  local record = record_of(self)
  for key, value in pairs(options) do
    if not TASK_OPTIONS[key] then
      fail(at, format("task '%s': unknown option %s (options: %s)", record.name, describe(key),
                      sorted_keys(TASK_OPTIONS)))
    end
    if key == "name" then
      if value ~= record.name then
        fail(at, format("task '%s': the options name it %s", record.name, describe(value)))
      end
    elseif task_setters[key] and key ~= "retries" then
      task_setters[key](record, at, value)
      record.lines[key] = at
    end
  end
  if options.retries ~= nil or options.backoff ~= nil or options.retry_delay ~= nil then
    task_setters.retries(record, at, options.retries or 0, options.backoff, options.retry_delay)
    record.lines.retries = at
  end
  record.built = true
  return self
end

function task(name, options)
  local at = line(2)
  local self = new_task(name, at)
  if options ~= nil then
    if type(options) ~= "table" then
      fail(at, format("task '%s': options must be a table, got %s", name, describe(options)))
    end
    apply_task_options(self, options, at)
  end
  return self
end

-- workflows -----------------------------------------------------------------------------------
local Workflow, workflow_methods, workflow_setters = {}, {}, {}
local workflows, order = {}, {}

local function workflow_record(item)
  if getmetatable(item) == Workflow then return rawget(item, "_") end
  return nil
end

function workflow_setters.description(record, at, text)
  if type(text) ~= "string" then
    fail(at, format("workflow '%s': description must be a string, got %s", record.name, describe(text)))
  end
  record.description = text
end

function workflow_setters.version(record, at, version)
  if type(version) ~= "string" and type(version) ~= "number" then
    fail(at, format("workflow '%s': version must be a string, got %s", record.name, describe(version)))
  end
  record.version = tostring(version)
end

function workflow_setters.tasks(record, at, list)
  if type(list) ~= "table" or record_of(list) then
    fail(at, format("workflow '%s': tasks takes a list of tasks, got %s", record.name,
                    record_of(list) and "one task (put it in { })" or describe(list)))
  end
  local count = 0
  for _ in pairs(list) do count = count + 1 end
  if count ~= #list then fail(at, format("workflow '%s': tasks takes a list of tasks", record.name)) end
  for index, item in ipairs(list) do
    if record_of(item) == nil then
      if type(item) == "table" and type(item.name) == "string" then
        item = apply_task_options(new_task(item.name, at), item, at)
      else
        fail(at, format("workflow '%s': item %d of tasks is not a task (got %s)", record.name, index,
                        describe(item)))
      end
    end
    record.tasks[#record.tasks + 1] = record_of(item)
  end
end

function workflow_setters.config(record, at, config)
  if type(config) ~= "table" then
    fail(at, format("workflow '%s': config takes a table, got %s", record.name, describe(config)))
  end
  for key, value in pairs(config) do record.config[key] = value end
end

function workflow_setters.on_complete(record, at, fn)
  if type(fn) ~= "function" then
    fail(at, format("workflow '%s': on_complete takes a function, got %s", record.name, describe(fn)))
  end
  record.on_complete = fn
end

for field, setter in pairs(workflow_setters) do
  workflow_methods[field] = function(self, ...)
    local at = line(2)
    local record = workflow_record(self)
    if not record then
      fail(at, format("call workflow methods with ':', as in workflow.define(\"name\"):%s(...)", field))
    end
    setter(record, at, ...)
    record.lines[field] = at
    return self
  end
end
function workflow_methods.build(self)
  return self
end

Workflow.__index = function(self, key)
  local method = workflow_methods[key]
  if method == nil then
    fail(line(2), format("workflow '%s' has no method %s (methods: %s)", rawget(self, "_").name,
                         describe(key), sorted_keys(workflow_setters)))
  end
  return method
end

workflow = {}
function workflow.define(name, options)
  local at = line(2)
  if type(name) ~= "string" or name == "" then
    fail(at, format("workflow.define(name): the name must be a non-empty string, got %s", describe(name)))
  end
  if workflows[name] then
    fail(at, format("workflow '%s' is already defined at %s:%d", name, chunk, workflows[name].line))
  end
  local record = { name = name, line = at, lines = {}, tasks = {}, config = {} }
  workflows[name], order[#order + 1] = record, name
  local self = setmetatable({ _ = record }, Workflow)
  if options ~= nil then
    if type(options) ~= "table" then
      fail(at, format("workflow '%s': options must be a table, got %s", name, describe(options)))
    end
    for key, value in pairs(options) do
      local setter = workflow_setters[key]
      if not setter then
        fail(at, format("workflow '%s': unknown option %s (options: %s)", name, describe(key),
                        sorted_keys(workflow_setters)))
      end
      setter(record, at, value)
      record.lines[key] = at
    end
  end
  return self
end

return { workflows = workflows, order = order }
"""


def install_dsl(sandbox: Sandbox, chunk: str) -> Any:
    """Define `task` and `workflow` in the sandbox; the registry they fill."""
    return sandbox.lua.execute(_DSL, sandbox.line, chunk)


def workflow_names(registry: Any) -> list[str]:
    """Names of the workflows the file defined, in the order it defined them."""
    order = registry["order"]
    return [order[index] for index in range(1, len(order) + 1)]


def select_workflow(registry: Any, wanted: str | None, chunk: str) -> Any:
    """The recorded workflow to run: the one named, or the only one."""
    names = workflow_names(registry)
    if wanted is not None:
        if wanted not in names:
            defined = f"defined: {', '.join(names)}" if names else "it defines none"
            raise WorkflowInvalid(f"{chunk}: no workflow named '{wanted}' ({defined})")
        return registry["workflows"][wanted]
    if not names:
        raise WorkflowInvalid(f"{chunk}: defines no workflow (use workflow.define)")
    if len(names) > 1:
        raise WorkflowInvalid(f"{chunk}: defines {len(names)} workflows ({', '.join(names)}); "
                              "name the one to run")
    return registry["workflows"][names[0]]


def task_records(record: Any) -> list[Any]:
    tasks = record["tasks"]
    return [tasks[index] for index in range(1, len(tasks) + 1)]


def _line(record: Any, field: str | None = None) -> int:
    if field is not None:
        at = record["lines"][field]
        if at is not None:
            return int(at)
    return int(record["line"])


def workflow_spec(record: Any, chunk: str) -> WorkflowSpec:
    """A recorded workflow as a validated spec; problems raise WorkflowInvalid at file:line."""

    def at(line: int, problem: Callable[[], Any]) -> Any:
        try:
            return problem()
        except (InvalidInput, NotData) as exc:
            raise WorkflowInvalid(f"{chunk}:{line}: {exc}") from None

    name = record["name"]
    at(_line(record), lambda: validate_name(name, "workflow"))
    config: WorkflowConfig = at(_line(record, "config"), lambda: _config(record["config"]))
    tasks = [_task_spec(task, chunk) for task in task_records(record)]
    return WorkflowSpec(name=name, description=record["description"] or "",
                        version=record["version"] or "", config=config, tasks=tuple(tasks),
                        defined_at=f"{chunk}:{_line(record)}")


def _config(table: Any) -> WorkflowConfig:
    raw = to_python(table)
    if isinstance(raw, list):
        raise InvalidInput("config takes a table of key = value")
    return parse_workflow_config(raw)


def _task_spec(record: Any, chunk: str) -> TaskSpec:
    name = record["name"]

    def at(field: str | None, problem: Callable[[], Any]) -> Any:
        try:
            return problem()
        except (InvalidInput, NotData) as exc:
            raise WorkflowInvalid(f"{chunk}:{_line(record, field)}: {exc}") from None

    at(None, lambda: validate_name(name, "task"))
    if record["command"] is None:
        raise WorkflowInvalid(f"{chunk}:{_line(record)}: task '{name}' has no command "
                              "(add :command(function(this, params) ... end))")
    timeout = None
    if record["timeout"] is not None:
        timeout = at("timeout", lambda: duration_value(record["timeout"],
                                                       f"timeout of task '{name}'"))
    retries = record["retries"] or 0
    if not 0 <= retries <= MAX_RETRIES:
        raise WorkflowInvalid(f"{chunk}:{_line(record, 'retries')}: task '{name}': retries must "
                              f"be between 0 and {MAX_RETRIES}, got {retries}")
    backoff = Backoff.FIXED
    if record["backoff"] is not None:
        backoff = at("retries", lambda: _backoff(record["backoff"]))
    delay = DEFAULT_RETRY_DELAY
    if record["retry_delay"] is not None:
        delay = at("retries", lambda: duration_value(record["retry_delay"],
                                                     f"retry delay of task '{name}'"))
    depends_on = to_python(record["depends_on"]) or []
    return TaskSpec(name=name, description=record["description"] or "",
                    depends_on=tuple(dict.fromkeys(depends_on)), timeout=timeout,
                    retries=int(retries), backoff=backoff, retry_delay=delay,
                    defined_at=f"{chunk}:{_line(record)}")


def _backoff(text: str) -> Backoff:
    try:
        return Backoff(text)
    except ValueError:
        raise InvalidInput(f"unknown backoff '{text}' (use {', '.join(Backoff)})") from None
