"""Every example in docs/ and examples/ runs or loads: workflows, YAML, JSON, Python."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from infrastructure.config_model import ConfigFile
from infrastructure.providers import ProviderRegistry
from infrastructure.resource_file import load_resource_file
from infrastructure.settings import load_settings_file
from tests.docs.consoles import environment, mask

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
WORKFLOWS = sorted((ROOT / "examples").rglob("*.sloth"))
FENCE = re.compile(r"^```(yaml|json|python)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)


def _blocks(language: str) -> list[tuple[str, str]]:
    return [(f"{path.relative_to(ROOT)}:{path.read_text(encoding='utf-8').count(chr(10), 0, m.start()) + 1}",
             m.group(2))
            for path in DOCUMENTS for m in FENCE.finditer(path.read_text(encoding="utf-8"))
            if m.group(1) == language]


YAML_BLOCKS = _blocks("yaml")
JSON_BLOCKS = _blocks("json")


def test_the_four_workflow_examples_exist() -> None:
    assert [path.name for path in sorted((ROOT / "examples" / "stack-state").glob("*.sloth"))] == [
        "basic-locking.sloth", "dependency-management.sloth", "drift-detection.sloth",
        "snapshot-restore.sloth"]


def _sloth(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = environment(tmp_path, str(Path(sys.executable).parent))
    return subprocess.run(["sloth-runner", *args], cwd=tmp_path, env=env, text=True,
                          capture_output=True, check=False, timeout=120)


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[path.name for path in WORKFLOWS])
def test_each_workflow_example_plans_with_a_dry_run(workflow: Path, tmp_path: Path) -> None:
    assert _sloth(tmp_path, "stack", "create", "production-stack").returncode == 0
    planned = _sloth(tmp_path, "--json", "run", "--file", str(workflow), "--stack",
                     "production-stack", "--set", f"workdir={tmp_path / 'work'}", "--dry-run")
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert plan["levels"] and all(task for level in plan["levels"] for task in level)
    assert not (tmp_path / "work").exists()  # a dry run touches nothing


def test_the_resources_example_file_loads() -> None:
    resources = load_resource_file(ROOT / "examples" / "resources.yaml", ProviderRegistry())
    assert len(resources) >= 6


@pytest.mark.parametrize(("where", "text"), YAML_BLOCKS, ids=[where for where, _ in YAML_BLOCKS])
def test_each_yaml_example_is_read_by_what_reads_it(where: str, text: str, tmp_path: Path) -> None:
    document = yaml.safe_load(text)
    assert isinstance(document, dict), where
    path = tmp_path / "example.yaml"
    path.write_text(text, encoding="utf-8")
    if "resources" in document:
        registry = ProviderRegistry()
        if all(item["type"] in registry.type_names() for item in document["resources"]):
            assert load_resource_file(path, registry)
        else:  # a plug-in type the page shows how to write: the entries' shape at least
            assert all({"name", "type"} <= set(item) for item in document["resources"])
    else:
        assert set(document) <= set(ConfigFile.model_fields), where
        load_settings_file(path)


def _export_keys(tmp_path: Path) -> set[str]:
    assert _sloth(tmp_path, "stack", "create", "app").returncode == 0
    exported = _sloth(tmp_path, "events", "export")
    return set(json.loads(exported.stdout.splitlines()[0]))


@pytest.mark.parametrize(("where", "text"), JSON_BLOCKS, ids=[where for where, _ in JSON_BLOCKS])
def test_each_json_example_parses_and_has_the_real_shape(where: str, text: str,
                                                         tmp_path: Path) -> None:
    document: dict[str, Any] = json.loads(text)
    if "delivery_id" in document:  # a hook's document: an exported event, the hook, the id
        chain_link = {"hash", "previous_position"}  # the export's, not a hook's
        assert set(document) == (_export_keys(tmp_path) - chain_link) | {"hook", "delivery_id"}, where
        assert document["delivery_id"] == f"{document['hook']}:{document['position']}"
    elif "error" in document:  # a --json error
        env = environment(tmp_path, str(Path(sys.executable).parent))
        subprocess.run(["sloth-runner", "stack", "create", "app"], cwd=tmp_path, env=env,
                       check=True, capture_output=True)
        subprocess.run(["sloth-runner", "stack", "lock", "acquire", "app"], cwd=tmp_path,
                       env={**env, "SLOTH_RUNNER_ACTOR": "deploy-bot"}, check=True,
                       capture_output=True)
        refused = _sloth(tmp_path, "--json", "stack", "lock", "acquire", "app")
        real = json.loads(refused.stderr)["error"]
        assert refused.returncode == document["error"]["exit_code"] == 3
        assert set(document["error"]) == set(real), where
        assert set(document["error"]["lock"]) == set(real["lock"]), where
    elif "$secret" in document:  # a secret's envelope, as stored and exported
        key = tmp_path / ".home" / "config" / "sloth-runner" / "secret.key"  # the default
        key.parent.mkdir(parents=True)
        made = _sloth(tmp_path, "secrets", "keygen", str(key))
        assert made.returncode == 0, made.stderr
        assert _sloth(tmp_path, "stack", "create", "app").returncode == 0
        written = _sloth(tmp_path, "stack", "state", "set", "app", "--secret", "password=hunter2")
        assert written.returncode == 0, written.stderr
        with sqlite3.connect(tmp_path / "stacks.db") as connection:  # as the audit log holds it
            ((data,),) = connection.execute(
                "SELECT data FROM state_events WHERE event_type = 'state.set'").fetchall()
        real = json.loads(data)["value"]
        assert set(document) == set(real) == {"$secret"}, where
        assert set(document["$secret"]) == set(real["$secret"]), where
        assert "hunter2" not in data
    else:
        pytest.fail(f"{where}: a JSON example of an unknown kind")


def test_the_python_api_example_prints_what_the_page_shows(tmp_path: Path) -> None:
    page = (ROOT / "docs" / "en" / "python-api.md").read_text(encoding="utf-8")
    program = re.search(r"```python\n(.*?)```", page, re.S)
    shown = re.search(r"It prints:\n\n```text\n(.*?)```", page, re.S)
    assert program is not None and shown is not None
    (tmp_path / "example.py").write_text(program.group(1), encoding="utf-8")
    ran = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, text=True,
                         capture_output=True, check=False, timeout=120,
                         env={**environment(tmp_path, str(Path(sys.executable).parent)),
                              "PYTHONPATH": str(ROOT)})
    assert ran.returncode == 0, ran.stderr
    assert mask(ran.stdout) == mask(shown.group(1))
