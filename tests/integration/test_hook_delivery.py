"""Delivering the log to hooks: order, at least once, retries, dead letters, webhooks,
back-pressure, and one tracking shared by the processor and inline delivery."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import shlex
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from commands.hooks import AddHook
from commands.models import CreateStack, SetValues
from domain.hooks import HookAction, HookSpec
from domain.names import stack_id
from infrastructure.hooks import tracking
from infrastructure.hooks.processor import Processor, Summary
from infrastructure.runtime import Runtime
from infrastructure.settings import HookSettings
from tests.conftest import invocation, rows
from tests.conftest import settings as settings_of


def add_hook(runtime: Runtime, name: str, action: HookAction, on: tuple[str, ...] = ("*",),
             *, retries: int = 5, from_start: bool = False,
             stacks: tuple[str, ...] = ()) -> None:
    spec = HookSpec.build(on=list(on), stacks=list(stacks), action=action, retries=retries)
    runtime.hook_service().add(AddHook(name, spec, from_start), invocation())
    runtime.catch_up()


def append_to(path: Path) -> HookAction:
    """A command hook that appends each event (one JSON line) to a file."""
    return HookAction.command(["sh", "-c", f"cat >> {shlex.quote(str(path))}"])


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def process(runtime: Runtime, *, workers: int = 4, queue_size: int = 100,
            backoff: list[int] | None = None) -> Summary:
    """Drain the log to the hooks, retrying at once (and noting each wait asked for)."""
    def no_wait(failed_attempts: int) -> float:
        if backoff is not None:
            backoff.append(failed_attempts)
        return 0.0

    processor = Processor(runtime, workers=workers, queue_size=queue_size, poll_interval=0.05,
                          backoff=no_wait, log=lambda message: None)
    return processor.run(follow=False)


def write(runtime: Runtime, stack: str, count: int) -> None:
    service = runtime.service()
    for index in range(count):
        service.set_values(SetValues(stack=stack, values={"n": index}), invocation())


def log_positions(runtime: Runtime, after: int = 0) -> list[int]:
    return [n.id for n in runtime.event_log().notifications(after)]


def test_every_event_reaches_a_command_hook_once_in_log_order(runtime: Runtime,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    runtime.service().create_stack(CreateStack(stack="app"), invocation())
    add_hook(runtime, "audit", append_to(out))
    added_at = runtime.event_log().head()
    write(runtime, "app", 20)
    summary = process(runtime)
    seen = lines(out)
    assert [event["position"] for event in seen] == log_positions(runtime, added_at)
    assert summary.delivered == 20
    assert {event["stack"] for event in seen} == {"app"}
    assert seen[0]["delivery_id"] == f"audit:{seen[0]['position']}"
    assert seen[0]["data"] == {"key": "n", "value": 0}
    assert process(runtime).delivered == 0  # nothing is delivered twice


def test_a_hook_added_from_the_start_replays_the_whole_log(runtime: Runtime,
                                                            tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    runtime.service().create_stack(CreateStack(stack="app"), invocation())
    write(runtime, "app", 3)
    add_hook(runtime, "replay", append_to(out), ("state.*", "stack.*"), from_start=True)
    process(runtime)
    assert [event["type"] for event in lines(out)] == ["stack.created"] + ["state.set"] * 3


def test_filters_by_type_and_stack(runtime: Runtime, tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    for name in ("prod-web", "staging-web"):
        runtime.service().create_stack(CreateStack(stack=name), invocation())
    add_hook(runtime, "prod", append_to(out), ("state.set",), stacks=("prod-*",))
    write(runtime, "prod-web", 2)
    write(runtime, "staging-web", 2)
    process(runtime)
    assert [(event["type"], event["stack"]) for event in lines(out)] == [
        ("state.set", "prod-web")] * 2


def test_a_delivery_that_fails_twice_is_retried_and_shows_three_attempts(
        runtime: Runtime, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    flaky = HookAction.command(["sh", "-c", f'n=$(cat {counter} 2>/dev/null || echo 0); '
                                            f'n=$((n+1)); echo $n > {counter}; '
                                            '[ "$n" -ge 3 ] || { echo "not yet $n" >&2; exit 7; }'])
    runtime.service().create_stack(CreateStack(stack="app"), invocation())
    add_hook(runtime, "flaky", flaky, ("state.set",), retries=5)
    write(runtime, "app", 1)
    waits: list[int] = []
    summary = process(runtime, backoff=waits)
    (delivery,) = tracking.deliveries(runtime.connection(), "flaky")
    assert (delivery.status, delivery.attempts, delivery.exit_code) == ("delivered", 3, 0)
    assert waits == [1, 2]
    assert (summary.delivered, summary.retried) == (1, 2)


def test_a_hook_that_always_fails_is_dead_lettered_and_others_are_unaffected(
        runtime: Runtime, tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    runtime.service().create_stack(CreateStack(stack="app"), invocation())
    add_hook(runtime, "broken", HookAction.command(["sh", "-c", "echo boom >&2; exit 3"]),
             ("state.set",), retries=2)
    add_hook(runtime, "audit", append_to(out), ("state.set",))
    write(runtime, "app", 3)
    summary = process(runtime)
    failed = tracking.deliveries(runtime.connection(), "broken", failed_only=True)
    assert [(d.status, d.attempts, d.exit_code, d.error) for d in failed] == [
        ("failed", 3, 3, "exit 3: boom")] * 3
    assert len(lines(out)) == 3
    assert summary.failed == 3
    head = runtime.event_log().head()
    assert tracking.tracking(runtime.connection())["broken"].position == head


def test_a_retrying_delivery_holds_back_only_its_own_hook(runtime: Runtime,
                                                          tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    runtime.service().create_stack(CreateStack(stack="app"), invocation())
    add_hook(runtime, "down", HookAction.command(["false"]), ("state.set",), retries=3)
    add_hook(runtime, "audit", append_to(out), ("state.set",))
    write(runtime, "app", 3)
    processor = Processor(runtime, workers=2, queue_size=10, poll_interval=0.05,
                          backoff=lambda attempts: 3600.0, log=lambda message: None)
    summary = processor.run(follow=False)  # drains what can be delivered now, then stops
    assert len(lines(out)) == 3
    (waiting,) = tracking.deliveries(runtime.connection(), "down")
    assert (waiting.status, waiting.attempts, waiting.next_attempt_at is not None) == (
        "retrying", 1, True)
    assert summary.retried == 1
    first = log_positions(runtime)[-3]
    assert tracking.tracking(runtime.connection())["down"].position < first


class Receiver(http.server.BaseHTTPRequestHandler):
    """Records each request; answers with the status the test sets."""

    received: list[tuple[dict[str, str], bytes]] = []
    status = 204

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.received = []
    Receiver.status = 204
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def test_a_webhook_receives_the_event_signed_with_the_secret(
        runtime: Runtime, receiver: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", "s3cr3t")
    runtime.service().create_stack(CreateStack(stack="app"), invocation())
    add_hook(runtime, "web", HookAction.webhook(receiver, "HOOK_SECRET"), ("state.set",))
    write(runtime, "app", 1)
    assert process(runtime).delivered == 1
    ((headers, body),) = Receiver.received
    expected = "sha256=" + hmac.new(b"s3cr3t", body, hashlib.sha256).hexdigest()
    assert headers["X-Sloth-Signature"] == expected
    document = json.loads(body)
    assert headers["X-Sloth-Delivery"] == document["delivery_id"] == f"web:{document['position']}"
    assert (headers["X-Sloth-Event"], document["stack"]) == ("state.set", "app")
    (delivery,) = tracking.deliveries(runtime.connection(), "web")
    assert (delivery.status, delivery.http_status) == ("delivered", 204)
    stored = runtime.connection().execute("SELECT data FROM state_events").fetchall()
    assert not any("s3cr3t" in row[0] for row in stored)


def test_a_webhook_answering_500_is_retried_with_the_same_body_and_delivery_id(
        runtime: Runtime, receiver: str) -> None:
    Receiver.status = 500
    runtime.service().create_stack(CreateStack(stack="app"), invocation())
    add_hook(runtime, "web", HookAction.webhook(receiver), ("state.set",), retries=1)
    write(runtime, "app", 1)
    process(runtime)
    first, second = Receiver.received
    assert first[1] == second[1]
    assert (first[0]["X-Sloth-Attempt"], second[0]["X-Sloth-Attempt"]) == ("1", "2")
    assert "X-Sloth-Signature" not in first[0]
    (delivery,) = tracking.deliveries(runtime.connection(), "web")
    assert (delivery.status, delivery.attempts, delivery.http_status, delivery.error) == (
        "failed", 2, 500, "HTTP 500: Internal Server Error")


def test_a_lua_hook_gets_the_event_as_a_table(runtime: Runtime, tmp_path: Path) -> None:
    script = tmp_path / "hooks.lua"
    script.write_text(
        "function on_event(event)\n"
        "  if event.data.value == 1 then return false, 'one is refused' end\n"
        "  if event.stack ~= 'app' then error('wrong stack ' .. tostring(event.stack)) end\n"
        "end\n")
    runtime.service().create_stack(CreateStack(stack="app"), invocation())
    add_hook(runtime, "lua", HookAction.lua(str(script), "on_event"), ("state.set",),
             retries=0)
    write(runtime, "app", 3)
    process(runtime)
    outcomes = sorted(tracking.deliveries(runtime.connection(), "lua"), key=lambda d: d.position)
    assert [(d.status, d.error) for d in outcomes] == [
        ("delivered", ""), ("failed", "one is refused"), ("delivered", "")]


def test_a_slow_lua_function_times_out(runtime: Runtime, tmp_path: Path) -> None:
    script = tmp_path / "slow.lua"
    script.write_text("function spin(event) while true do end end\n")
    runtime.service().create_stack(CreateStack(stack="app"), invocation())
    spec = HookSpec.build(on=["state.set"], action=HookAction.lua(str(script), "spin"),
                          retries=0, timeout=__import__("datetime").timedelta(milliseconds=200))
    runtime.hook_service().add(AddHook("slow", spec), invocation())
    write(runtime, "app", 1)
    process(runtime)
    (delivery,) = tracking.deliveries(runtime.connection(), "slow")
    assert (delivery.status, delivery.error) == ("failed", "timed out after 200ms")


def test_ten_thousand_events_through_a_hundred_workers_keep_memory_flat(
        runtime: Runtime, tmp_path: Path) -> None:
    script = tmp_path / "count.lua"
    script.write_text("seen = 0\nfunction count(event) seen = seen + 1 end\n"
                      "function busy(event) local s = 0 for i = 1, 3000 do s = s + i end end\n")
    runtime.service().create_stack(CreateStack(stack="app"), invocation())
    for name in ("count", "busy"):
        add_hook(runtime, name, HookAction.lua(str(script), name), ("state.set",))
    peaks = []
    for size in (2_000, 10_000):
        _append(runtime, "app", size)
        tracemalloc.start()
        summary = process(runtime, workers=100, queue_size=1_000)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert summary.peak_in_hand <= 1_000
    head = runtime.event_log().head()
    positions = tracking.tracking(runtime.connection())
    assert positions["count"].position == positions["busy"].position == head
    counts = tracking.counts(runtime.connection())
    assert counts["count"] == counts["busy"] == {"delivered": 12_000}
    assert peaks[1] < peaks[0] * 1.5, peaks


def _append(runtime: Runtime, name: str, events: int) -> None:
    """Many state.set events quickly: up to 100 per save."""
    store = runtime.store()
    written = 0
    while written < events:
        stack = store.repository.get(stack_id(name))
        inv = invocation()
        for index in range(min(100, events - written)):
            stack.set_values({"k": written + index}, inv)
        store.save(stack)
        written += min(100, events - written)
    runtime.catch_up()


def test_the_worker_pool_grows_with_the_work_and_never_past_its_size(runtime: Runtime,
                                                                    tmp_path: Path) -> None:
    runtime.service().create_stack(CreateStack(stack="app"), invocation())
    outputs = [tmp_path / f"out{index}.jsonl" for index in range(6)]
    for index, out in enumerate(outputs):
        add_hook(runtime, f"h{index}", append_to(out), ("state.set",))
    write(runtime, "app", 4)
    assert process(runtime, workers=3).workers == 3
    assert all(len(lines(out)) == 4 for out in outputs)
    write(runtime, "app", 1)
    assert process(runtime, workers=100).workers <= 6


def test_a_processor_holding_a_hook_keeps_inline_delivery_away(db_path: Path,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    writer = Runtime(settings_of(db_path))
    try:
        writer.service().create_stack(CreateStack(stack="app"), invocation())
        add_hook(writer, "audit", append_to(out), ("state.set",))
        follower = Runtime(settings_of(db_path))
        stop = threading.Event()
        processor = Processor(follower, workers=2, queue_size=10, poll_interval=0.02,
                              log=lambda message: None)
        thread = threading.Thread(target=processor.run, kwargs={"follow": True, "stop": stop})
        thread.start()
        try:
            _wait_for(lambda: tracking.tracking(writer.connection()).get("audit") is not None
                      and tracking.tracking(writer.connection())["audit"].owner is not None)
            for index in range(5):
                writer.service().set_values(SetValues(stack="app", values={"n": index}),
                                            invocation())
                writer.catch_up()
                writer.deliver_to_hooks()  # what a command does after it writes
            _wait_for(lambda: len(lines(out)) == 5)
        finally:
            stop.set()
            thread.join()
            follower.close()
        assert [event["data"]["value"] for event in lines(out)] == [0, 1, 2, 3, 4]
        assert processor.summary.delivered == 5
    finally:
        writer.close()


def test_inline_delivery_delivers_a_commands_events_right_after_it(runtime: Runtime,
                                                                   tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    runtime.service().create_stack(CreateStack(stack="app"), invocation())
    add_hook(runtime, "audit", append_to(out), ("state.set",))
    runtime.deliver_to_hooks()
    write(runtime, "app", 2)
    runtime.catch_up()
    runtime.deliver_to_hooks()
    assert [event["data"]["value"] for event in lines(out)] == [0, 1]
    assert process(runtime).delivered == 0


def test_inline_delivery_can_be_turned_off(db_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    runtime = Runtime(settings_of(db_path, hooks=HookSettings(inline=False)))
    try:
        runtime.service().create_stack(CreateStack(stack="app"), invocation())
        add_hook(runtime, "audit", append_to(out), ("state.set",))
        write(runtime, "app", 2)
        runtime.catch_up()
        runtime.deliver_to_hooks()
        assert lines(out) == []
        assert process(runtime).delivered == 2
    finally:
        runtime.close()


def test_rebuilding_the_read_models_keeps_the_processors_state(runtime: Runtime,
                                                               tmp_path: Path) -> None:
    runtime.service().create_stack(CreateStack(stack="app"), invocation())
    add_hook(runtime, "audit", append_to(tmp_path / "out.jsonl"), ("state.set",))
    write(runtime, "app", 2)
    process(runtime)
    before = (tracking.tracking(runtime.connection()),
              tracking.deliveries(runtime.connection(), "audit"))
    runtime.projections().rebuild()
    assert (tracking.tracking(runtime.connection()),
            tracking.deliveries(runtime.connection(), "audit")) == before
    assert process(runtime).delivered == 0


def test_the_hooks_read_model_rebuilt_from_zero_equals_the_incremental_one(
        runtime: Runtime, db_path: Path) -> None:
    from tests.conftest import read_model_dump

    add_hook(runtime, "a", HookAction.command(["true"]))
    add_hook(runtime, "b", HookAction.webhook("https://example.com/x", "SECRET"), ("lock.*",))
    service = runtime.hook_service()
    service.disable("a", invocation())
    service.remove("b", invocation())
    add_hook(runtime, "b", HookAction.command(["false"]), ("state.*",), from_start=True)
    service.enable("a", invocation())
    runtime.catch_up()
    incremental = read_model_dump(db_path)
    runtime.projections().rebuild()
    assert read_model_dump(db_path) == incremental
    rows = {row[1]: row for row in incremental["hooks"]}
    assert (rows["a"][2], rows["a"][3]) == (1, 1)  # incarnation, enabled
    assert (rows["b"][2], rows["b"][4], rows["b"][6]) == (2, None, 1)  # again, not removed


def test_the_tracking_tables_are_created_with_the_read_models(db_path: Path,
                                                              runtime: Runtime) -> None:
    runtime.connection()
    tables = {str(row[0]) for row in rows(
        db_path, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        if isinstance(db_path, str) else "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"hooks", "hook_tracking", "hook_deliveries"} <= tables


def _wait_for(condition: Any, seconds: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)
