"""`sloth-runner serve`: the REST API and Terraform's http state backend over HTTP(S)."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from cli.context import path_text, state
from cli.errors import Typer

app = Typer(help="Serve the REST API and Terraform's http backend.")

_SIZE = re.compile(r"([0-9]{1,15})([kmg]i?b?)?", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(text: str) -> int:
    """`256M`, `1G`, `65536`: a size in bytes (K, M, G are powers of 1024)."""
    from domain.errors import InvalidInput

    match = _SIZE.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise InvalidInput(f"invalid --max-body-size '{text[:40]}': use e.g. 256M, 1G or a "
                           "number of bytes")
    return int(match.group(1)) * _UNITS[(match.group(2) or "")[:1].lower()]


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port.")] = 8080,
    tls_cert: Annotated[str | None, typer.Option(
        "--tls-cert", metavar="FILE", parser=path_text, help="TLS certificate (PEM).")] = None,
    tls_key: Annotated[str | None, typer.Option(
        "--tls-key", metavar="FILE", parser=path_text, help="TLS private key (PEM).")] = None,
    insecure: Annotated[bool, typer.Option(
        "--insecure", help="Listen beyond this machine without TLS (behind a TLS proxy).")
    ] = False,
    no_auto_create: Annotated[bool, typer.Option(
        "--no-auto-create", help="Terraform may only use stacks that exist.")] = False,
    max_body_size: Annotated[str, typer.Option(
        "--max-body-size", metavar="SIZE", help="Largest request body, e.g. 256M.")] = "256M",
) -> None:
    """Serve the REST API (/api/v1) and Terraform's http state backend (/terraform/STACK).

    Every request needs a token (sloth-runner tokens create NAME). Stops cleanly on SIGTERM.
    """
    from pathlib import Path

    from server.app import ServerOptions
    from server.run import Listen, check_listen
    from server.run import serve as run

    st = state(ctx)
    listen = Listen(host=host, port=port, tls_cert=Path(tls_cert) if tls_cert else None,
                    tls_key=Path(tls_key) if tls_key else None, insecure=insecure)
    check_listen(listen)
    options = ServerOptions(st.settings(), auto_create=not no_auto_create,
                            max_body=parse_size(max_body_size))
    runtime = st.runtime()
    runtime.catch_up()  # the database is usable, and the read models are current
    st.close()
    import signal

    if run(options, listen) == signal.SIGINT:
        raise typer.Exit(130)
