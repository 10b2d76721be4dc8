"""Hooks' rules and their stream of events, without any I/O."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.errors import InvalidInput
from domain.hooks import (
    Hook,
    HookAction,
    HookExists,
    HookNotFound,
    HookSpec,
    hook_id,
    retry_delay,
    split_lua_target,
    unmatched_globs,
)
from tests.conftest import invocation


def spec(on: list[str] | None = None, stacks: list[str] | None = None) -> HookSpec:
    return HookSpec.build(on=on or ["lock.*"], stacks=stacks or [],
                          action=HookAction.command(["true"]))


def test_a_type_glob_crosses_dots_and_is_case_sensitive() -> None:
    hook = spec(["stack.*"])
    assert hook.matches("stack.execution.failed", "app")
    assert not hook.matches("Stack.created", "app")
    assert not hook.matches("state.set", "app")


def test_stack_globs_narrow_a_hook_and_events_of_no_stack_do_not_match_them() -> None:
    hook = spec(["*"], ["prod-*", "db"])
    assert hook.matches("state.set", "prod-web")
    assert hook.matches("state.set", "db")
    assert not hook.matches("state.set", "staging-web")
    assert not hook.matches("hook.added", "")
    assert spec(["*"]).matches("hook.added", "")


@pytest.mark.parametrize("globs", [[], [""], ["has space"], ["a[b"], ["x" * 256]])
def test_bad_event_globs_are_refused(globs: list[str]) -> None:
    with pytest.raises(InvalidInput):
        HookSpec.build(on=globs, action=HookAction.command(["x"]))


def test_unmatched_globs_are_those_no_known_type_matches() -> None:
    assert unmatched_globs(["lock.*", "plugin.thing", "state.se?"],
                           ["lock.acquired", "state.set"]) == ["plugin.thing"]


@pytest.mark.parametrize("url", ["ftp://host/x", "http://", "host/x", "http://a b/",
                                 "https://user:pw@host/x", "http://host:99999/"])
def test_webhook_urls_must_be_http_without_credentials(url: str) -> None:
    with pytest.raises(InvalidInput):
        HookAction.webhook(url)


def test_a_webhook_stores_the_name_of_its_secret_variable_only() -> None:
    action = HookAction.webhook("https://example.com/hook", "HOOK_SECRET")
    assert (action.url, action.secret_env) == ("https://example.com/hook", "HOOK_SECRET")
    with pytest.raises(InvalidInput):
        HookAction.webhook("https://example.com/hook", "NOT-A-NAME")


def test_a_command_line_is_split_into_words_unless_a_shell_runs_it() -> None:
    assert HookAction.command_line("notify --to 'ops team'").argv == ["notify", "--to", "ops team"]
    assert HookAction.command_line("echo $HOME | wc", shell=True).argv == ["echo $HOME | wc"]
    for bad in ("", "   ", "unbalanced 'quote"):
        with pytest.raises(InvalidInput):
            HookAction.command_line(bad)


def test_lua_targets_name_a_file_and_a_function() -> None:
    assert split_lua_target("/etc/hooks:v2.lua:on_event") == ("/etc/hooks:v2.lua", "on_event")
    with pytest.raises(InvalidInput):
        split_lua_target("on_event")
    with pytest.raises(InvalidInput):
        HookAction.lua("/x.lua", "not a name")


def test_timeouts_and_retries_are_bounded() -> None:
    action = HookAction.command(["true"])
    with pytest.raises(InvalidInput):
        HookSpec.build(on=["*"], action=action, timeout=timedelta(0))
    with pytest.raises(InvalidInput):
        HookSpec.build(on=["*"], action=action, timeout=timedelta(hours=2))
    with pytest.raises(InvalidInput):
        HookSpec.build(on=["*"], action=action, retries=101)


def test_the_wait_between_attempts_doubles_up_to_a_cap() -> None:
    waits = [retry_delay(n).total_seconds() for n in range(1, 12)]
    assert waits[:5] == [1, 2, 4, 8, 16]
    assert waits[-1] == 300
    assert retry_delay(10_000) == timedelta(minutes=5)


def test_a_hook_is_added_disabled_enabled_and_removed_on_record() -> None:
    hook = Hook.add("notify", spec(), invocation(actor="alice@laptop"))
    assert hook.id == hook_id("notify")
    assert hook.disable(invocation()) is True
    assert hook.disable(invocation()) is False
    assert hook.enable(invocation()) is True
    hook.remove(invocation())
    events = hook.collect_events()
    assert [type(e).TOPIC for e in events] == [
        "hook.added", "hook.disabled", "hook.enabled", "hook.removed"]
    assert {e.name for e in events} == {"notify"}
    assert events[0].actor == "alice@laptop"
    with pytest.raises(HookNotFound):
        hook.enable(invocation())


def test_a_removed_name_can_be_added_again_as_a_new_incarnation() -> None:
    hook = Hook.add("notify", spec(), invocation())
    with pytest.raises(HookExists):
        hook.add_again(spec(["state.*"]), invocation())
    hook.remove(invocation())
    hook.add_again(spec(["state.*"]), invocation(), from_start=True)
    assert (hook.incarnation, hook.spec.on, hook.from_start, hook.enabled) == (
        2, ["state.*"], True, True)


def test_hook_names_follow_the_stack_name_rule() -> None:
    for bad in ("", "-x", "has space", "x" * 129):
        with pytest.raises(InvalidInput):
            Hook.add(bad, spec(), invocation())
