"""The built-in resource types against real files, directories and processes in tmp_path."""

from __future__ import annotations

import os
import stat
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from domain.errors import InvalidInput
from domain.resources import Resource
from infrastructure.providers import ApplyFailed, ProbeFailed, ProviderRegistry, ResourceType
from infrastructure.providers.files import SHORT_CONTENT

providers = ProviderRegistry()


def resource(type_: str, name: str = "r", **attributes: Any) -> Resource:
    return providers.normalize(Resource(name=name, type=type_, attributes=attributes))


def mode_of(path: Path) -> str:
    return f"{stat.S_IMODE(path.stat().st_mode):04o}"


def test_normalizing_spells_out_defaults_and_is_stable() -> None:
    motd = resource("file", path="/srv/motd", mode="644")
    assert motd.attributes == {"path": "/srv/motd", "content": None, "source": None,
                               "mode": "0644", "ensure": "present"}
    assert providers.normalize(motd) == motd
    probe = resource("command", check=["true"], timeout="1m")
    assert probe.attributes["timeout"] == 60.0
    assert probe.attributes["cwd"] == "/"
    assert providers.normalize(probe) == probe


def test_a_file_is_observed_and_repaired(tmp_path: Path) -> None:
    path = tmp_path / "app" / "motd"
    motd = resource("file", path=str(path), content="hello\n", mode="0640")
    assert providers.expected(motd) == {"ensure": "present", "kind": "file",
                                        "content": "hello\n", "mode": "0640"}
    assert providers.read(motd) == {"ensure": "absent"}
    providers.apply(motd)  # creates the missing parent too
    assert path.read_text() == "hello\n"
    assert mode_of(path) == "0640"
    assert providers.read(motd) == providers.expected(motd) | {"mode": "0640"}
    path.write_text("tampered\n")
    path.chmod(0o600)
    assert providers.read(motd)["content"] == "tampered\n"
    providers.apply(motd)
    assert (path.read_text(), mode_of(path)) == ("hello\n", "0640")
    assert not [p for p in path.parent.iterdir() if p.name != "motd"]  # no temporary left


def test_a_mode_only_drift_is_fixed_without_rewriting_the_file(tmp_path: Path) -> None:
    path = tmp_path / "conf"
    conf = resource("file", path=str(path), content="same", mode="0640")
    providers.apply(conf)
    path.chmod(0o666)
    inode = path.stat().st_ino
    providers.apply(conf)
    assert (mode_of(path), path.stat().st_ino) == ("0640", inode)


def test_replacing_content_keeps_an_unmanaged_mode(tmp_path: Path) -> None:
    path = tmp_path / "conf"
    path.write_text("old")
    path.chmod(0o604)
    providers.apply(resource("file", path=str(path), content="new"))
    assert (path.read_text(), mode_of(path)) == ("new", "0604")


def test_long_or_binary_content_is_compared_by_digest(tmp_path: Path) -> None:
    path = tmp_path / "big"
    text = "x" * (SHORT_CONTENT + 1)
    big = resource("file", path=str(path), content=text)
    expected = providers.expected(big)["content"]
    assert set(expected) == {"sha256", "size"}
    path.write_text(text)
    assert providers.read(big)["content"] == expected
    path.write_bytes(b"\xff\xfe")
    observed = providers.read(resource("file", path=str(path), content="x"))["content"]
    assert observed["size"] == 2


def test_content_can_come_from_a_source_file(tmp_path: Path) -> None:
    source, path = tmp_path / "template", tmp_path / "copy"
    source.write_text("from source\n")
    copy = resource("file", path=str(path), source=str(source))
    providers.apply(copy)
    assert path.read_text() == "from source\n"
    source.write_text("changed\n")  # the source is read each time, so the copy drifts
    assert providers.read(copy)["content"] != providers.expected(copy)["content"]
    missing = resource("file", path=str(path), source=str(tmp_path / "gone"))
    with pytest.raises(ProbeFailed, match="cannot read source"):
        providers.expected(missing)


def test_an_absent_file_is_removed_but_a_directory_is_not(tmp_path: Path) -> None:
    path = tmp_path / "old"
    path.write_text("x")
    gone = resource("file", path=str(path), ensure="absent")
    assert providers.read(gone)["ensure"] == "present"
    providers.apply(gone)
    assert not path.exists()
    providers.apply(gone)  # already absent: nothing to do
    path.mkdir()
    with pytest.raises(ApplyFailed, match="is a directory, not a file"):
        providers.apply(gone)
    with pytest.raises(ApplyFailed, match="not replacing it"):
        providers.apply(resource("file", path=str(path), content="x"))
    assert path.is_dir()


def test_a_file_behind_a_symlink_is_written_through_it(tmp_path: Path) -> None:
    target, link = tmp_path / "target", tmp_path / "link"
    target.write_text("old")
    link.symlink_to(target)
    providers.apply(resource("file", path=str(link), content="new"))
    assert link.is_symlink()
    assert target.read_text() == "new"


def test_a_path_that_cannot_be_read_is_a_probe_failure(tmp_path: Path) -> None:
    regular = tmp_path / "regular"
    regular.write_text("")
    under = resource("file", path=str(regular / "motd"), content="x")
    with pytest.raises(ProbeFailed, match=r"cannot read .*/regular/motd: Not a directory"):
        providers.read(under)
    with pytest.raises(ApplyFailed):
        providers.apply(under)


def test_a_directory_is_created_chmodded_and_removed_only_when_empty(tmp_path: Path) -> None:
    path = tmp_path / "a" / "data"
    data = resource("directory", path=str(path), mode="0750")
    assert providers.read(data) == {"ensure": "absent"}
    providers.apply(data)
    assert (path.is_dir(), mode_of(path)) == (True, "0750")
    assert providers.read(data) == {"ensure": "present", "kind": "directory", "mode": "0750"}
    (path / "keep").write_text("x")
    gone = resource("directory", path=str(path), ensure="absent")
    with pytest.raises(ApplyFailed, match="is not empty"):
        providers.apply(gone)
    (path / "keep").unlink()
    providers.apply(gone)
    assert not path.exists()


def test_a_command_check_defines_the_state_and_fix_repairs_it(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    probe = resource("command", check=["test", "-f", str(marker)], fix=["touch", str(marker)])
    assert providers.read(probe)["exit_code"] == 1
    providers.apply(probe)
    assert marker.exists()
    assert providers.read(probe)["exit_code"] == 0


def test_stdout_expectation_shell_and_working_directory(tmp_path: Path) -> None:
    (tmp_path / "version").write_text("2.0\n")
    probe = resource("command", check="cat version", shell=True, cwd=str(tmp_path),
                     expect={"stdout": "2.0\n", "exit_code": None})
    assert providers.expected(probe) == {"stdout": "2.0"}
    assert providers.read(probe) == {"exit_code": 0, "stdout": "2.0"}
    # Without a shell, the argument list is passed as it is: no expansion of $HOME or *.
    literal = resource("command", check=["echo", "$HOME", "*"], cwd=str(tmp_path))
    assert providers.read(literal)["stdout"] == "$HOME *"


def test_a_check_that_hangs_or_cannot_start_is_a_probe_failure(tmp_path: Path) -> None:
    hangs = resource("command", check=["sleep", "30"], timeout="200ms")
    with pytest.raises(ProbeFailed, match="check timed out after 200ms"):
        providers.read(hangs)
    missing = resource("command", check=["no-such-program-here"])
    with pytest.raises(ProbeFailed, match="cannot run check 'no-such-program-here'"):
        providers.read(missing)
    nowhere = resource("command", check=["true"], cwd=str(tmp_path / "nowhere"))
    with pytest.raises(ProbeFailed, match="nowhere"):
        providers.read(nowhere)


def test_a_failing_fix_says_why() -> None:
    failing = resource("command", check=["false"], fix=["sh", "-c", "echo broken >&2; exit 3"])
    with pytest.raises(ApplyFailed, match="fix exited with 3: broken"):
        providers.apply(failing)
    with pytest.raises(ApplyFailed, match="no fix command"):
        providers.apply(resource("command", check=["false"]))


def test_adopting_takes_what_was_observed(tmp_path: Path) -> None:
    path = tmp_path / "motd"
    path.write_text("local edit\n")
    path.chmod(0o600)
    motd = resource("file", path=str(path), content="hello\n", mode="0644")
    adopted = providers.adopt(motd, providers.read(motd))
    assert adopted == {"path": str(path), "ensure": "present", "content": "local edit\n",
                       "mode": "0600"}
    path.unlink()
    assert providers.adopt(motd, providers.read(motd)) == {"path": str(path), "ensure": "absent"}
    data = resource("directory", path=str(tmp_path), mode="0755")
    tmp_path.chmod(0o750)
    assert providers.adopt(data, providers.read(data)) == {
        "path": str(tmp_path), "ensure": "present", "mode": "0750"}
    with pytest.raises(ApplyFailed, match="not a file"):
        providers.adopt(resource("file", path=str(tmp_path)), providers.read(data))
    probe = resource("command", check=["sh", "-c", "echo v3; exit 2"],
                     expect={"stdout": "v2"})
    new = providers.adopt(probe, providers.read(probe))
    assert new["expect"] == {"exit_code": 2, "stdout": "v3"}


@pytest.mark.parametrize(("type_", "attributes", "fragment"), [
    ("file", {}, "missing attribute 'path'"),
    ("file", {"path": "/x", "colour": "red"}, "unknown attribute 'colour'"),
    ("file", {"path": "/x", "mode": 420}, "quoted octal string"),
    ("file", {"path": "/x", "mode": "0999"}, "invalid mode '0999'"),
    ("file", {"path": "/x", "content": "a", "source": "/y"}, "content or source, not both"),
    ("file", {"path": "/x", "ensure": "absent", "content": "a"}, "ensure: absent"),
    ("file", {"path": "~/x"}, "not an absolute path"),
    ("file", {"path": "/x", "ensure": "gone"}, "ensure"),
    ("directory", {"path": "/x", "content": "a"}, "unknown attribute 'content'"),
    ("command", {"check": []}, "expected a list of arguments"),
    ("command", {"check": "test -f /x"}, "set shell: true"),
    ("command", {"check": ["true"], "shell": True}, "must be one string"),
    ("command", {"check": ["true"], "timeout": 0}, "timeout"),
    ("command", {"check": ["true"], "expect": {"exit_code": None}}, "expect needs"),
    ("nope", {}, "unknown type 'nope'"),
])
def test_bad_attributes_are_refused_naming_the_resource(
        type_: str, attributes: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment) as refused:
        providers.normalize(Resource(name="r", type=type_, attributes=attributes))
    assert str(refused.value).startswith("resource 'r'")
    assert refused.value.details["resource"] == "r"


class Greeting(ResourceType[Any]):
    """A third-party type: a file holding a greeting."""

    class Spec(BaseModel):
        model_config = ConfigDict(extra="forbid")
        path: str
        greeting: str = "hello"

    spec = Spec

    def expected(self, spec: Any) -> dict[str, Any]:
        return {"greeting": spec.greeting}

    def read(self, spec: Any) -> dict[str, Any]:
        return {"greeting": Path(spec.path).read_text() if os.path.exists(spec.path) else None}

    def apply(self, spec: Any) -> None:
        Path(spec.path).write_text(spec.greeting)

    def adopt(self, spec: Any, observed: Any) -> dict[str, Any]:
        return {"path": spec.path, "greeting": observed["greeting"]}


def test_third_party_types_come_from_the_entry_point_group(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    group = "sloth_runner.resource_types"
    found = [EntryPoint("greeting", f"{__name__}:Greeting", group),
             EntryPoint("broken", "no_such_module_anywhere:Thing", group),
             EntryPoint("file", f"{__name__}:Greeting", group)]

    def entry_points(*, group: str, name: str) -> list[EntryPoint]:
        return [ep for ep in found if ep.group == group and ep.name == name]

    monkeypatch.setattr("importlib.metadata.entry_points", entry_points)
    registry = ProviderRegistry()
    greeting = registry.normalize(Resource(name="g", type="greeting",
                                           attributes={"path": str(tmp_path / "g")}))
    assert greeting.attributes == {"path": str(tmp_path / "g"), "greeting": "hello"}
    registry.apply(greeting)
    assert registry.read(greeting) == registry.expected(greeting)
    with pytest.raises(InvalidInput, match=r"type 'broken' .* cannot be loaded"):
        registry.normalize(Resource(name="b", type="broken"))
    # A plug-in cannot take over a built-in type.
    assert "content" in registry.normalize(Resource(name="f", type="file",
                                                    attributes={"path": "/x"})).attributes


@pytest.mark.parametrize(("size", "hint"), [
    (0, 0), (10, 10), (10, 4), (10, 50), (SHORT_CONTENT + 5, 3),
    ((1 << 20) - 1, (1 << 20) - 1), ((1 << 20) + 7, 1 << 20), (3 * (1 << 20) + 1, 100)])
def test_a_file_is_read_whole_whatever_stat_said_of_its_size(
        tmp_path: Path, size: int, hint: int) -> None:
    """Between stat and read a file may grow or shrink: its value is what it holds."""
    import hashlib

    from infrastructure.providers.files import content_value, file_content_value

    data = bytes((i * 7) % 251 for i in range(size))
    path = tmp_path / "f"
    path.write_bytes(data)
    expected = content_value(data)
    assert file_content_value(str(path), hint) == expected
    if isinstance(expected, dict):
        assert expected == {"sha256": hashlib.sha256(data).hexdigest(), "size": size}
    # Holding exactly the declared content, it is recognised without hashing it again.
    assert file_content_value(str(path), hint, (data, "declared value")) == (
        "declared value" if size <= hint < 1 << 20 else expected)
