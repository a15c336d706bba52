"""The workspace store: SQLite metadata plus artifact folders, safe under concurrent processes.

Every write runs in a ``BEGIN IMMEDIATE`` transaction on a WAL database with a generous busy
timeout, so CLI commands, job runner processes and the server can share one workspace.
Resources are JSON documents keyed by (kind, parent, name, version); jobs have their own table
because their runners update them while they run.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from emulator.exceptions import StoreError
from emulator.model.references import Scope
from emulator.workspace.layout import Workspace

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL,
    parent TEXT NOT NULL DEFAULT '',
    name_key TEXT NOT NULL,
    version TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (kind, parent, name_key, version)
);
CREATE TABLE IF NOT EXISTS jobs (
    name TEXT PRIMARY KEY,
    endpoint_name TEXT NOT NULL DEFAULT '',
    deployment_name TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    body TEXT NOT NULL,
    runner_pid INTEGER,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_endpoint ON jobs (endpoint_name, deployment_name);
"""


SCHEMA_VERSION = 1  # PRAGMA user_version of a current store
# (version, statements) that bring an older store to that version, in order.
MIGRATIONS: list[tuple[int, tuple[str, ...]]] = [
    (1, ()),  # version 1 is the first versioned schema: the tables above, unchanged
]


def private_folder(path: Path) -> None:
    """``path`` created if needed and readable by its owner only (0700): the home holds
    datastore secrets, keys and the user's data."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)


def version_sort_key(version: str) -> tuple:
    """Integers in numeric order, before other labels in text order."""
    return (0, int(version), "") if version.isdigit() else (1, 0, version)


class Store:
    def __init__(self, workspace: Workspace, subscription: str = "00000000-0000-0000-0000-000000000000",
                 resource_group: str = "local"):
        self.workspace = workspace
        self.subscription = subscription
        self.resource_group = resource_group
        self.scope = Scope(subscription, resource_group, workspace.name)
        self.path = workspace.root / "workspace.db"
        private_folder(workspace.home)
        private_folder(workspace.root)
        new = not self.path.exists()
        with self._connect() as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            self._migrate(connection)
        if new:  # datastore secrets live here (the home around it is private already)
            # chmod, never open-and-close: closing any descriptor of the database would drop
            # the POSIX locks SQLite holds on it for the other connections of this process
            for path in (self.path, *self.path.parent.glob(f"{self.path.name}-*")):
                with contextlib.suppress(OSError):
                    os.chmod(path, 0o600)

    def _migrate(self, connection: sqlite3.Connection) -> None:
        """Bring the store to ``SCHEMA_VERSION``; refuse a store of a newer emulator."""
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path} was written by a newer batch-emulator (store version "
                             f"{version}, this one knows {SCHEMA_VERSION}); upgrade "
                             "batch-endpoint-emulator or use another BATCH_EMULATOR_HOME")
        if version == SCHEMA_VERSION:
            return
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                connection.execute(statement)
            for target, statements in MIGRATIONS:
                if version < target:
                    for statement in statements:
                        connection.execute(statement)
            connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            connection = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            try:
                connection.execute("PRAGMA busy_timeout=60000")
                yield connection
            finally:
                connection.close()
        except sqlite3.DatabaseError as exc:  # corrupt, unreadable, a disk that fails
            raise StoreError(f"{self.path}: the workspace store cannot be used ({exc}); move "
                             "the file away to start the workspace empty, or restore a copy; "
                             "its artifacts and job folders stay where they are") from None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: the database is locked for writing from BEGIN, not first write."""
        with self._connect() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    # ------------------------------------------------------------------ resources

    def put(self, kind: str, name: str, body: dict[str, Any], *, version: str = "",
            parent: str = "", connection: sqlite3.Connection | None = None) -> None:
        now = time.time()
        statement = (
            "INSERT INTO resources (kind, parent, name_key, version, name, body, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (kind, parent, name_key, "
            "version) DO UPDATE SET name = excluded.name, body = excluded.body, "
            "updated_at = excluded.updated_at")
        values = (kind, parent.lower(), name.lower(), version, name, json.dumps(body), now, now)
        if connection is not None:
            connection.execute(statement, values)
            return
        with self.transaction() as own:
            own.execute(statement, values)

    def get(self, kind: str, name: str, *, version: str = "", parent: str = "") -> dict | None:
        with self._connect() as connection:
            row = connection.execute(
                "SELECT body FROM resources WHERE kind = ? AND parent = ? AND name_key = ? AND "
                "version = ?", (kind, parent.lower(), name.lower(), version)).fetchone()
        return json.loads(row[0]) if row else None

    def list(self, kind: str, *, parent: str | None = None, name: str | None = None) -> list[dict]:
        where, values = _where({"kind": kind, "parent": parent, "name_key": name})
        with self._connect() as connection:
            rows = connection.execute(f"SELECT body FROM resources WHERE {where} "
                                      "ORDER BY name_key, created_at", values).fetchall()
        return [json.loads(body) for (body,) in rows]

    def versions(self, kind: str, name: str) -> list[str]:
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT version FROM resources WHERE kind = ? AND parent = '' AND name_key = ?",
                (kind, name.lower())).fetchall()
        return sorted((row[0] for row in rows), key=version_sort_key)

    def delete(self, kind: str, name: str, *, version: str | None = None, parent: str = "",
               connection: sqlite3.Connection | None = None) -> int:
        query = "DELETE FROM resources WHERE kind = ? AND parent = ? AND name_key = ?"
        values: list[Any] = [kind, parent.lower(), name.lower()]
        if version is not None:
            query += " AND version = ?"
            values.append(version)
        if connection is not None:
            return connection.execute(query, values).rowcount
        with self.transaction() as own:
            return own.execute(query, values).rowcount

    def delete_children(self, kind: str, parent: str, connection: sqlite3.Connection) -> int:
        return connection.execute("DELETE FROM resources WHERE kind = ? AND parent = ?",
                                  (kind, parent.lower())).rowcount

    # ------------------------------------------------------------------ jobs

    def insert_job(self, name: str, endpoint_name: str, deployment_name: str, status: str,
                   body: dict[str, Any]) -> bool:
        """False when a job of that name exists already (names are unique per workspace)."""
        now = time.time()
        try:
            with self.transaction() as connection:
                connection.execute(
                    "INSERT INTO jobs (name, endpoint_name, deployment_name, status, body, "
                    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (name, endpoint_name.lower(), deployment_name.lower(), status,
                     json.dumps(body), now, now))
        except sqlite3.IntegrityError:
            return False
        return True

    def update_job(self, name: str, status: str, record: dict[str, Any]) -> None:
        """The runner's part of a job: its record. The rest of the body (tags, description,
        archived) belongs to the user, who may change it while the runner writes."""
        with self.transaction() as connection:
            connection.execute("UPDATE jobs SET status = ?, body = json_set(body, '$.record', "
                               "json(?)), updated_at = ? WHERE name = ?",
                               (status, json.dumps(record), time.time(), name))

    def update_job_fields(self, name: str, fields: dict[str, Any]) -> dict | None:
        """Set the user's fields of a job (never its record); the new body, None if no job."""
        with self.transaction() as connection:
            for key, value in fields.items():
                connection.execute("UPDATE jobs SET body = json_set(body, ?, json(?)) "
                                   "WHERE name = ?", (f'$."{key}"', json.dumps(value), name))
            row = connection.execute("SELECT body FROM jobs WHERE name = ?", (name,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_job_runner(self, name: str, pid: int) -> None:
        with self.transaction() as connection:
            connection.execute("UPDATE jobs SET runner_pid = ? WHERE name = ?", (pid, name))

    def get_job(self, name: str) -> tuple[dict, int | None] | None:
        with self._connect() as connection:
            row = connection.execute("SELECT body, runner_pid FROM jobs WHERE name = ?",
                                     (name,)).fetchone()
        return (json.loads(row[0]), row[1]) if row else None

    def list_jobs(self, *, endpoint_name: str | None = None,
                  deployment_name: str | None = None) -> list[tuple[dict, int | None]]:
        where, values = _where({"endpoint_name": endpoint_name,
                                "deployment_name": deployment_name})
        with self._connect() as connection:
            rows = connection.execute(f"SELECT body, runner_pid FROM jobs WHERE {where} "
                                      "ORDER BY created_at DESC", values).fetchall()
        return [(json.loads(body), pid) for body, pid in rows]


def _where(filters: dict[str, str | None]) -> tuple[str, list[Any]]:
    """``column = ?`` for each filter given (names compared case-insensitively, like Azure)."""
    given = {column: value for column, value in filters.items() if value is not None}
    values = [value if column == "kind" else value.lower() for column, value in given.items()]
    return " AND ".join(f"{column} = ?" for column in given) or "1 = 1", values


def artifact_dir(workspace: Workspace, kind: str, name: str, version: str) -> Path:
    """Where a registered artifact's copy lives: ``<ws>/<kind>s/<name>/<version>/``."""
    return workspace.root / f"{kind}s" / name / version
