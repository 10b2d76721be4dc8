"""Secrets: sealed set/get against plain set/get; encrypt_events against plain `state set`."""

from __future__ import annotations

import base64
import os
import statistics
import time
from pathlib import Path

from benchmarks.common import Figure, figure, invocation, ms, us, workdir


def _runtime(db: Path, *, encrypt_events: bool = False, key_file: Path | None = None):  # type: ignore[no-untyped-def]
    from infrastructure.runtime import Runtime
    from infrastructure.settings import Settings, StackSettings

    stacks = StackSettings(encrypt_events=encrypt_events, events_key_file=key_file)
    return Runtime(Settings(db_path=db, stacks=stacks))


def _median(samples: list[float]) -> float:
    return statistics.median(samples)


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
    plain_w, secret_w = _median(writes["plain"]), _median(writes["secret"])
    plain_r, secret_r = _median(reads["plain"]), _median(reads["secret"])
    figure(Figure(f"(a) `state set --secret` one value, in-process (write), median of {count}",
                  ms(secret_w, 2), f"`state set` of the same value, plain: {ms(plain_w, 2)}",
                  secret_w / plain_w))
    figure(Figure("(b) `state get --show-secrets` (read model + decrypt), median",
                  us(secret_r), f"`state get`, plain: {us(plain_r)}", secret_r / plain_r))


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
    plain, encrypted = _median(samples["plain"]), _median(samples["encrypted"])
    figure(Figure(f"(c) `state set` + catch-up with `encrypt_events`, median of {count}",
                  ms(encrypted, 2), f"the same on a plain store: {ms(plain, 2)}",
                  encrypted / plain))


def run(quick: bool = False) -> None:
    set_and_get(quick)
    encrypted_store(quick)
