"""What users type reaches the store as typed, and comes back printable: values from files,
names shown as typed, control and bidi characters escaped, short success lines."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from cli.output import key_list, printable
from tests.conftest import SCRIPT, CliRun, Database, database_env, event_count


def test_values_from_files(cli: CliRun, tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("-----BEGIN-----\nabc\n")
    tags = tmp_path / "tags.json"
    tags.write_text('{"tags": ["a", "b"], "n": 3}')
    cli("stack", "create", "app")
    result = cli("stack", "state", "set", "app", f"cert=@{cert}", f"meta:=@{tags}",
                 "at=\\@home", 'quoted:="@x"', "plain=a@b")
    assert result.exit_code == 0, result.stderr
    values = json.loads(cli("stack", "state", "list", "app", "--json").stdout)
    assert values == {"cert": "-----BEGIN-----\nabc\n", "meta": {"tags": ["a", "b"], "n": 3},
                      "at": "@home", "quoted": "@x", "plain": "a@b"}
    output = cli("stack", "output", "app", "--set", f"cert=@{cert}", "--json")
    assert output.exit_code == 0, output.stderr


@pytest.mark.parametrize(("name", "content", "fragment"), [
    ("missing", None, "No such file or directory"),
    ("binary", b"\xff\xfe\x00", "not UTF-8 text"),
])
def test_an_unreadable_value_file_is_named(cli: CliRun, db_path: Database, tmp_path: Path,
                                           name: str, content: bytes | None,
                                           fragment: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    cli("stack", "create", "app")
    before = event_count(db_path)
    for args in (["stack", "state", "set", "app", "a=1", f"k=@{path}"],
                 ["stack", "output", "app", "--set", f"k:=@{path}"]):
        result = cli(*args)
        assert result.exit_code == 2
        assert result.stderr == f"error: cannot read '{path}' for 'k': {fragment}\n"
    assert event_count(db_path) == before


def test_a_huge_integer_is_refused_with_a_hint_to_quote_it(cli: CliRun, db_path: Database) -> None:
    cli("stack", "create", "app")
    before = event_count(db_path)
    result = cli("stack", "state", "set", "app", "big:=99999999999999999999")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: invalid value for 'big': the integer 99999999999999999999 does not fit in a "
        "signed 64-bit integer; quote it to store it as a string (\"99999999999999999999\")"]
    assert event_count(db_path) == before
    assert cli("stack", "state", "set", "app", 'big:="99999999999999999999"').exit_code == 0


def test_a_long_success_line_lists_a_few_keys_and_a_count(cli: CliRun) -> None:
    cli("stack", "create", "app")
    many = cli("stack", "state", "set", "app", *(f"key-{n:03d}={n}" for n in range(250)))
    assert many.stdout.splitlines() == [
        "✓ Set 250 keys (key-000, key-001, key-002, … and 247 more) on stack 'app'"]
    few = cli("stack", "state", "set", "app", "a=1", "b=2", "c=3")
    assert few.stdout.splitlines() == ["✓ Set a, b, c on stack 'app'"]
    unset = cli("stack", "state", "unset", "app", *(f"key-{n:03d}" for n in range(10)))
    assert "Deleted 10 keys (key-000, key-001, key-002, … and 7 more)" in unset.stdout


def test_names_are_shown_as_typed(cli: CliRun) -> None:
    result = cli("stack", "create", "café")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: invalid stack name 'café':")


def test_control_and_bidi_characters_are_escaped_everywhere(cli: CliRun) -> None:
    evil = "deploy\u202eyppah\t\nStatus: completed"
    shown = "deploy\\u202eyppah\\t\\nStatus: completed"
    refused = cli("stack", "show", "app\u202e")
    assert refused.stderr == ("error: invalid stack name 'app\\u202e': use letters, digits, "
                              "'-', '_' and '.', starting with a letter or digit\n")
    assert cli("stack", "create", "app", "--description", evil).exit_code == 0
    show = cli("stack", "show", "app").stdout
    assert f"  Description:   {shown}" in show.splitlines()
    cli("stack", "lock", "acquire", "app", "--locked-by", "bot\u202eevil", "--reason", "r\u2066x")
    listing = cli("stack", "lock", "list").stdout
    assert "bot\\u202eevil" in listing
    status = cli("stack", "lock", "status", "app").stdout
    assert "bot\\u202eevil" in status and "r\\u2066x" in status
    refused = cli("stack", "state", "set", "app", "a=1", env={"SLOTH_RUNNER_ACTOR": "x@y"})
    assert refused.exit_code == 3
    assert "bot\\u202eevil" in refused.stderr and "\u202e" not in refused.stderr
    as_json = json.loads(cli("stack", "show", "app", "--json").stdout)
    assert as_json["description"] == evil  # JSON keeps the value exactly


def test_values_print_raw_for_scripts(cli: CliRun) -> None:
    cli("stack", "create", "app")
    cli("stack", "state", "set", "app", "multi=a\nb")
    assert cli("stack", "state", "get", "app", "multi").stdout == "a\nb\n"
    listed = cli("stack", "state", "list", "app").stdout
    assert 'multi  "a\\nb"' in listed


def test_arguments_that_are_not_utf8_are_refused(db_path: Database) -> None:
    environment = {**os.environ, **database_env(db_path)}
    result = subprocess.run([SCRIPT, "stack", "create", "app", "--description", b"caf\xe9"],
                            capture_output=True, text=True, env=environment, timeout=60,
                            check=False)
    assert result.returncode == 2
    assert result.stderr == "error: argument 'caf\\xe9' is not valid UTF-8 text\n"
    assert event_count(db_path) == 0


@pytest.mark.parametrize(("actor", "fragment"), [
    ("bot\x07", "must not contain control characters"),
    ("x" * 2000, "is longer than 1024 characters"),
])
def test_an_unrecordable_actor_is_refused(cli: CliRun, db_path: Database, actor: str,
                                          fragment: str) -> None:
    result = cli("stack", "create", "app", env={"SLOTH_RUNNER_ACTOR": actor})
    assert result.exit_code == 2
    assert result.stderr == f"error: SLOTH_RUNNER_ACTOR {fragment}\n"
    assert event_count(db_path) == 0


def test_printable_escapes_only_what_cannot_print() -> None:
    assert printable("café ünïcode 日本 👩‍💻") == "café ünïcode 日本 👩\\u200d💻"
    assert printable("a\tb\nc\rd\x00e\x7f\u0085") == "a\\tb\\nc\\rd\\x00e\\x7f\\x85"
    assert printable("\u202e\u2066\u200f\ufeff\u2028") == "\\u202e\\u2066\\u200f\\ufeff\\u2028"
    assert printable("\udcff\U000e0041") == "\\udcff\\U000e0041"


def test_key_list() -> None:
    assert key_list([]) == ""
    assert key_list(["a", "b", "c"]) == "a, b, c"
    assert key_list(["a", "b", "c", "d"]) == "4 keys (a, b, c, … and 1 more)"
