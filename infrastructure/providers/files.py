"""`file` and `directory` resources: paths on this machine, used exactly as given."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from infrastructure.providers.base import (
    AbsolutePath,
    ApplyFailed,
    Mode,
    ProbeFailed,
    ResourceType,
    mode_text,
    os_reason,
)

SHORT_CONTENT = 256
"""Content up to this many bytes of UTF-8 is compared and shown as text; longer, as a digest."""
MAX_ADOPTED_CONTENT = 1 << 20
MAX_KNOWN_CONTENTS = 20_000
_CHUNK = 1 << 20

Ensure = Literal["present", "absent"]


def content_value(data: bytes) -> str | dict[str, Any]:
    """Content as it is compared and shown: short UTF-8 text as itself, else its digest.

    A digest is a mapping, so it can never be mistaken for a text.
    """
    if len(data) <= SHORT_CONTENT:
        with suppress(UnicodeDecodeError):
            return data.decode("utf-8")
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def file_content_value(path: str, size_hint: int,
                       declared: tuple[bytes, str | dict[str, Any]] | None = None
                       ) -> str | dict[str, Any]:
    """`content_value` of a file; a large one is hashed in chunks instead of held.

    With the declared content and its value, a file that holds exactly that content is
    recognised by comparing bytes, and not hashed a second time.
    """
    # Unbuffered reads, as few as can be: no Python file object is made.
    descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = b""
        if size_hint < _CHUNK:
            # What stat saw, plus one byte in case it grew since: a read comes back short
            # at the end of the file (or if a signal stops it, so read on until that end).
            wanted = size_hint + 1
            while len(data) < wanted and (more := os.read(descriptor, wanted - len(data))):
                data += more
            if declared is not None and data == declared[0]:
                return declared[1]
            if len(data) <= size_hint:
                return content_value(data)
        digest = hashlib.sha256(data)
        size = len(data)
        while chunk := os.read(descriptor, _CHUNK):
            digest.update(chunk)
            if size <= SHORT_CONTENT:  # it may still turn out short: shown as itself
                data += chunk
            size += len(chunk)
    finally:
        os.close(descriptor)
    return content_value(data) if size <= SHORT_CONTENT else {
        "sha256": digest.hexdigest(), "size": size}


def kind_of(st_mode: int) -> str:
    if stat.S_ISREG(st_mode):
        return "file"
    if stat.S_ISDIR(st_mode):
        return "directory"
    return "special file"


def _stat(path: str, failure: type[Exception] = ProbeFailed) -> os.stat_result | None:
    """The path's stat (through symlinks), None when it does not exist.

    Any other error (permission denied, a parent that is not a directory) raises `failure`.
    """
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise failure(os_reason(error, "read")) from None


def _existing(path: str, wanted: str, doing: str) -> os.stat_result | None:
    """What is at the path (None: nothing); anything but a `wanted` is refused, not `doing`."""
    info = _stat(path, ApplyFailed)
    if info is not None and kind_of(info.st_mode) != wanted:
        raise ApplyFailed(f"{path} is a {kind_of(info.st_mode)}, not a {wanted}; not {doing} it")
    return info


def _adopted(path: str, observed: Mapping[str, Any], wanted: str,
             mode: str | None) -> dict[str, Any]:
    """Attributes declaring what was observed at the path (its mode too, if that is managed)."""
    if observed.get("ensure") == "absent":
        return {"path": path, "ensure": "absent"}
    if observed.get("kind") != wanted:
        raise ApplyFailed(f"{path} is a {observed.get('kind')}, not a {wanted}")
    attributes: dict[str, Any] = {"path": path, "ensure": "present"}
    if mode is not None:
        attributes["mode"] = observed.get("mode")
    return attributes


def _observe_path(info: os.stat_result | None) -> dict[str, Any]:
    if info is None:
        return {"ensure": "absent"}
    return {"ensure": "present", "kind": kind_of(info.st_mode), "mode": mode_text(info.st_mode)}


@contextmanager
def _changing(doing: str) -> Iterator[None]:
    """Report an OSError raised while changing the real world as ApplyFailed."""
    try:
        yield
    except OSError as error:
        raise ApplyFailed(os_reason(error, doing)) from None


def _write_atomically(path: str, data: bytes, mode: int | None,
                      owner: tuple[int, int] | None) -> None:
    """Replace the file in one step: write a sibling, sync it, rename it over the path."""
    target = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.sloth-tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            if owner is not None:
                with suppress(PermissionError):
                    os.fchown(handle.fileno(), *owner)
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


class FileSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: AbsolutePath
    content: str | None = None
    source: AbsolutePath | None = None
    """A file whose content this one should have (read when observing and fixing)."""
    mode: Mode | None = None
    ensure: Ensure = "present"

    @model_validator(mode="after")
    def _consistent(self) -> FileSpec:
        if self.content is not None and self.source is not None:
            raise ValueError("give content or source, not both")
        if self.ensure == "absent" and (self.content, self.source, self.mode) != (None, None, None):
            raise ValueError("content, source and mode cannot be combined with ensure: absent")
        return self


class FileType(ResourceType[FileSpec]):
    """A regular file: existence, content (inline or from a source file) and mode."""

    spec = FileSpec

    def __init__(self) -> None:
        # Inline content never changes for a spec: its bytes and value are kept, by the
        # identity of the spec (which each entry keeps alive). A source file can change
        # between observations: what `expected` read is kept only for the `read` after it.
        self._inline: dict[int, tuple[FileSpec, bytes, str | dict[str, Any]]] = {}
        self._source: tuple[FileSpec, bytes, str | dict[str, Any]] | None = None

    def _declared_content(self, spec: FileSpec, *, fresh: bool
                          ) -> tuple[bytes, str | dict[str, Any]] | None:
        """The declared content and its value (None when the content is not managed).

        `fresh`: read a source file again (`expected` does; the `read` after it does not).
        """
        if spec.source is None:
            known = self._inline.get(id(spec))
        else:
            known, self._source = self._source, None
            if fresh:
                known = None
        if known is not None and known[0] is spec:
            return known[1], known[2]
        data = self._desired_content(spec, ProbeFailed)
        if data is None:
            return None
        entry = (spec, data, content_value(data))
        if spec.source is not None:
            self._source = entry
        else:
            if len(self._inline) >= MAX_KNOWN_CONTENTS:
                self._inline = {}
            self._inline[id(spec)] = entry
        return data, entry[2]

    def expected(self, spec: FileSpec) -> dict[str, Any]:
        if spec.ensure == "absent":
            return {"ensure": "absent"}
        wanted: dict[str, Any] = {"ensure": "present", "kind": "file"}
        declared = self._declared_content(spec, fresh=True)
        if declared is not None:
            wanted["content"] = declared[1]
        if spec.mode is not None:
            wanted["mode"] = spec.mode
        return wanted

    def read(self, spec: FileSpec) -> dict[str, Any]:
        info = _stat(spec.path)
        observed = _observe_path(info)
        if info is not None and stat.S_ISREG(info.st_mode):
            declared = self._declared_content(spec, fresh=False)
            if declared is None:
                return observed
            try:
                observed["content"] = file_content_value(spec.path, info.st_size, declared)
            except OSError as error:
                raise ProbeFailed(os_reason(error, "read")) from None
        return observed

    def apply(self, spec: FileSpec) -> None:
        path = spec.path
        if spec.ensure == "absent":
            if _existing(path, "file", "removing") is not None:
                with _changing("remove"):
                    os.unlink(path)
            return
        info = _existing(path, "file", "replacing")
        data = self._desired_content(spec, ApplyFailed)
        mode = int(spec.mode, 8) if spec.mode is not None else None
        with _changing("write"):
            if info is None or (data is not None and file_content_value(path, info.st_size)
                                != content_value(data)):
                keep = stat.S_IMODE(info.st_mode) if info is not None else None
                owner = (info.st_uid, info.st_gid) if info is not None else None
                _write_atomically(path, data or b"", mode if mode is not None else keep, owner)
            elif mode is not None and stat.S_IMODE(info.st_mode) != mode:
                os.chmod(path, mode)

    def adopt(self, spec: FileSpec, observed: Mapping[str, Any]) -> dict[str, Any]:
        attributes = _adopted(spec.path, observed, "file", spec.mode)
        manages_content = spec.content is not None or spec.source is not None
        if attributes["ensure"] == "present" and manages_content:
            attributes["content"] = self._adoptable_text(spec.path)
        return attributes

    @staticmethod
    def _desired_content(spec: FileSpec, failure: type[Exception]) -> bytes | None:
        if spec.content is not None:
            return spec.content.encode("utf-8")
        if spec.source is None:
            return None
        try:
            return Path(spec.source).read_bytes()
        except OSError as error:
            raise failure(os_reason(error, "read source")) from None

    @staticmethod
    def _adoptable_text(path: str) -> str:
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_ADOPTED_CONTENT + 1)
        except OSError as error:
            raise ApplyFailed(os_reason(error, "read")) from None
        if len(data) > MAX_ADOPTED_CONTENT:
            raise ApplyFailed(f"{path} is larger than {MAX_ADOPTED_CONTENT} bytes; "
                              "too large to declare its content inline")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ApplyFailed(f"{path} does not hold UTF-8 text; its content cannot be "
                              "declared inline") from None


class DirectorySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: AbsolutePath
    mode: Mode | None = None
    ensure: Ensure = "present"

    @model_validator(mode="after")
    def _consistent(self) -> DirectorySpec:
        if self.ensure == "absent" and self.mode is not None:
            raise ValueError("mode cannot be combined with ensure: absent")
        return self


class DirectoryType(ResourceType[DirectorySpec]):
    """A directory: existence and mode. An absent one is removed only when empty."""

    spec = DirectorySpec

    def expected(self, spec: DirectorySpec) -> dict[str, Any]:
        if spec.ensure == "absent":
            return {"ensure": "absent"}
        wanted: dict[str, Any] = {"ensure": "present", "kind": "directory"}
        if spec.mode is not None:
            wanted["mode"] = spec.mode
        return wanted

    def read(self, spec: DirectorySpec) -> dict[str, Any]:
        return _observe_path(_stat(spec.path))

    def apply(self, spec: DirectorySpec) -> None:
        path = spec.path
        if spec.ensure == "absent":
            if _existing(path, "directory", "removing") is None:
                return
            try:
                os.rmdir(path)
            except OSError as error:
                if error.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    raise ApplyFailed(f"{path} is not empty; not removing what it holds") from None
                raise ApplyFailed(os_reason(error, "remove")) from None
            return
        info = _existing(path, "directory", "replacing")
        with _changing("create"):
            if info is None:
                os.makedirs(path)
            if spec.mode is not None:
                os.chmod(path, int(spec.mode, 8))

    def adopt(self, spec: DirectorySpec, observed: Mapping[str, Any]) -> dict[str, Any]:
        return _adopted(spec.path, observed, "directory", spec.mode)
