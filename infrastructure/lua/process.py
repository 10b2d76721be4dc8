"""External commands run by workflows (`exec.run` and string task commands).

Each command runs in its own session (process group), with no input. It is stopped by its own
timeout, or when the task must stop (its deadline, the workflow's, Ctrl-C): the whole group
gets SIGTERM, then SIGKILL if it is still there `KILL_GRACE` seconds later.
"""

from __future__ import annotations

import os
import select
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass

KILL_GRACE = 2.0
"""Seconds between SIGTERM and SIGKILL."""
ABANDON_AFTER = 1.0
"""Seconds after SIGKILL to stop waiting for output (a process that left the group may hold the
pipes open)."""
GROUP_GONE_WITHIN = 0.5
"""Seconds to wait, after a command's group was signalled, for its last members to go."""
POLL = 0.05
"""How often a running command checks whether the task must stop (seconds)."""


class CommandStopped(Exception):
    """The task must stop (deadline, cancellation); the command was killed."""


@dataclass(frozen=True)
class CommandResult:
    success: bool
    stdout: str
    stderr: str
    exit_code: int
    duration: float
    timed_out: bool = False


def _signal_group(process: subprocess.Popen[bytes], number: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, number)


def run_command(command: str | Sequence[str], *, should_stop: Callable[[], str | None],
                timeout: float | None = None, env: Mapping[str, str] | None = None,
                workdir: str | None = None, input: bytes | None = None,
                whole_env: Mapping[bytes, bytes] | None = None, keep_stdout: bool = True,
                clock: Callable[[], float] = time.monotonic) -> CommandResult:
    """Run a command (a string through /bin/sh, a list without a shell) and collect its output.

    `env` is added to this process's environment; `whole_env` is the command's whole
    environment instead, already encoded (a caller running many commands encodes it once).
    `input` is written to its stdin (otherwise it reads nothing). Without `keep_stdout`, its
    stdout goes to /dev/null (only stderr is kept). A command that cannot start gives exit
    code 127 and the reason on stderr. Raises CommandStopped when `should_stop()` said why
    the task must stop.
    """
    started = clock()
    program = command if isinstance(command, str) else command[0]
    environment: Mapping[bytes, bytes] | Mapping[str, str] | None = whole_env
    if environment is None and env:
        environment = {**os.environ, **env}
    try:
        process = subprocess.Popen(
            command, shell=isinstance(command, str), cwd=workdir, env=environment,
            stdin=subprocess.DEVNULL if input is None else subprocess.PIPE,
            stdout=subprocess.PIPE if keep_stdout else subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True)
    except OSError as error:
        return CommandResult(success=False, stdout="", exit_code=127, duration=clock() - started,
                             stderr=f"cannot run '{program}': {error.strerror or error}")
    if input is not None:
        _feed(process, input)
    own_deadline = started + timeout if timeout is not None else None
    stop_message: str | None = None
    timed_out = False
    terminated_at: float | None = None
    killed = False
    output = _Output(process)
    try:
        while not output.done():
            now = clock()
            if terminated_at is None:
                stop_message = should_stop()
                timed_out = (stop_message is None and own_deadline is not None
                             and now >= own_deadline)
                if stop_message is not None or timed_out:
                    _signal_group(process, signal.SIGTERM)
                    terminated_at = now
            elif not killed and now - terminated_at >= KILL_GRACE:
                _signal_group(process, signal.SIGKILL)
                killed = True
            elif killed and now - terminated_at >= KILL_GRACE + ABANDON_AFTER:
                _abandon(process)
                break
            wait = POLL
            if terminated_at is None and own_deadline is not None:
                wait = min(wait, max(own_deadline - now, 0.0))
            output.collect(max(wait, 0.001))
        if terminated_at is not None:
            _await_group(process, GROUP_GONE_WITHIN)
    finally:
        output.close()
    duration = clock() - started
    if stop_message is not None:
        raise CommandStopped(stop_message)
    code = process.returncode if process.returncode is not None else -signal.SIGKILL
    return CommandResult(success=code == 0 and not timed_out,
                         stdout=output.text(process.stdout), stderr=output.text(process.stderr),
                         exit_code=128 - code if code < 0 else code, duration=duration,
                         timed_out=timed_out)


class _Output:
    """Reads a command's stdout and stderr as they come, and notices when it exits.

    `Popen.communicate(timeout=...)` would do the reading, but once the pipes close it waits
    for the exit by sleeping and polling (half a millisecond and more), which is most of
    the cost of a short command. Here, once the pipes are closed, the exit is awaited on a
    pidfd where Linux has them (readable when the process ends), so a short command costs
    what spawning it costs.
    """

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.selector = selectors.PollSelector() if hasattr(selectors, "PollSelector") else (
            selectors.DefaultSelector())
        self.chunks: dict[object, list[bytes]] = {}
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                self.chunks[stream] = []
                self.selector.register(stream, selectors.EVENT_READ)
        self.exit_watch: int | None = None

    def done(self) -> bool:
        return not self.selector.get_map() and self.process.poll() is not None

    def collect(self, wait: float) -> None:
        """Read what is there (waiting up to `wait` seconds for something to happen)."""
        if not self.selector.get_map():
            self._await_exit(wait)
            return
        for key, _ in self.selector.select(wait):
            data = os.read(key.fd, 65536)
            if data:
                self.chunks[key.fileobj].append(data)
            else:
                self.selector.unregister(key.fileobj)

    def _await_exit(self, wait: float) -> None:
        """The pipes are closed; the process is ending (or went on without them)."""
        if self.process.poll() is not None:
            return
        if self.exit_watch is None:
            pidfd_open = getattr(os, "pidfd_open", None)
            try:
                self.exit_watch = pidfd_open(self.process.pid) if pidfd_open else -1
            except OSError:
                self.exit_watch = -1
        if self.exit_watch >= 0:
            select.select([self.exit_watch], [], [], wait)
            self.process.poll()
            return
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=wait)

    def text(self, stream: object) -> str:
        return b"".join(self.chunks.get(stream, [])).decode("utf-8", "replace")

    def close(self) -> None:
        self.selector.close()
        if self.exit_watch is not None and self.exit_watch >= 0:
            os.close(self.exit_watch)
        for stream in self.chunks:
            with suppress(OSError):
                stream.close()  # type: ignore[attr-defined]


def _await_group(process: subprocess.Popen[bytes], seconds: float) -> None:
    """After signalling a command's group: give what is left of it (a shell's background
    jobs, killed with it) a moment to be gone, so that a stopped command is over when this
    returns. Members that linger as zombies end the wait at its limit."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.005)


def _feed(process: subprocess.Popen[bytes], data: bytes) -> None:
    """Write `data` to the command's stdin from a thread of its own, then close it.

    `communicate()` is called again and again (to check whether to stop), and it does not
    go on writing input after its first call times out; a command that reads slowly, or
    not at all, must not hold the caller either. A command that exits without reading
    closes the pipe: that is not an error.
    """
    stdin = process.stdin
    process.stdin = None
    assert stdin is not None
    # Most events fit in the pipe's buffer: written at once, without a thread.
    descriptor = stdin.fileno()
    os.set_blocking(descriptor, False)
    try:
        written = os.write(descriptor, data)
    except BlockingIOError:
        written = 0
    except OSError:
        written = len(data)  # the command is gone, or closed its stdin: not an error
    if written >= len(data):
        with suppress(OSError):
            stdin.close()
        return
    os.set_blocking(descriptor, True)
    data = data[written:]

    def write() -> None:
        assert stdin is not None
        with suppress(OSError):
            try:
                stdin.write(data)
            finally:
                stdin.close()

    threading.Thread(target=write, name="command-stdin", daemon=True).start()


def _abandon(process: subprocess.Popen[bytes]) -> None:
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            with suppress(OSError):
                stream.close()
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=ABANDON_AFTER)
