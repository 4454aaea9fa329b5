"""The local store: one SQLite file (stdlib sqlite3), shared safely by many processes.

- WAL journal: readers never block the writer and the writer never blocks readers.
- Every write is one `BEGIN IMMEDIATE` transaction: it takes the file's write lock first,
  then checks (exists? resourceVersion current?) and writes, so two processes racing to
  replace the same object serialise and the second one sees the first one's revision.
  A busy timeout makes a writer wait for the lock instead of failing at once.
- `state` holds the global revision; `objects` the current objects; `changes` one row per
  object touched by each revision, so that `watch` works from any process.
- SQLite cannot notify another process, so `watch` polls: one indexed read of `state`
  every `poll_interval` seconds (10 ms by default) until the revision moves past `since`.
  That costs microseconds per poll and bounds a watcher's latency by the interval.
- The change log keeps the last `history` revisions (compacted at every write). A watcher
  asking for older changes gets RelistRequired: it must `snapshot()` again.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import threading
import time
from pathlib import Path

from meshtool.errors import AlreadyExistsError, ConflictError, MeshtoolError, NotFoundError
from meshtool.model.kinds import NATIVE_API_VERSION
from meshtool.model.resource import Resource
from meshtool.store.base import (ADDED, DELETED, MODIFIED, Change, Key, RelistRequired, Store,
                                 StoredResource, check_unique, display_key, finding_for,
                                 RESOURCE_VERSION_FIELD)

APPLICATION_ID = 0x4D534854  # "MSHT": marks a SQLite file as a meshtool store
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL,   -- the latest write transaction
    compacted INTEGER NOT NULL   -- changes up to and including this revision are gone
);
INSERT INTO state VALUES (1, 0, 0);
CREATE TABLE objects (
    kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    body TEXT NOT NULL,          -- JSON: {"spec", "labels", "annotations"[, "apiVersion"]}
    revision INTEGER NOT NULL,   -- of its last write: its resourceVersion
    created REAL NOT NULL,
    PRIMARY KEY (kind, namespace, name)
) WITHOUT ROWID;
CREATE TABLE changes (
    revision INTEGER NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL,
    kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    body TEXT NOT NULL, obj_revision INTEGER NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (revision, seq)
) WITHOUT ROWID;
"""


class StoreError(MeshtoolError):
    """The store file cannot be used (not a store, unreadable, locked too long)."""


def _sqlite_errors(method):
    """Turn sqlite3 failures into one clear line naming the store file."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreError(f"store {self.location} is locked by another process "
                                 f"(waited {self.busy_timeout:g}s): {exc}") from None
            raise StoreError(f"store {self.location}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            what = "is damaged" if "malformed" in str(exc) else "is not a meshtool store"
            raise StoreError(f"store {self.location} {what}: {exc}") from None

    return wrapper


class LocalStore(Store):
    def __init__(self, path: str | os.PathLike, *, busy_timeout: float = 10.0,
                 poll_interval: float = 0.01, history: int = 1000):
        self.path = Path(path)
        self.location = str(self.path)
        self.busy_timeout = busy_timeout
        self.poll_interval = poll_interval
        self.history = history
        # --dry-run=server: every write runs its checks in a real transaction, then rolls back
        self.dry_run = False
        # One connection used by one thread at a time (the lock), so a store may be handed
        # to a worker thread, e.g. to run a blocking watch off an event loop.
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"store {self.location}: cannot create its directory: "
                             f"{exc.strerror}") from None
        if self.path.is_dir():
            raise StoreError(f"store {self.location} is a directory, not a store file")
        try:
            self._conn = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None,
                                         check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.location}: cannot open: {exc}") from None
        try:
            self._setup()
        except BaseException:
            self._conn.close()
            raise

    # -- opening -------------------------------------------------------------------------

    @_sqlite_errors
    def _setup(self) -> None:
        c = self._conn
        if c.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID:
            self._check_version()
            return
        # New (empty) file, or someone else's database. Decide under the write lock so that
        # two processes opening a new store at once create its tables only once.
        c.execute("BEGIN IMMEDIATE")
        try:
            app_id = c.execute("PRAGMA application_id").fetchone()[0]
            if app_id != APPLICATION_ID:
                if app_id != 0 or c.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                    raise StoreError(f"store {self.location} is a SQLite database but not a "
                                     "meshtool store; choose another file with --store")
                # statement by statement: executescript() would commit the open transaction
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        c.execute(stmt)
                c.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                c.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        if c.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            c.execute("PRAGMA journal_mode = WAL")  # persistent: stored in the file
        self._check_version()

    def _check_version(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"store {self.location} was written by a newer meshtool "
                             f"(store format {version}, this one reads {SCHEMA_VERSION})")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- reading -------------------------------------------------------------------------

    @staticmethod
    def _resource(row) -> StoredResource:
        kind, namespace, name, body, obj_rev, created = row
        try:
            data = json.loads(body)
            spec, labels, annotations = data["spec"], data.get("labels"), data.get("annotations")
            api_version = data.get("apiVersion") or NATIVE_API_VERSION
            if not isinstance(spec, dict) or not isinstance(labels or {}, dict) \
                    or not isinstance(annotations or {}, dict) or not isinstance(api_version, str):
                raise ValueError("spec, labels and annotations must be mappings")
        except (TypeError, ValueError, KeyError) as exc:
            # One damaged row (edited by hand, a disk error) must not make the whole store
            # unreadable: it is returned marked, and readers that serve rules skip it.
            why = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            return StoredResource(kind=kind, name=name, namespace=namespace, spec={},
                                  resource_version=str(obj_rev), revision=obj_rev,
                                  created=created, damaged=f"the stored row is damaged ({why})")
        return StoredResource(kind=kind, name=name, namespace=namespace, spec=spec,
                              api_version=api_version, labels=labels or {},
                              annotations=annotations or {},
                              resource_version=str(obj_rev), revision=obj_rev, created=created)

    _COLUMNS = "kind, namespace, name, body, revision, created"

    def _select(self, kind: str | None, namespace: str | None) -> list[StoredResource]:
        where, args = [], []
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        if namespace is not None:
            where.append("namespace = ?")
            args.append(namespace)
        sql = f"SELECT {self._COLUMNS} FROM objects"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY kind, namespace, name"
        return [self._resource(r) for r in self._conn.execute(sql, args)]

    @_sqlite_errors
    def get(self, kind: str, namespace: str, name: str) -> StoredResource:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {self._COLUMNS} FROM objects WHERE kind = ? AND namespace = ? AND name = ?",
                (kind, namespace, name)).fetchone()
        if row is None:
            raise NotFoundError(f"config {display_key((kind, namespace, name))} not found")
        return self._resource(row)

    @_sqlite_errors
    def list(self, kind: str | None = None, namespace: str | None = None) -> list[StoredResource]:
        with self._lock:
            return self._select(kind, namespace)

    @_sqlite_errors
    def snapshot(self, kind: str | None = None,
                 namespace: str | None = None) -> tuple[int, list[StoredResource]]:
        with self._lock:
            self._conn.execute("BEGIN")  # one read transaction: a consistent view
            try:
                rev = self._state()[0]
                items = self._select(kind, namespace)
            finally:
                self._conn.execute("COMMIT")
        return rev, items

    def _state(self) -> tuple[int, int]:
        return self._conn.execute("SELECT revision, compacted FROM state").fetchone()

    @_sqlite_errors
    def revision(self) -> int:
        with self._lock:
            return self._state()[0]

    # -- writing -------------------------------------------------------------------------

    def _write(self, apply) -> list:
        """Run `apply(conn, revision)` as the next revision, in one IMMEDIATE transaction.
        If it raises, nothing is written and the revision does not move."""
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                rev = self._state()[0] + 1
                result = apply(c, rev)
                floor = rev - self.history
                if floor > 0:
                    c.execute("DELETE FROM changes WHERE revision <= ?", (floor,))
                c.execute("UPDATE state SET revision = ?, compacted = max(compacted, ?)",
                          (rev, max(floor, 0)))
                c.execute("ROLLBACK" if self.dry_run else "COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
        return result

    @staticmethod
    def _body(res: Resource) -> str:
        body = {"spec": res.spec, "labels": res.labels, "annotations": res.annotations}
        if not res.is_native:  # the exact version written: v1alpha3 stays v1alpha3
            body["apiVersion"] = res.api_version
        return json.dumps(body, separators=(",", ":"))

    @staticmethod
    def _log(c, rev: int, seq: int, type_: str, res: Resource, body: str, obj_rev: int,
             created: float) -> None:
        c.execute("INSERT INTO changes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  (rev, seq, type_, res.kind, res.namespace, res.name, body, obj_rev, created))

    def _current(self, c, key: Key):
        return c.execute("SELECT revision, created, body FROM objects "
                         "WHERE kind = ? AND namespace = ? AND name = ?", key).fetchone()

    @_sqlite_errors
    def create(self, resources: list[Resource]) -> list[StoredResource]:
        check_unique(resources)
        if not resources:
            return []

        def apply(c, rev):
            taken = [finding_for(r, r.key, "already exists") for r in resources
                     if self._current(c, r.key) is not None]
            if taken:
                raise AlreadyExistsError(findings=taken,
                                         hint="use `meshtool replace` to change an existing rule")
            now = time.time()
            out = []
            for seq, res in enumerate(resources):
                body = self._body(res)
                c.execute("INSERT INTO objects VALUES (?, ?, ?, ?, ?, ?)",
                          (*res.key, body, rev, now))
                self._log(c, rev, seq, ADDED, res, body, rev, now)
                out.append(self._resource((*res.key, body, rev, now)))
            return out

        return self._write(apply)

    @_sqlite_errors
    def replace(self, resources: list[Resource]) -> list[StoredResource]:
        check_unique(resources)
        if not resources:
            return []

        def apply(c, rev):
            missing, stale, found = [], [], []
            for res in resources:
                row = self._current(c, res.key)
                if row is None:
                    missing.append(finding_for(res, res.key, "not found"))
                    continue
                if res.resource_version is not None and res.resource_version != str(row[0]):
                    stale.append(finding_for(
                        res, res.key, f"has been modified: resourceVersion {res.resource_version} "
                        f"is not the latest ({row[0]}); get it again and retry",
                        field=RESOURCE_VERSION_FIELD))
                found.append((res, row[1]))
            if missing:
                raise NotFoundError(findings=missing + stale,
                                    hint="use `meshtool create` to add a new rule")
            if stale:
                raise ConflictError(findings=stale)
            out = []
            for seq, (res, created) in enumerate(found):
                body = self._body(res)
                c.execute("UPDATE objects SET body = ?, revision = ? "
                          "WHERE kind = ? AND namespace = ? AND name = ?", (body, rev, *res.key))
                self._log(c, rev, seq, MODIFIED, res, body, rev, created)
                out.append(self._resource((*res.key, body, rev, created)))
            return out

        return self._write(apply)

    @_sqlite_errors
    def apply(self, resources: list[Resource]) -> list[Change]:
        """Create what is missing and overwrite what exists, in one transaction. A resource
        carrying a resource_version that is not the current one is a ConflictError (nothing
        written). Objects whose content would not change are not written; when nothing changes,
        no revision is used. Returns one Change per resource; type None means unchanged."""
        check_unique(resources)
        if not resources:
            return []

        class _Unchanged(Exception):
            pass

        def apply(c, rev):
            rows = [(res, self._current(c, res.key)) for res in resources]
            stale = [finding_for(res, res.key, f"has been modified: resourceVersion "
                                 f"{res.resource_version} is not the latest ({row[0]}); get it "
                                 f"again and retry") for res, row in rows
                     if row is not None and res.resource_version is not None
                     and res.resource_version != str(row[0])]
            if stale:
                raise ConflictError(findings=stale)
            now, out, seq = time.time(), [], 0
            for res, row in rows:
                body = self._body(res)
                if row is not None and json.loads(row[2]) == json.loads(body):
                    out.append(Change(row[0], None, self._resource((*res.key, row[2], row[0], row[1]))))
                    continue
                if row is None:
                    c.execute("INSERT INTO objects VALUES (?, ?, ?, ?, ?, ?)", (*res.key, body, rev, now))
                    self._log(c, rev, seq, ADDED, res, body, rev, now)
                    out.append(Change(rev, ADDED, self._resource((*res.key, body, rev, now))))
                else:
                    c.execute("UPDATE objects SET body = ?, revision = ? "
                              "WHERE kind = ? AND namespace = ? AND name = ?", (body, rev, *res.key))
                    self._log(c, rev, seq, MODIFIED, res, body, rev, row[1])
                    out.append(Change(rev, MODIFIED, self._resource((*res.key, body, rev, row[1]))))
                seq += 1
            if seq == 0:
                raise _Unchanged(out)  # roll back: an apply that changes nothing takes no revision
            return out

        try:
            return self._write(apply)
        except _Unchanged as nothing:
            return nothing.args[0]

    @_sqlite_errors
    def delete(self, keys: list[Key]) -> list[Change]:
        keys = list(dict.fromkeys(tuple(k) for k in keys))  # naming one twice deletes it once
        if not keys:
            return []

        def apply(c, rev):
            rows = [(key, self._current(c, key)) for key in keys]
            missing = [finding_for(None, key, "not found") for key, row in rows if row is None]
            if missing:
                raise NotFoundError(findings=missing)
            out = []
            for seq, (key, (obj_rev, created, body)) in enumerate(rows):
                last = self._resource((*key, body, obj_rev, created))
                c.execute("DELETE FROM objects WHERE kind = ? AND namespace = ? AND name = ?", key)
                self._log(c, rev, seq, DELETED, last, body, obj_rev, created)
                out.append(Change(rev, DELETED, last))
            return out

        return self._write(apply)

    # -- watching ------------------------------------------------------------------------

    @_sqlite_errors
    def _changes_since(self, since: int) -> list[Change]:
        with self._lock:
            revision, compacted = self._state()
            if since == revision:
                return []
            if since > revision:
                raise RelistRequired(f"store {self.location} is at revision {revision}, behind the "
                                     f"watched revision {since} (was it replaced?); list again",
                                     current=revision)
            if since < compacted:
                raise RelistRequired(f"changes after revision {since} were compacted (the store "
                                     f"keeps {self.history} revisions); list again",
                                     current=revision)
            rows = self._conn.execute(
                "SELECT revision, type, kind, namespace, name, body, obj_revision, created "
                "FROM changes WHERE revision > ? ORDER BY revision, seq", (since,)).fetchall()
        return [Change(rev, type_, self._resource(rest)) for rev, type_, *rest in rows]

    def watch(self, since: int, timeout: float) -> list[Change]:
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            changes = self._changes_since(since)
            if changes:
                return changes
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            time.sleep(min(self.poll_interval, remaining))
