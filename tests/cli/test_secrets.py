"""Secret values never sit in plain text: not in the database, the exports, any --json output,
an error message or a hook's payload; `--show-secrets` (with the key) is the only way back."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import orjson
import pytest

from tests.conftest import ProcRun, event_count

# '-' is not in the base64 alphabet, so no ciphertext can contain these by chance.
PLAIN = {
    "pw": "pw-Plain-1-xyzzy",
    "nested": "nested-Plain-2-xyzzy",
    "tok": "tok-Plain-3-xyzzy",
    "lua": "lua-Plain-4-xyzzy",
    "later": "later-Plain-5-xyzzy",
}
BAD = "bad-Plain-6-xyzzy"

WORKFLOW = """
local t = task("t")
    :command(function()
        local read = exec.run({ "cat", values.secret_file })
        state.set_secret("lua_secret", read.stdout)
        if state.get("lua_secret") ~= read.stdout then return false, "read back differs" end
        return true, "sealed"
    end)
    :build()
workflow.define("seal"):tasks({ t })
"""


def keygen(proc: ProcRun, path: Path) -> str:
    made = proc("secrets", "keygen", str(path), "--json")
    assert made.returncode == 0, made.stderr
    assert path.stat().st_mode & 0o777 == 0o600
    return path.read_text().strip()


def ok(result: object) -> str:
    import subprocess

    assert isinstance(result, subprocess.CompletedProcess)
    assert result.returncode == 0, result.stderr
    return str(result.stdout) + str(result.stderr)


def assert_no_plaintext(text: str | bytes, where: str) -> None:
    data = text.encode() if isinstance(text, str) else text
    for plain in (*PLAIN.values(), BAD):
        assert plain.encode() not in data, f"{plain} in {where}"


def test_no_secret_plaintext_anywhere(proc: ProcRun, tmp_path: Path, db_path: Path) -> None:
    env = {"SLOTH_RUNNER_SECRET_KEY": keygen(proc, tmp_path / "secret.key")}
    payloads = tmp_path / "payloads.jsonl"
    ok(proc("stack", "create", "app", env=env))
    ok(proc("hooks", "add", "spy", "--on", "*", "--run",
            f"sh -c 'cat >> {payloads}'", "--shell", env=env))
    printed = ok(proc("stack", "state", "set", "app", "plain=1", "--secret", f"pw={PLAIN['pw']}",
                      "--secret", f'nested:={{"inner": "{PLAIN["nested"]}"}}', "--json",
                      env=env))
    printed += ok(proc("stack", "output", "app", "--set-secret", f"tok={PLAIN['tok']}",
                       "--json", env=env))
    secret_file = tmp_path / "lua-secret.txt"
    secret_file.write_text(PLAIN["lua"])
    (tmp_path / "seal.sloth").write_text(WORKFLOW)
    printed += ok(proc("run", "seal", "--file", str(tmp_path / "seal.sloth"), "--stack", "app",
                       "--set", f"secret_file={secret_file}", "--json", env=env))
    printed += ok(proc("stack", "snapshot", "create", "app", "--json", env=env))
    printed += ok(proc("stack", "state", "set", "app", "--secret", f"pw={PLAIN['later']}",
                       "--json", env=env))
    printed += ok(proc("stack", "snapshot", "restore", "app", "v1", "--yes", "--json", env=env))

    # Every read command, as JSON and as text, without the key.
    for args in (["stack", "show", "app"], ["stack", "list"], ["stack", "state", "get", "app", "pw"],
                 ["stack", "state", "list", "app"], ["stack", "output", "app"],
                 ["stack", "output", "app", "tok"], ["stack", "snapshot", "show", "app", "v1"],
                 ["stack", "snapshot", "show", "app", "v2"],
                 ["stack", "snapshot", "compare", "app", "v1", "current"],
                 ["stack", "snapshot", "compare", "app", "v2", "current"],
                 ["stack", "show", "app", "--at-event", "4"], ["stack", "history", "app"],
                 ["events", "list"], ["events", "export"], ["stack", "executions", "list", "app"]):
        for json in ([], ["--json"]):
            shown = ok(proc(*args, *json))
            assert_no_plaintext(shown, " ".join(args + json))
            printed += shown
    assert "[secret]" in printed
    assert "changed (secret)" in ok(proc("stack", "snapshot", "compare", "app", "v2", "current"))

    # Errors about a secret's value never quote it.
    for bad in ([f"--secret={BAD}"], [f"--secret=n:={BAD}"], [f"--secret=n:=99999999999999999999{BAD}"],
                ["--secret", f"n:=[{BAD}"]):
        before = event_count(db_path)
        refused = proc("stack", "state", "set", "app", *bad, env=env)
        assert refused.returncode == 2, refused.stderr
        assert_no_plaintext(refused.stdout + refused.stderr, f"error of {bad}")
        assert event_count(db_path) == before
    for json in ([], ["--json"]):
        refused = proc(*json, "stack", "output", "app", f"--set-secret={BAD}", env=env)
        assert refused.returncode == 2 and BAD not in refused.stderr

    assert_no_plaintext(printed, "the commands' output")
    proc("events", "process", "--once", env=env)
    assert payloads.read_text().count('"[secret]"') >= 4
    assert_no_plaintext(payloads.read_bytes(), "hook payloads")
    for name in ("stacks.db", "stacks.db-wal"):
        if (tmp_path / name).exists():
            assert_no_plaintext((tmp_path / name).read_bytes(), name)

    # The holder of the key sees them; the restore brought back v1's secrets intact.
    assert ok(proc("stack", "state", "get", "app", "pw", "--show-secrets", env=env)).strip() == \
        PLAIN["pw"]
    listed = orjson.loads(proc("stack", "state", "list", "app", "--show-secrets", "--json",
                               env=env).stdout)
    assert listed == {"plain": "1", "pw": PLAIN["pw"], "nested": {"inner": PLAIN["nested"]},
                      "lua_secret": PLAIN["lua"]}
    assert orjson.loads(proc("stack", "output", "app", "tok", "--show-secrets", "--json",
                             env=env).stdout) == PLAIN["tok"]
    shown = orjson.loads(proc("stack", "snapshot", "show", "app", "v2", "--show-secrets",
                              "--json", env=env).stdout)
    assert shown["state"]["values"]["pw"] == PLAIN["later"]
    compared = ok(proc("stack", "snapshot", "compare", "app", "v2", "current", "--show-secrets",
                       env=env))
    assert PLAIN["later"] in compared and PLAIN["pw"] in compared


def test_a_missing_key_is_exit_2_naming_where_it_is_looked_for_and_appends_nothing(
        proc: ProcRun, tmp_path: Path, db_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("stacks:\n  auto_lock: true\n")
    ok(proc("stack", "create", "app"))
    before = event_count(db_path)
    for args in (["stack", "state", "set", "app", "--secret", "pw=x"],
                 ["--config", str(config), "stack", "state", "set", "app", "--secret", "pw=x"],
                 ["stack", "output", "app", "--set-secret", "pw=x"]):
        refused = proc(*args)
        assert refused.returncode == 2
        assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
        assert "SLOTH_RUNNER_SECRET_KEY" in refused.stderr
        assert str(Path(os.environ["XDG_CONFIG_HOME"]) / "sloth-runner" / "secret.key") in \
            refused.stderr
    assert event_count(db_path) == before


def test_reading_without_show_secrets_needs_no_key(proc: ProcRun, tmp_path: Path) -> None:
    env = {"SLOTH_RUNNER_SECRET_KEY": keygen(proc, tmp_path / "k")}
    ok(proc("stack", "create", "app"))
    ok(proc("stack", "state", "set", "app", "--secret", "pw=s", env=env))
    assert ok(proc("stack", "state", "get", "app", "pw")).strip() == "[secret]"
    assert "pw = [secret]" in ok(proc("stack", "show", "app"))
    refused = proc("stack", "state", "get", "app", "pw", "--show-secrets")
    assert refused.returncode == 2 and "no secret key" in refused.stderr


def test_a_wrong_key_is_a_clear_one_line_error(proc: ProcRun, tmp_path: Path) -> None:
    right = {"SLOTH_RUNNER_SECRET_KEY": keygen(proc, tmp_path / "right")}
    wrong = {"SLOTH_RUNNER_SECRET_KEY": keygen(proc, tmp_path / "wrong")}
    ok(proc("stack", "create", "app"))
    ok(proc("stack", "state", "set", "app", "--secret", "pw=s", env=right))
    for args in (["stack", "state", "get", "app", "pw", "--show-secrets"],
                 ["stack", "show", "app", "--show-secrets", "--json"]):
        refused = proc(*args, env=wrong)
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
        assert "neither the key in use" in refused.stderr and refused.stdout == ""


def test_a_key_file_open_to_the_group_is_refused(proc: ProcRun, tmp_path: Path,
                                                 db_path: Path) -> None:
    key = tmp_path / "group.key"
    keygen(proc, key)
    key.chmod(0o640)
    config = tmp_path / "config.yaml"
    config.write_text(f"stacks:\n  secret_key_file: {key}\n")
    ok(proc("stack", "create", "app"))
    before = event_count(db_path)
    refused = proc("--config", str(config), "stack", "state", "set", "app", "--secret", "pw=s")
    assert refused.returncode == 2
    assert "open to group or others (mode 0640)" in refused.stderr
    assert refused.stderr.count("\n") == 1
    assert event_count(db_path) == before
    key.chmod(0o600)
    ok(proc("--config", str(config), "stack", "state", "set", "app", "--secret", "pw=s"))


def test_setting_a_secret_to_what_it_holds_appends_nothing(proc: ProcRun, tmp_path: Path,
                                                           db_path: Path) -> None:
    env = {"SLOTH_RUNNER_SECRET_KEY": keygen(proc, tmp_path / "k")}
    ok(proc("stack", "create", "app"))
    ok(proc("stack", "state", "set", "app", "--secret", "pw=s", env=env))
    before = event_count(db_path)
    assert "No change" in ok(proc("stack", "state", "set", "app", "--secret", "pw=s", env=env))
    assert event_count(db_path) == before
    ok(proc("stack", "state", "set", "app", "--secret", "pw=t", env=env))
    assert event_count(db_path) == before + 1


def test_a_plain_value_may_not_use_the_reserved_marker(proc: ProcRun, db_path: Path) -> None:
    ok(proc("stack", "create", "app"))
    before = event_count(db_path)
    forged = '{"$secret": {"v": 1, "kid": "k", "n": "n", "c": "c"}}'
    refused = proc("stack", "state", "set", "app", f"x:={forged}")
    assert refused.returncode == 2 and "reserved" in refused.stderr
    assert event_count(db_path) == before


def test_rotation_seals_again_and_history_stays_readable_with_the_fallback_key(
        proc: ProcRun, tmp_path: Path, db_path: Path) -> None:
    old = keygen(proc, tmp_path / "old.key")
    keygen(proc, tmp_path / "new.key")
    env = {"SLOTH_RUNNER_SECRET_KEY": old}
    ok(proc("stack", "create", "app"))
    ok(proc("stack", "create", "other"))
    ok(proc("stack", "state", "set", "app", "--secret", "pw=first", env=env))
    ok(proc("stack", "output", "app", "--set-secret", "tok=t1", env=env))
    ok(proc("stack", "snapshot", "create", "app"))
    ok(proc("stack", "lock", "acquire", "app", "--locked-by", "someone-else"))

    rotated = orjson.loads(proc("secrets", "rotate", "--new-key-file",
                                str(tmp_path / "new.key"), "--json", env=env).stdout)
    assert rotated["secrets"] == 2
    assert rotated["stacks"] == {"app": {"values": ["pw"], "outputs": ["tok"]}}
    history = orjson.loads(proc("events", "list", "--stack", "app", "--json").stdout)
    summaries = [event["message"] for event in history["events"] if event["type"] ==
                 "secrets.rotated"]
    assert len(summaries) == 1 and "1 state value and 1 output" in summaries[0]

    new = {"SLOTH_RUNNER_SECRET_KEY": (tmp_path / "new.key").read_text().strip()}
    assert ok(proc("stack", "state", "get", "app", "pw", "--show-secrets", env=new)).strip() == \
        "first"
    # The old version's envelopes are under the old key: without it, a clear refusal.
    refused = proc("stack", "snapshot", "show", "app", "v1", "--show-secrets", env=new)
    assert refused.returncode == 2 and "fallback" in refused.stderr
    with_fallback = {**new, "SLOTH_RUNNER_SECRET_FALLBACK_KEY": old}
    shown = orjson.loads(proc("stack", "snapshot", "show", "app", "v1", "--show-secrets",
                              "--json", env=with_fallback).stdout)
    assert shown["state"]["values"]["pw"] == "first" and shown["state"]["outputs"]["tok"] == "t1"
    # A second rotation to the same key has nothing left to do.
    before = event_count(db_path)
    again = orjson.loads(proc("secrets", "rotate", "--new-key-file", str(tmp_path / "new.key"),
                              "--json", env=with_fallback).stdout)
    assert again["secrets"] == 0 and event_count(db_path) == before
    status = orjson.loads(proc("secrets", "status", "--json", env=new).stdout)
    assert [key["secrets"] for key in status["keys"]] == [2]


@pytest.mark.sqlite_only(reason="reads the stored event rows of the SQLite file")
def test_encrypt_events_encrypts_every_stored_event_body(proc: ProcRun, tmp_path: Path,
                                                         db_path: Path) -> None:
    key = tmp_path / "events.key"
    keygen(proc, key)
    config = tmp_path / "config.yaml"
    config.write_text(f"stacks:\n  encrypt_events: true\n  events_key_file: {key}\n")
    ok(proc("--config", str(config), "stack", "create", "app"))
    ok(proc("--config", str(config), "stack", "state", "set", "app", "marker=plain-Marker-xyzzy"))
    with sqlite3.connect(db_path) as connection:
        bodies = [row[0] for row in connection.execute("SELECT state FROM stored_events")]
    assert len(bodies) == 2
    assert all(b"plain-Marker-xyzzy" not in body and not body.startswith(b"{")
               for body in bodies)
    exported = proc("--config", str(config), "events", "export")
    assert "plain-Marker-xyzzy" in ok(exported)
    assert ok(proc("--config", str(config), "stack", "show", "app", "--at-event", "2"))
    # Without the setting (or with another key), the log is refused, not misread.
    refused = proc("stack", "state", "set", "app", "x=1")
    assert refused.returncode == 2 and "encrypted" in refused.stderr
    keygen(proc, tmp_path / "other.key")
    config.write_text(f"stacks:\n  encrypt_events: true\n  events_key_file: {tmp_path}/other.key\n")
    refused = proc("--config", str(config), "stack", "state", "set", "app", "x=1")
    assert refused.returncode == 2 and "another key" in refused.stderr
    assert event_count(db_path) == 2


def test_encrypt_events_is_refused_on_a_database_of_plain_events(
        proc: ProcRun, tmp_path: Path, db_path: Path) -> None:
    ok(proc("stack", "create", "app"))
    key = tmp_path / "events.key"
    keygen(proc, key)
    config = tmp_path / "config.yaml"
    config.write_text(f"stacks:\n  encrypt_events: true\n  events_key_file: {key}\n")
    refused = proc("--config", str(config), "stack", "state", "set", "app", "x=1")
    assert refused.returncode == 2 and "plain text" in refused.stderr
    assert event_count(db_path) == 1


@pytest.mark.parametrize("setting", ["secret_key_file: ''", "secret_fallback_key_file: [1]",
                                     "encrypt_events: sometimes"])
def test_bad_secret_settings_are_named(proc: ProcRun, tmp_path: Path, setting: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"stacks:\n  {setting}\n")
    refused = proc("--config", str(config), "stack", "list")
    assert refused.returncode == 2 and setting.split(":", maxsplit=1)[0] in refused.stderr


def test_an_export_with_secrets_verifies_offline_and_a_changed_ciphertext_does_not(
        proc: ProcRun, tmp_path: Path) -> None:
    env = {"SLOTH_RUNNER_SECRET_KEY": keygen(proc, tmp_path / "k")}
    ok(proc("stack", "create", "app"))
    ok(proc("stack", "state", "set", "app", "plain=1", "--secret", f"pw={PLAIN['pw']}", env=env))
    exported = ok(proc("events", "export"))
    assert_no_plaintext(exported, "events export")
    export = tmp_path / "export.jsonl"
    export.write_text(exported.strip() + "\n")
    assert "intact" in ok(proc("events", "verify", "--file", str(export)))
    lines = export.read_text().splitlines()
    sealed = orjson.loads(lines[-1])
    assert sealed["data"]["value"] == "[secret]" and '"$secret"' in sealed["state"]
    ciphertext = orjson.loads(sealed["state"])["value"]["$secret"]["c"]
    forged = ciphertext[:-4] + ("AAAA" if not ciphertext.endswith("AAAA") else "BBBB")
    sealed["state"] = sealed["state"].replace(ciphertext, forged)
    export.write_text("\n".join([*lines[:-1], orjson.dumps(sealed).decode()]) + "\n")
    broken = proc("events", "verify", "--file", str(export))
    assert broken.returncode == 1 and f"position {sealed['position']}" in broken.stderr
