"""`sloth-runner secrets`: make a key, see which keys seal the secrets, rotate to a new key."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli import output
from cli.context import JsonFlag, path_text, state
from cli.errors import Typer

app = Typer(no_args_is_help=True, help="Keys of secret state values and outputs.")

FileArg = Annotated[str, typer.Argument(help="The key file to create.", show_default=False,
                                        parser=path_text)]


@app.command("keygen")
def keygen(ctx: typer.Context, file: FileArg, json_output: JsonFlag = False) -> None:
    """Write a new random key (32 bytes, base64, one line) to a new file of mode 0600."""
    from infrastructure.secrets import KEY_ENV, generate_key_file

    st = state(ctx)
    path = Path(file).expanduser()
    key = generate_key_file(path)
    if st.wants_json(json_output):
        output.emit_json({"file": str(path), "key_id": key.key_id})
        return
    output.say(f"{output.tick()} Key {key.key_id} written to {output.printable(str(path))} "
               "(mode 0600)")
    output.say(f"Use it with stacks.secret_key_file: {output.printable(str(path))} in the "
               f"config file, or export {KEY_ENV}=\"$(cat {output.printable(str(path))})\"")


@app.command("status")
def status(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """How many secrets each key seals (by key id), and the key in use, if one is found."""
    from collections import Counter

    from domain.secrets import key_id_of
    from infrastructure.errors import SettingsError
    from projections.queries.stacks import find_stack, list_stacks

    st = state(ctx)
    connection = st.reader()
    counts: Counter[str] = Counter()
    stacks: Counter[str] = Counter()
    for summary in list_stacks(connection, include_destroyed=False):
        stack = find_stack(connection, summary.name)
        if stack is None:
            continue
        ids = [kid for value in (*stack.values.values(), *stack.outputs.values())
               if (kid := key_id_of(value)) is not None]
        counts.update(ids)
        stacks.update(set(ids))
    try:
        keyring = st.runtime().keyring()
        in_use: str | None = keyring.key_id
        origin = keyring.primary.origin
    except SettingsError as exc:
        in_use, origin = None, str(exc)
    if st.wants_json(json_output):
        output.emit_json({"key_in_use": in_use, "origin": origin,
                          "keys": [{"key_id": kid, "secrets": count, "stacks": stacks[kid]}
                                   for kid, count in sorted(counts.items())]})
        return
    output.say(f"Key in use: {in_use} ({output.printable(origin)})" if in_use
               else f"Key in use: none ({output.printable(origin)})")
    output.say()
    if not counts:
        output.say("No secrets stored.")
        return
    rows = [[kid, str(count), str(stacks[kid]),
             "in use" if kid == in_use else "older key" if in_use else ""]
            for kid, count in sorted(counts.items())]
    for line in output.table(["KEY ID", "SECRETS", "STACKS", ""], rows):
        output.say(line)


@app.command("rotate")
def rotate(
    ctx: typer.Context,
    new_key_file: Annotated[str, typer.Option(
        "--new-key-file", help="The key to seal every current secret with (mode 0600).",
        show_default=False, parser=path_text)],
    json_output: JsonFlag = False,
) -> None:
    """Seal every current secret again under a new key, one recorded write per stack.

    Secrets are opened with the key in use (and the fallback keys). History keeps the old
    envelopes: keep the old key as a fallback key to read them.
    """
    from infrastructure.secrets import FALLBACK_ENV, KEY_ENV, Keyring, read_key_file
    from projections.queries.stacks import list_stacks

    st = state(ctx)
    runtime = st.runtime()
    current = runtime.keyring()
    new_key = read_key_file(Path(new_key_file).expanduser())
    sealer = Keyring(new_key)
    names = [summary.name for summary in list_stacks(st.reader(), include_destroyed=False)]
    done = st.service().rotate_secrets(names, sealer, st.invocation())
    st.written()
    changed = {name: detail for name, detail in done.items()
               if detail["values"] or detail["outputs"]}
    count = sum(len(d["values"]) + len(d["outputs"]) for d in changed.values())
    if st.wants_json(json_output):
        output.emit_json({"key_id": new_key.key_id, "previous_key_id": current.key_id,
                          "secrets": count, "stacks": changed})
        runtime.deliver_to_hooks()
        return
    for name, detail in changed.items():
        keys = [*detail["values"], *[f"output {key}" for key in detail["outputs"]]]
        output.say(f"  {output.printable(name)}: {output.key_list(keys)}")
    output.say(f"{output.tick()} {count} secret{'s' if count != 1 else ''} in "
               f"{len(changed)} stack{'s' if len(changed) != 1 else ''} sealed again under "
               f"key {new_key.key_id}")
    output.say(f"Now use the new key ({KEY_ENV} or stacks.secret_key_file), and keep the old "
               f"one ({current.key_id}) as a fallback ({FALLBACK_ENV} or "
               "stacks.secret_fallback_key_file) to read history.")
    runtime.deliver_to_hooks()
