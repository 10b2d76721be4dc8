"""Running the server: where it listens, TLS, logging, and a clean stop on SIGTERM."""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import sys
import threading
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from domain.errors import CheckFailed, InvalidInput
from server.app import ServerOptions, build_app

log = logging.getLogger("sloth_runner.server")


@dataclass(frozen=True)
class Listen:
    host: str = "127.0.0.1"
    port: int = 8080
    tls_cert: Path | None = None
    tls_key: Path | None = None
    insecure: bool = False

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and `localhost`: addresses no other machine can reach."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_listen(listen: Listen) -> None:
    """Refuse what would put tokens and state on the network in clear text, and bad TLS files."""
    if (listen.tls_cert is None) != (listen.tls_key is None):
        raise InvalidInput("give --tls-cert and --tls-key together")
    for path in (listen.tls_cert, listen.tls_key):
        if path is not None and not path.is_file():
            raise InvalidInput(f"cannot read {path}: no such file")
    if listen.tls_cert is None and not listen.insecure and not is_loopback(listen.host):
        raise InvalidInput(
            f"refusing to listen on {listen.host} without TLS: tokens and Terraform state "
            "(its secrets included) would cross the network in clear text; give --tls-cert "
            "and --tls-key, or --insecure when a proxy in front terminates TLS")
    if not 0 <= listen.port <= 65535:
        raise InvalidInput(f"invalid --port {listen.port}: 0 to 65535")


def url_host(host: str) -> str:
    """The host as a URL writes it: an IPv6 address in brackets."""
    bare = host.strip("[]")
    return f"[{bare}]" if ":" in bare else bare


def bind(listen: Listen) -> socket.socket:
    """The listening socket, bound before the server starts, so the port it got (the one the
    system chose for `--port 0`) is known and a port in use is one line, not a stack of logs."""
    host = listen.host.strip("[]")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, listen.port))
        sock.listen(2048)  # connections wait from now on, before the server takes them
    except OSError as exc:
        sock.close()
        raise CheckFailed(f"cannot listen on {url_host(host)}:{listen.port}: "
                          f"{exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def serve(options: ServerOptions, listen: Listen) -> int:
    """Serve until SIGTERM or SIGINT; returns the signal that stopped it (0: none)."""
    import uvicorn

    check_listen(listen)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(message)s", datefmt="%Y-%m-%dT%H:%M:%S%z")
    listening = bind(listen)
    port = int(listening.getsockname()[1])
    app = build_app(options)
    config = uvicorn.Config(
        app, host=listen.host, port=port, log_config=None, access_log=False,
        ssl_certfile=str(listen.tls_cert) if listen.tls_cert else None,
        ssl_keyfile=str(listen.tls_key) if listen.tls_key else None,
        timeout_graceful_shutdown=30, server_header=False)
    server = _Server(config)
    log.info("sloth-runner serve: %s://%s:%d (database %s); Terraform backend at "
             "/terraform/STACK, REST API at /api/v1", listen.scheme, url_host(listen.host), port,
             options.settings.db_path)
    try:
        server.run(listening)
    finally:
        listening.close()
        app.state.runtimes.close()
    log.info("sloth-runner serve: stopped")
    return server.stopped_by


class _Server:
    """uvicorn's server, stopping gracefully on SIGTERM/SIGINT without dying of the signal
    afterwards (uvicorn raises it again once stopped), so the command can exit as it should."""

    def __init__(self, config: object) -> None:
        import uvicorn

        class Server(uvicorn.Server):
            stopped_by = 0

            @contextmanager
            def capture_signals(self) -> Generator[None, None, None]:
                if threading.current_thread() is not threading.main_thread():
                    yield
                    return

                def stop(sig: int, frame: object) -> None:
                    self.stopped_by = self.stopped_by or sig
                    self.handle_exit(sig, None)

                previous = {sig: signal.signal(sig, stop)
                            for sig in (signal.SIGINT, signal.SIGTERM)}
                try:
                    yield
                finally:
                    for sig, handler in previous.items():
                        signal.signal(sig, handler)

        self._server = Server(config)  # type: ignore[arg-type]

    def run(self, listening: socket.socket) -> None:
        self._server.run(sockets=[listening])

    @property
    def stopped_by(self) -> int:
        return int(self._server.stopped_by)
