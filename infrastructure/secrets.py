"""Secret keys and the cipher that seals secret values into envelopes (AES-256-GCM).

A key is 32 random bytes, written as one line of standard base64. It comes from
`SLOTH_RUNNER_SECRET_KEY`, else from the config's `stacks.secret_key_file`, else from the
default key file (`$XDG_CONFIG_HOME/sloth-runner/secret.key`). Fallback keys (after a
rotation) come from `SLOTH_RUNNER_SECRET_FALLBACK_KEY` (comma-separated) and the config's
`stacks.secret_fallback_key_file`. A key file readable or writable by anyone but its owner is
refused. Each envelope names the id of its key, so the right one of these is used to open it.

`cryptography` is imported only when something is sealed or opened.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from domain.secrets import MARKER, envelope, is_secret
from infrastructure.errors import SettingsError

KEY_ENV = "SLOTH_RUNNER_SECRET_KEY"
FALLBACK_ENV = "SLOTH_RUNNER_SECRET_FALLBACK_KEY"
EVENTS_KEY_ENV = "SLOTH_RUNNER_EVENTS_KEY"
KEY_BYTES = 32
NONCE_BYTES = 12
EVENTS_CIPHER_TOPIC = "eventsourcing.cryptography:AESCipher"


class SecretKeyError(SettingsError):
    """A key is missing, unreadable, badly made, too widely readable, or not the right one."""


@dataclass(frozen=True)
class SecretKey:
    """One key, with the id envelopes name it by and where it came from."""

    material: bytes
    origin: str

    @property
    def key_id(self) -> str:
        return key_id(self.material)

    def encoded(self) -> str:
        return base64.b64encode(self.material).decode()


def key_id(material: bytes) -> str:
    """A short, stable id of a key that tells nothing about it."""
    return hashlib.sha256(b"sloth-runner secret key id\0" + material).hexdigest()[:16]


def _xdg_config() -> Path:
    value = os.environ.get("XDG_CONFIG_HOME", "").strip()
    return Path(value) if value else Path.home() / ".config"


def default_key_path() -> Path:
    return _xdg_config() / "sloth-runner" / "secret.key"


def default_events_key_path() -> Path:
    return _xdg_config() / "sloth-runner" / "events.key"


def parse_key(text: str, origin: str) -> SecretKey:
    """A key from its base64 text; anything else is refused, naming where it came from."""
    try:
        material = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SecretKeyError(f"the secret key in {origin} is not base64 (make one with: "
                             "sloth-runner secrets keygen FILE)") from None
    if len(material) != KEY_BYTES:
        raise SecretKeyError(f"the secret key in {origin} is {len(material)} bytes; it must be "
                             f"{KEY_BYTES} (make one with: sloth-runner secrets keygen FILE)")
    return SecretKey(material, origin)


def read_key_file(path: Path) -> SecretKey:
    """The key in a file only its owner can read and write."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise SecretKeyError(f"secret key file {path} does not exist") from None
    except OSError as exc:
        raise SecretKeyError(f"cannot read secret key file {path}: "
                             f"{exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise SecretKeyError(f"secret key file {path} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise SecretKeyError(f"secret key file {path} is open to group or others (mode "
                             f"{mode:04o}); refused: chmod 600 {path}")
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not base64 text"
        raise SecretKeyError(f"cannot read secret key file {path}: {reason}") from None
    return parse_key(text, f"key file {path}")


def generate_key_file(path: Path) -> SecretKey:
    """Write a new random key to a new file that only its owner may read (mode 0600)."""
    key = SecretKey(os.urandom(KEY_BYTES), f"key file {path}")
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        from domain.errors import Conflict

        raise Conflict(f"{path} already exists; a key file is never overwritten") from None
    except OSError as exc:
        raise SecretKeyError(f"cannot create {path}: {exc.strerror or exc}") from None
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(key.encoded() + "\n")
    return key


@dataclass(frozen=True)
class KeySources:
    """Where keys are looked for, from the configuration."""

    key_file: Path | None = None
    fallback_files: tuple[Path, ...] = ()

    def describe(self) -> str:
        where = [f"${KEY_ENV} (base64 of {KEY_BYTES} bytes)"]
        if self.key_file is not None:
            where.append(f"the key file {self.key_file} (stacks.secret_key_file)")
        else:
            where.append(f"the key file {default_key_path()}")
        return " or ".join(where)


def load_primary(sources: KeySources, environ: Mapping[str, str] | None = None) -> SecretKey:
    """The key new secrets are sealed with: the environment, else the key file."""
    env = os.environ if environ is None else environ
    text = env.get(KEY_ENV, "").strip()
    if text:
        return parse_key(text, f"${KEY_ENV}")
    if sources.key_file is not None:
        return read_key_file(sources.key_file)
    default = default_key_path()
    if default.exists():
        return read_key_file(default)
    raise SecretKeyError(f"no secret key: it is looked for in {sources.describe()}; make one "
                         "with: sloth-runner secrets keygen FILE")


def load_fallbacks(sources: KeySources,
                   environ: Mapping[str, str] | None = None) -> tuple[SecretKey, ...]:
    env = os.environ if environ is None else environ
    keys = [parse_key(text, f"${FALLBACK_ENV}")
            for text in env.get(FALLBACK_ENV, "").split(",") if text.strip()]
    keys += [read_key_file(path) for path in sources.fallback_files]
    return tuple(keys)


class Keyring:
    """Seals new secrets with the primary key; opens envelopes with whichever key they name."""

    def __init__(self, primary: SecretKey, fallbacks: Sequence[SecretKey] = ()) -> None:
        self.primary = primary
        self._keys = {key.key_id: key for key in (*reversed(fallbacks), primary)}

    @property
    def key_id(self) -> str:
        return self.primary.key_id

    def seal(self, stack: str, key: str, value: Any) -> dict[str, Any]:
        """The envelope of a value: a fresh nonce, the stack and key bound to it."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.primary.material).encrypt(nonce, orjson.dumps(value),
                                                       _bound(stack, key))
        return envelope(self.primary.key_id, _b64(nonce), _b64(sealed))

    def open(self, stack: str, key: str, value: Any) -> Any:
        """The plaintext of an envelope (a plain value is returned as it is)."""
        if not is_secret(value):
            return value
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        body = value[MARKER]
        kid = str(body["kid"])
        secret_key = self._keys.get(kid)
        if secret_key is None:
            raise SecretKeyError(
                f"the secret '{key}' of stack '{stack}' was encrypted with key {kid}, which is "
                f"neither the key in use ({self.key_id}) nor a fallback key (set "
                f"${FALLBACK_ENV} or stacks.secret_fallback_key_file to that key)")
        try:
            plain = AESGCM(secret_key.material).decrypt(
                base64.b64decode(str(body["n"])), base64.b64decode(str(body["c"])),
                _bound(stack, key))
        except (InvalidTag, ValueError, binascii.Error):
            raise SecretKeyError(f"cannot decrypt the secret '{key}' of stack '{stack}' with "
                                 f"key {kid}: it was altered, or sealed for another stack or "
                                 "key") from None
        return orjson.loads(plain)

    def can_open(self, value: Any) -> bool:
        return is_secret(value) and str(value[MARKER]["kid"]) in self._keys


def load_keyring(sources: KeySources, environ: Mapping[str, str] | None = None) -> Keyring:
    return Keyring(load_primary(sources, environ), load_fallbacks(sources, environ))


def _bound(stack: str, key: str) -> bytes:
    """The associated data: an envelope opens only under the stack and key it was sealed for."""
    return orjson.dumps(["sloth-runner secret", 1, stack, key])


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ---- encryption of every stored event (eventsourcing's own cipher) ----------------------

def events_cipher_environment(key_file: Path | None,
                              environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The event store settings that make eventsourcing encrypt every event body."""
    env = os.environ if environ is None else environ
    text = env.get(EVENTS_KEY_ENV, "").strip()
    if text:
        key = parse_key(text, f"${EVENTS_KEY_ENV}")
    else:
        path = key_file or default_events_key_path()
        if key_file is None and not path.exists():
            raise SecretKeyError(
                f"stacks.encrypt_events is on but there is no events key: it is looked for "
                f"in ${EVENTS_KEY_ENV} or the key file {path} (stacks.events_key_file); make "
                "one with: sloth-runner secrets keygen FILE")
        key = read_key_file(path)
    return {"CIPHER_TOPIC": EVENTS_CIPHER_TOPIC, "CIPHER_KEY": key.encoded()}


def stored_in_plain_text(state: bytes) -> bool:
    """Whether a stored event body is plain JSON (not encrypted)."""
    try:
        return isinstance(orjson.loads(state), dict)
    except orjson.JSONDecodeError:
        return False
