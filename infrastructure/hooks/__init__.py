"""Delivering events to hooks: the actions (commands, webhooks, Lua functions), each hook's
tracking position and delivery records, the long-running processor and inline delivery.

Nothing here is imported at start-up: only a command that writes, when hooks exist, or the
`hooks` and `events process|follow` commands import it.
"""
