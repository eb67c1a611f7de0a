"""The local model registry: one SQLite file, safe for many processes at once.

Version numbers are allocated inside ``BEGIN IMMEDIATE`` transactions and
guarded by a UNIQUE constraint, so two concurrent registrations can never
share a number. Every status change is also appended to an ``events`` table:
another process (the local endpoint) follows it to redeploy on approval, the
way the deployer Lambda follows EventBridge in AWS.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

from scones.errors import NotFound, SconesError
from scones.localdb import create, transaction
from scones.registry import PENDING, ApprovalRecord, Event, ModelRegistry, ModelVersion, now_iso, package_arn

SCHEMA = """
CREATE TABLE IF NOT EXISTS groups (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
    group_name TEXT NOT NULL REFERENCES groups(name),
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    model_data_url TEXT NOT NULL,
    image TEXT NOT NULL,
    created TEXT NOT NULL,
    metrics TEXT NOT NULL DEFAULT '{}',
    description TEXT NOT NULL DEFAULT '',
    approval_description TEXT NOT NULL DEFAULT '',
    pipeline_execution TEXT NOT NULL DEFAULT '',
    environment TEXT NOT NULL DEFAULT '{}',
    UNIQUE (group_name, version)
);
CREATE TABLE IF NOT EXISTS approvals (
    group_name TEXT NOT NULL,
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL
);
"""


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _registered_by(pipeline_execution: str) -> str:
    return f"registered by {pipeline_execution}" if pipeline_execution else "registered"


class SqliteRegistry(ModelRegistry):
    def __init__(self, path: Path, region: str = "us-east-1", account: str = "000000000000"):
        super().__init__()
        self.path = Path(path)
        self.region, self.account = region, account
        create(self.path, SCHEMA)

    @classmethod
    def from_uri(cls, uri: str, clients=None, **kwargs) -> SqliteRegistry:
        return cls(Path(uri[len("sqlite://"):]))

    def _connect(self, immediate: bool = False):
        return transaction(self.path, immediate)

    def _row(self, row: sqlite3.Row) -> ModelVersion:
        return ModelVersion(
            group=row["group_name"], version=row["version"],
            arn=package_arn(row["group_name"], row["version"], self.region, self.account),
            status=row["status"], model_data_url=row["model_data_url"], image=row["image"],
            created=row["created"], metrics=json.loads(row["metrics"]), description=row["description"],
            approval_description=row["approval_description"], pipeline_execution=row["pipeline_execution"],
            environment=json.loads(row["environment"]),
        )

    def create_group(self, group: str, description: str = "") -> None:
        with self._connect(immediate=True) as db:
            db.execute("INSERT OR IGNORE INTO groups (name, description, created) VALUES (?, ?, ?)",
                       (group, description, _now()))

    def list_groups(self) -> list[str]:
        with self._connect() as db:
            return [r["name"] for r in db.execute("SELECT name FROM groups ORDER BY name")]

    def register(self, group, model_data_url, image, metrics=None, status=PENDING,
                 description="", pipeline_execution="", environment=None, metrics_uri="") -> ModelVersion:
        try:
            with self._connect(immediate=True) as db:
                db.execute("INSERT OR IGNORE INTO groups (name, description, created) VALUES (?, '', ?)",
                           (group, _now()))
                (number,) = db.execute("SELECT COALESCE(MAX(version), 0) + 1 FROM versions WHERE group_name = ?",
                                       (group,)).fetchone()
                db.execute(
                    "INSERT INTO versions (group_name, version, status, model_data_url, image, created, metrics,"
                    " description, pipeline_execution, environment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (group, number, status, model_data_url, image, _now(), json.dumps(metrics or {}),
                     description, pipeline_execution, json.dumps(environment or {})),
                )
                db.execute("INSERT INTO approvals (group_name, version, status, reason, at) VALUES (?, ?, ?, ?, ?)",
                           (group, number, status, _registered_by(pipeline_execution), now_iso()))
        except sqlite3.Error as exc:
            raise SconesError(f"registering a version in {group!r} failed: {exc}") from exc
        return self.get_version(group, number)

    def _require_group(self, db: sqlite3.Connection, group: str) -> None:
        if db.execute("SELECT 1 FROM groups WHERE name = ?", (group,)).fetchone() is None:
            known = [r["name"] for r in db.execute("SELECT name FROM groups ORDER BY name")]
            raise NotFound(f"no model package group {group!r} (groups: {', '.join(known) or 'none'})")

    def list_versions(self, group: str) -> list[ModelVersion]:
        with self._connect() as db:
            self._require_group(db, group)
            rows = db.execute("SELECT * FROM versions WHERE group_name = ? ORDER BY version", (group,)).fetchall()
        return [self._row(r) for r in rows]

    def get_version(self, group: str, version: int) -> ModelVersion:
        with self._connect() as db:
            self._require_group(db, group)
            row = db.execute("SELECT * FROM versions WHERE group_name = ? AND version = ?",
                             (group, int(version))).fetchone()
            if row is None:
                existing = [r[0] for r in db.execute(
                    "SELECT version FROM versions WHERE group_name = ? ORDER BY version", (group,))]
                raise self._missing_version(group, int(version), existing)
        return self._row(row)

    def _set_status(self, group: str, version: int, status: str, reason: str) -> ModelVersion:
        self.get_version(group, version)  # NotFound with the list of versions
        with self._connect(immediate=True) as db:
            db.execute("UPDATE versions SET status = ?, approval_description = ? WHERE group_name = ? AND version = ?",
                       (status, reason, group, version))
            db.execute("INSERT INTO approvals (group_name, version, status, reason, at) VALUES (?, ?, ?, ?, ?)",
                       (group, version, status, reason, now_iso()))
        return self.get_version(group, version)

    def history(self, group: str, version: int) -> list[ApprovalRecord]:
        self.get_version(group, version)  # NotFound with the list of versions
        with self._connect() as db:
            rows = db.execute("SELECT status, reason, at FROM approvals WHERE group_name = ? AND version = ? "
                              "ORDER BY rowid", (group, int(version))).fetchall()
        return [ApprovalRecord(r["status"], r["reason"], r["at"]) for r in rows]

    def _emit(self, event: Event) -> None:
        with self._connect(immediate=True) as db:
            db.execute("INSERT INTO events (body) VALUES (?)", (json.dumps(event),))
        super()._emit(event)

    def events_since(self, after_id: int = 0) -> list[tuple[int, Event]]:
        """Status-change events with an id above ``after_id``, oldest first (for other processes)."""
        with self._connect() as db:
            rows = db.execute("SELECT id, body FROM events WHERE id > ? ORDER BY id", (after_id,)).fetchall()
        return [(r["id"], json.loads(r["body"])) for r in rows]

    def prune_events(self, keep: int, dry_run: bool = False) -> int:
        with self._connect(immediate=True) as db:
            newest = db.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]
            count = db.execute("SELECT COUNT(*) FROM events WHERE id <= ?", (newest - keep,)).fetchone()[0]
            if not dry_run:
                db.execute("DELETE FROM events WHERE id <= ?", (newest - keep,))
        return count

    def last_event_id(self) -> int:
        with self._connect() as db:
            return db.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]
