"""Secrets: sealed set/get against plain set/get; encrypt_events against plain `state set`."""

from __future__ import annotations

import base64
import os
import statistics
import time
from pathlib import Path

from benchmarks.common import invocation, report, workdir


def _runtime(db: Path, *, encrypt_events: bool = False, key_file: Path | None = None):  # type: ignore[no-untyped-def]
    from infrastructure.runtime import Runtime
    from infrastructure.settings import Settings, StackSettings

    stacks = StackSettings(encrypt_events=encrypt_events, events_key_file=key_file)
    return Runtime(Settings(db_path=db, stacks=stacks))


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def set_and_get(quick: bool) -> None:
    """The same writes and reads, once plain and once as secrets, on one stack each."""
    from commands.models import CreateStack, SetValues
    from projections.queries.stacks import find_stack

    os.environ["SLOTH_RUNNER_SECRET_KEY"] = base64.b64encode(os.urandom(32)).decode()
    runtime = _runtime(workdir() / "stacks.db")
    service = runtime.service()
    for name in ("plain", "secret"):
        service.create_stack(CreateStack(stack=name), invocation())
    count = 200 if quick else 1000
    writes: dict[str, list[float]] = {"plain": [], "secret": []}
    for i in range(count):
        for name in ("plain", "secret"):  # interleaved, so both see the same machine
            values = {f"k{i % 20}": f"value-{i}"}
            command = (SetValues(stack=name, values=values) if name == "plain"
                       else SetValues(stack=name, secrets=values))
            started = time.perf_counter()
            service.set_values(command, invocation())
            writes[name].append(time.perf_counter() - started)
    runtime.catch_up()
    connection = runtime.connection()
    keyring = runtime.keyring()
    reads: dict[str, list[float]] = {"plain": [], "secret": []}
    for i in range(count):
        key = f"k{i % 20}"
        started = time.perf_counter()
        find_stack(connection, "plain").values[key]  # type: ignore[union-attr]
        reads["plain"].append(time.perf_counter() - started)
        started = time.perf_counter()
        keyring.open("secret", key, find_stack(connection, "secret").values[key])  # type: ignore[union-attr]
        reads["secret"].append(time.perf_counter() - started)
    runtime.close()
    del os.environ["SLOTH_RUNNER_SECRET_KEY"]
    plain_w, secret_w = _median_ms(writes["plain"]), _median_ms(writes["secret"])
    plain_r, secret_r = _median_ms(reads["plain"]), _median_ms(reads["secret"])
    report("`state set` one value, in-process, median: plain", f"{plain_w:.2f} ms")
    report("`state set --secret` one value, in-process, median", f"{secret_w:.2f} ms")
    report("    ratio secret / plain", f"{secret_w / plain_w:.2f}x")
    report("`state get` (read model), median: plain", f"{plain_r * 1000:.0f} us")
    report("`state get --show-secrets` (read model + decrypt), median", f"{secret_r * 1000:.0f} us")
    report("    ratio secret / plain", f"{secret_r / plain_r:.2f}x")


def encrypted_store(quick: bool) -> None:
    """`state set` (write + catch-up) on a plain store and on one with encrypt_events."""
    from commands.models import CreateStack, SetValues

    directory = workdir()
    key_file = directory / "events.key"
    key_file.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    key_file.chmod(0o600)
    runtimes = {"plain": _runtime(directory / "plain.db"),
                "encrypted": _runtime(directory / "encrypted.db", encrypt_events=True,
                                      key_file=key_file)}
    for runtime in runtimes.values():
        runtime.service().create_stack(CreateStack(stack="bench"), invocation())
        runtime.catch_up()
    count = 200 if quick else 1000
    samples: dict[str, list[float]] = {"plain": [], "encrypted": []}
    for i in range(count):
        for name, runtime in runtimes.items():
            started = time.perf_counter()
            runtime.service().set_values(
                SetValues(stack="bench", values={f"k{i % 20}": i}), invocation())
            runtime.catch_up()
            samples[name].append(time.perf_counter() - started)
    for runtime in runtimes.values():
        runtime.close()
    plain, encrypted = _median_ms(samples["plain"]), _median_ms(samples["encrypted"])
    report("`state set` + catch-up, plain store, median", f"{plain:.2f} ms")
    report("`state set` + catch-up, encrypt_events, median", f"{encrypted:.2f} ms")
    report("    ratio encrypted / plain", f"{encrypted / plain:.2f}x")


def run(quick: bool = False) -> None:
    set_and_get(quick)
    encrypted_store(quick)
