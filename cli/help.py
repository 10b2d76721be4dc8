"""How `--help` reads: an example under every command, and flags shown without a type.

The examples live here, in one table keyed by the command's path, so that a test can check
that every command has one and that the CLI reference and the app agree.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand, TyperGroup

EXAMPLES: dict[str, str] = {
    "": "sloth-runner stack list",
    "stack": "sloth-runner stack create production-stack --description \"Production web tier\"",
    "stack create": "sloth-runner stack create app-stack --depends-on db-stack",
    "stack list": "sloth-runner stack list --all",
    "stack show": "sloth-runner stack show production-stack --at 2026-11-29T10:00:00Z",
    "stack history": "sloth-runner stack history production-stack --limit 20",
    "stack update": "sloth-runner stack update production-stack --description \"Web tier\"",
    "stack destroy": "sloth-runner stack destroy old-stack --yes --reason \"replaced\"",
    "stack output": "sloth-runner stack output production-stack --set url=https://prod.example",
    "stack state": "sloth-runner stack state set production-stack version=v2.0.0 replicas:=3",
    "stack state set": "sloth-runner stack state set production-stack version=v2.0.0 "
                       "replicas:=3",
    "stack state get": "sloth-runner stack state get production-stack version",
    "stack state unset": "sloth-runner stack state unset production-stack replicas",
    "stack state list": "sloth-runner stack state list production-stack --json",
    "stack lock": "sloth-runner stack lock acquire production-stack --reason \"Deploying\"",
    "stack lock acquire": "sloth-runner stack lock acquire production-stack --reason "
                          "\"Deploying v2.0.0\" --locked-by deploy-bot --ttl 30m",
    "stack lock release": "sloth-runner stack lock release production-stack --unlocked-by "
                          "deploy-bot",
    "stack lock status": "sloth-runner stack lock status production-stack",
    "stack lock renew": "sloth-runner stack lock renew production-stack --ttl 1h",
    "stack lock force-release": "sloth-runner stack lock force-release production-stack "
                                "--reason \"runner died\" --yes",
    "stack lock force-unlock": "sloth-runner stack lock force-unlock production-stack "
                               "--reason \"runner died\" --yes",
    "stack lock list": "sloth-runner stack lock list",
    "stack snapshot": "sloth-runner stack snapshot create my-stack --description \"Before v2.0\"",
    "stack snapshot create": "sloth-runner stack snapshot create my-stack --description "
                             "\"Before v2.0 upgrade\" --creator admin",
    "stack snapshot list": "sloth-runner stack snapshot list my-stack",
    "stack snapshot show": "sloth-runner stack snapshot show my-stack v5",
    "stack snapshot restore": "sloth-runner stack snapshot restore my-stack v5 --yes",
    "stack snapshot delete": "sloth-runner stack snapshot delete my-stack v3 --yes",
    "stack snapshot compare": "sloth-runner stack snapshot compare my-stack v5 current",
    "stack snapshot prune": "sloth-runner stack snapshot prune my-stack --older-than 30d "
                            "--keep 5 --dry-run",
    "stack deps": "sloth-runner stack deps order --all",
    "stack deps add": "sloth-runner stack deps add app-stack db-stack",
    "stack deps remove": "sloth-runner stack deps remove app-stack cache-stack",
    "stack deps show": "sloth-runner stack deps show db-stack --reverse --transitive",
    "stack deps graph": "sloth-runner stack deps graph app-stack --output deps.png",
    "stack deps check": "sloth-runner stack deps check app-stack",
    "stack deps order": "sloth-runner stack deps order db-stack app-stack frontend-stack",
    "stack validate": "sloth-runner stack validate all --check-drift",
    "stack resources": "sloth-runner stack resources apply production-stack -f resources.yaml",
    "stack resources apply": "sloth-runner stack resources apply production-stack "
                             "-f resources.yaml --dry-run",
    "stack resources list": "sloth-runner stack resources list production-stack",
    "stack resources show": "sloth-runner stack resources show production-stack motd",
    "stack resources remove": "sloth-runner stack resources remove production-stack motd",
    "stack drift": "sloth-runner stack drift detect production-stack --exit-code",
    "stack drift detect": "sloth-runner stack drift detect production-stack --exit-code",
    "stack drift show": "sloth-runner stack drift show production-stack",
    "stack drift fix": "sloth-runner stack drift fix production-stack --auto-approve",
    "stack executions": "sloth-runner stack executions list production-stack --limit 5",
    "stack executions list": "sloth-runner stack executions list production-stack --limit 5",
    "stack executions show": "sloth-runner stack executions show 7c39129d",
    "events": "sloth-runner events list --stack production-stack --type 'lock.*'",
    "events list": "sloth-runner events list --stack production-stack --type 'lock.*' "
                   "--since 2026-11-01",
    "events export": "sloth-runner events export > audit.jsonl",
    "events seal": "sloth-runner events seal",
    "events verify": "sloth-runner events verify --checkpoint checkpoint.json",
    "events checkpoint": "sloth-runner events checkpoint --json > checkpoint.json",
    "events follow": "sloth-runner events follow --type 'stack.execution.*'",
    "events process": "sloth-runner events process --follow --workers 100",
    "projections": "sloth-runner projections rebuild",
    "projections status": "sloth-runner projections status",
    "projections rebuild": "sloth-runner projections rebuild --until-event 120 --into past.db",
    "run": "sloth-runner run deploy --file deploy.sloth --stack production-stack --validate",
    "secrets": "sloth-runner secrets keygen ~/.config/sloth-runner/secret.key",
    "secrets keygen": "sloth-runner secrets keygen ~/.config/sloth-runner/secret.key",
    "secrets status": "sloth-runner secrets status",
    "secrets rotate": "sloth-runner secrets rotate --new-key-file ~/.config/sloth-runner/new.key",
    "tokens": "sloth-runner tokens create ci --stack 'prod-*'",
    "tokens create": "sloth-runner tokens create auditor --read-only",
    "tokens list": "sloth-runner tokens list",
    "tokens revoke": "sloth-runner tokens revoke ci",
    "serve": "sloth-runner serve --port 8080",
    "hooks": "sloth-runner hooks add notify --on 'lock.*' --url https://chat.example/hook",
    "hooks add": "sloth-runner hooks add audit-file --on '*' --run \"tee -a /var/log/sloth.jsonl\"",
    "hooks list": "sloth-runner hooks list",
    "hooks show": "sloth-runner hooks show audit-file",
    "hooks remove": "sloth-runner hooks remove audit-file",
    "hooks enable": "sloth-runner hooks enable audit-file",
    "hooks disable": "sloth-runner hooks disable audit-file",
    "hooks test": "sloth-runner hooks test notify --event lock.acquired",
    "hooks deliveries": "sloth-runner hooks deliveries notify --failed --limit 20",
    "hooks retry": "sloth-runner hooks retry notify --all-failed",
    "import": "sloth-runner import go /etc/sloth-runner/stacks.db --dry-run",
    "import go": "sloth-runner --db ~/stacks.db import go /etc/sloth-runner/stacks.db --dry-run",
    "import tfstate": "sloth-runner import tfstate terraform.tfstate --stack network",
    "import pulumi": "sloth-runner import pulumi stack.json --stack web-prod",
    "db": "sloth-runner --database-url postgresql://deploy@db.example/stacks db status",
    "db init": "sloth-runner --database-url postgresql://deploy@db.example/stacks db init",
    "db status": "sloth-runner db status --json",
    "db copy": "sloth-runner --db stacks.db db copy --to postgresql://deploy@db.example/stacks",
    "completion": "sloth-runner completion bash > ~/.local/share/bash-completion/completions/"
                  "sloth-runner",
}


def example(ctx: Any) -> str | None:
    """The example for the command a context runs (its path without the program's name)."""
    path = " ".join(ctx.command_path.split()[1:])
    return EXAMPLES.get(path)


def _prepare(command: Any, ctx: Any) -> None:
    """A flag takes no value: no `<bool>` after it. The example goes under the help text."""
    for param in command.get_params(ctx):
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    shown = example(ctx)
    if shown is not None and not command.epilog:
        command.epilog = f"Example:  {shown}"


class DocumentedCommand(TyperCommand):
    """A command whose help ends with an example."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _prepare(self, ctx)
        super().format_help(ctx, formatter)


class DocumentedGroup(TyperGroup):
    """A group whose help ends with an example."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _prepare(self, ctx)
        super().format_help(ctx, formatter)
