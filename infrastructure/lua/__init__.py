"""Lua workflows (`.sloth` files): a sandboxed Lua 5.4 runtime through lupa, the DSL, the
modules a workflow sees (state, stack, exec, log, values, data) and the loader.

Nothing here is imported at start-up: the `run` command imports it when it runs.
"""
