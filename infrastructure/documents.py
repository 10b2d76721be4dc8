"""Stored state documents: content-addressed by SHA-256, written once, never changed or deleted.

The event log records which document a stack holds (its sha256, serial, lineage); the
documents themselves, which can be tens of megabytes, live here, beside the log, so that
neither replaying a stack nor the audit log carries them. Large documents are compressed.
"""

from __future__ import annotations

import base64
import hashlib
import sqlite3
import zlib
from dataclasses import dataclass

from domain.timestamps import to_text
from infrastructure.clock import now
from infrastructure.sql import Connection, Cursor, Dialect

COMPRESS_FROM = 64 * 1024
"""Documents of this many bytes or more are stored compressed."""

_DDL = (
    "CREATE TABLE IF NOT EXISTS state_documents ("
    " sha256 TEXT PRIMARY KEY,"
    " size INTEGER NOT NULL,"
    " md5 TEXT NOT NULL,"
    " encoding TEXT NOT NULL,"
    " content TEXT NOT NULL,"
    " stored_at TEXT NOT NULL)"
)
IDENTITY, ZLIB = "utf-8", "zlib+base64"


def create_tables(cursor: Cursor, dialect: Dialect) -> None:
    """Create the documents table where it is missing (with the read models' migration, which
    holds their write lock: two first commands never create it at once)."""
    cursor.execute(dialect.ddl(_DDL))


@dataclass(frozen=True)
class Document:
    """A stored document: its bytes and digests."""

    sha256: str
    md5: str
    """Base64 of the MD5, as an HTTP `Content-MD5` header carries it."""
    data: bytes


class DocumentStore:
    """Documents in the database's `state_documents` table (on a read-model connection)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def put(self, data: bytes, *, sha256: str | None = None) -> Document:
        """Store a document (again: nothing happens) and return its digests.

        `sha256`: the caller computed it already (documents can be tens of megabytes).
        """
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        sha256 = sha256 or hashlib.sha256(data).hexdigest()
        if len(data) >= COMPRESS_FROM:
            encoding, content = ZLIB, base64.b64encode(zlib.compress(data, 1)).decode()
        else:
            encoding, content = IDENTITY, data.decode("utf-8")
        self.connection.execute(
            "INSERT INTO state_documents (sha256, size, md5, encoding, content, stored_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
            (sha256, len(data), md5, encoding, content, to_text(now())))
        return Document(sha256, md5, data)

    def get(self, sha256: str) -> Document | None:
        """The document with this digest, or None when none is stored."""
        try:
            row = self.connection.execute(
                "SELECT md5, encoding, content FROM state_documents WHERE sha256 = ?",
                (sha256,)).fetchone()
        except sqlite3.OperationalError:  # a read-only database that never stored one
            return None
        if row is None:
            return None
        md5, encoding, content = row
        data = (zlib.decompress(base64.b64decode(content)) if encoding == ZLIB
                else content.encode("utf-8"))
        return Document(sha256, md5, data)
