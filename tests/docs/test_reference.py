"""The documentation agrees with the code: events, error messages, links, diagrams, words."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import domain
from domain.events import DomainEvent
from tests.docs.consoles import BLOCK, steps

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "en"
DOCUMENTS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
PRODUCT = ("domain", "commands", "projections", "infrastructure", "cli", "server")
INTERNAL_FIELDS = {"originator_topic"}  # the aggregate's topic, kept by the event store


def _event_classes() -> dict[str, type[DomainEvent]]:
    for module in pkgutil.iter_modules(domain.__path__):
        importlib.import_module(f"domain.{module.name}")
    found: dict[str, type[DomainEvent]] = {}
    pending = list(DomainEvent.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if "TOPIC" in vars(cls) and cls.__module__.startswith("domain."):  # not tests' own
            found[cls.TOPIC] = cls
    return found


def _catalogue() -> dict[str, list[str]]:
    """The event catalogue of architecture.md: each topic with the fields it lists."""
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    section = text[text.index("## Event catalogue"):]
    section = section[:section.index("\n## ", 1)]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.fullmatch(r"`[a-z_.]+`", cells[0]):
            rows[cells[0].strip("`")] = re.findall(r"`([a-z_0-9]+)`", cells[1])
    return rows


def test_the_event_catalogue_lists_every_event_type_with_exactly_its_fields() -> None:
    classes, documented = _event_classes(), _catalogue()
    assert len(classes) >= 40
    assert sorted(set(classes) - set(documented)) == [], "event types missing from the catalogue"
    assert sorted(set(documented) - set(classes)) == [], "documented event types that do not exist"
    common = set(DomainEvent.model_fields)
    for topic, cls in classes.items():
        fields = [name for name in cls.model_fields if name not in common | INTERNAL_FIELDS]
        assert documented[topic] == fields, topic


def _product_strings() -> list[str]:
    """Every string literal of the product's code, f-string placeholders as NUL."""
    strings: list[str] = []
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            constants = {target.id: node.value.value for node in tree.body
                         if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                         and isinstance(node.value.value, str)
                         for target in node.targets if isinstance(target, ast.Name)}
            for node in ast.walk(tree):
                if isinstance(node, ast.JoinedStr):
                    strings.append("".join(_part(part, constants) for part in node.values))
                elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                    strings.append(node.value)
    return strings


def _part(part: ast.expr, constants: dict[str, str]) -> str:
    """A piece of an f-string: its text, a module constant's text, or NUL for a value."""
    if isinstance(part, ast.Constant):
        return str(part.value)
    value = part.value if isinstance(part, ast.FormattedValue) else part
    if isinstance(value, ast.Name) and value.id in constants:
        return constants[value.id]
    return "\0"


def _documented_messages() -> list[str]:
    text = (DOCS / "stack-state-troubleshooting.md").read_text(encoding="utf-8")
    section = text[text.index("## Error messages"):]
    messages = []
    for line in section.splitlines():
        if line.startswith("| `"):
            cell = line[2:line.index("` | ") + 1]
            messages.append(cell.strip("`").replace("\\|", "|"))
    return messages


def test_each_documented_error_message_is_one_the_code_can_print() -> None:
    messages = _documented_messages()
    assert len(messages) >= 50
    strings = _product_strings()
    missing = []
    for message in messages:
        # Each part between placeholders must appear, in order, in one string of the code.
        parts = [part for part in message.split("…") if part.strip()]
        if not any(_in_order(parts, text) for text in strings):
            missing.append(message)
    assert missing == []


def _in_order(parts: list[str], text: str) -> bool:
    position = 0
    for part in parts:
        found = text.find(part, position)
        if found < 0:
            return False
        position = found + len(part)
    return True


def test_a_message_the_code_no_longer_has_would_be_caught() -> None:
    strings = _product_strings()
    assert not any(_in_order(["stack '", "' has vanished into thin air"], text)
                   for text in strings)
    assert any(_in_order(["stack '", "' not found"], text) for text in strings)


PLANNING_WORDS = re.compile(r"\b(seed|seeds|seed's|issue|issues|issue's)\b|(?<![\w/])#\d{1,4}(?![\w-])",
                            re.IGNORECASE)


def test_the_documentation_speaks_about_the_product_only() -> None:
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for path in DOCUMENTS
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if PLANNING_WORDS.search(line)]
    assert found == []


LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")


def _links(path: Path) -> list[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    text = re.sub(r"`[^`\n]*`", "", text)
    return [a or b for a, b in LINK.findall(text)]


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    anchors: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+)$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
        slug = slug.replace(" ", "-")
        candidate, n = slug, 1
        while candidate in anchors:
            candidate, n = f"{slug}-{n}", n + 1
        anchors.add(candidate)
    return anchors


def test_every_relative_link_in_the_documentation_resolves() -> None:
    broken = []
    for path in DOCUMENTS:
        for link in _links(path):
            if re.match(r"[a-z]+:", link):
                continue
            target, _, anchor = link.partition("#")
            resolved = (path.parent / target).resolve() if target else path
            if not resolved.exists():
                broken.append(f"{path.relative_to(ROOT)}: {link}")
            elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
                broken.append(f"{path.relative_to(ROOT)}: {link} (no such heading)")
    assert broken == []


def test_every_document_is_linked_from_a_readme() -> None:
    linked = {(readme.parent / link.partition("#")[0]).resolve()
              for readme in (ROOT / "README.md", DOCS / "README.md")
              for link in _links(readme) if not re.match(r"[a-z]+:", link)}
    unlinked = [path.name for path in sorted(DOCS.glob("*.md"))
                if path.name != "README.md" and path.resolve() not in linked]
    assert unlinked == []


def test_the_dependency_diagram_is_what_deps_graph_prints() -> None:
    text = (DOCS / "core-concepts.md").read_text(encoding="utf-8")
    command = "sloth-runner stack deps graph --all --format mermaid"
    printed = None
    for match in BLOCK.finditer(text):
        for step in steps(match.group(1)):
            if step.command == command:
                printed = "\n".join(step.expected)
                after = text[match.end():]
    assert printed is not None and printed.startswith("flowchart")
    diagram = re.search(r"```mermaid\n(.*?)```", after, re.S)
    assert diagram is not None
    assert diagram.group(1).rstrip("\n") == printed
