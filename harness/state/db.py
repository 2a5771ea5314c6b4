"""The state database's connection: opening (read-write with migrations, or read-only), transactions, snapshots.

Shared by the writer (`harness.state.store.Store`) and the read model (`harness.state.queries.StateReadModel`),
which run on one connection so that a round's writes and its lookups see the same database without a second
handle. Safe to share between threads of one process: every use of the connection holds one lock.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.state.schema import MIGRATIONS, SCHEMA_VERSION


class StoreError(HarnessError):
    """The state database cannot be used (newer schema, corrupt file, unknown id)."""


class Database:
    """One SQLite connection (WAL) with the schema migrated, or an existing database opened read-only."""

    def __init__(self, path: Path | str, *, busy_timeout_s: float = 30.0, readonly: bool = False) -> None:
        """Open (and create or migrate) the database; `readonly` opens an existing one for reports only.

        A read-only database never creates, migrates or locks anything, so `harness status` can look at a live
        validator's database (even one it may not write) without disturbing it.
        """
        self.path = Path(path).expanduser()
        self.readonly = readonly
        self.lock = threading.RLock()
        try:
            if readonly:
                if not self.path.exists():
                    raise StoreError(f"no state database at {self.path}")
                if not self.path.is_file():
                    raise StoreError(f"state database {self.path} is not a file")
                uri = f"file:{urllib.parse.quote(str(self.path.resolve()))}?mode=ro"
                self.connection = sqlite3.connect(
                    uri, uri=True, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
                )
                self.connection.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
                self._check_readable_schema()
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.connection = sqlite3.connect(
                    self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
                )
                self.connection.execute("PRAGMA journal_mode=WAL")
                self.connection.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives process crashes
                self.connection.execute("PRAGMA foreign_keys=ON")
                self.connection.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
                self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"state database {self.path}: {exc}") from exc

    def _migrate(self) -> None:
        with self.lock:
            self.connection.execute("BEGIN IMMEDIATE")
            try:
                version = self.connection.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"state database {self.path} has schema version {version}; this harness knows up to "
                        f"{SCHEMA_VERSION} (upgrade the harness)"
                    )
                for number in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in _statements(MIGRATIONS[number - 1]):
                        self.connection.execute(statement)
                    self.connection.execute(f"PRAGMA user_version={number}")
                self.connection.execute("COMMIT")
            except BaseException:
                self.connection.execute("ROLLBACK")
                raise

    def _check_readable_schema(self) -> None:
        version = self.connection.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            raise StoreError(f"{self.path} is not a harness state database (no schema)")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"state database {self.path} has schema version {version}; this harness knows up to "
                f"{SCHEMA_VERSION} (upgrade the harness)"
            )
        if version < SCHEMA_VERSION:
            raise StoreError(
                f"state database {self.path} has the older schema version {version}; start the validator "
                f"once to migrate it to {SCHEMA_VERSION}"
            )

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One step = one transaction; BEGIN IMMEDIATE so concurrent writers queue instead of failing late."""
        with self.lock:
            self.connection.execute("BEGIN IMMEDIATE")
            try:
                yield self.connection
            except BaseException:
                self.connection.execute("ROLLBACK")
                raise
            self.connection.execute("COMMIT")

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Several reads that see one state of the database, even while the supervisor writes."""
        with self.lock:
            if self.connection.in_transaction:  # already inside a snapshot or a step
                yield
                return
            self.connection.execute("BEGIN")
            try:
                yield
            finally:
                self.connection.execute("COMMIT")

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.lock:
            return self.connection.execute(sql, params).fetchall()

    @property
    def schema_version(self) -> int:
        return int(self.query("PRAGMA user_version")[0][0])

    def integrity_check(self) -> list[str]:
        """SQLite's integrity check plus foreign keys; `["ok"]` when the database is sound."""
        problems = [row[0] for row in self.query("PRAGMA integrity_check")]
        problems += [f"foreign key: {row}" for row in self.query("PRAGMA foreign_key_check")]
        return problems

    def close(self) -> None:
        with self.lock:
            self.connection.close()


def _statements(script: str) -> list[str]:
    """Split a migration into statements (sqlite3 runs one per execute; executescript would commit early)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
