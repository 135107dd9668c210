"""The results store: one SQLite file plus an npz of probabilities per job.

Every finished job is one row written in one transaction, so a process killed
at any moment (even with SIGKILL) leaves a readable store in which each
finished job appears exactly once. Probabilities are written to a temporary
file and renamed before the row is committed; a row therefore never points to
a missing or half-written file.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
import numpy as np

from mmerbench.errors import StoreError, UsageError
from mmerbench.names import check_key, contained
from mmerbench.store.failure import injected_fault, write_failure
from mmerbench.store.rows import record_problem, row_problem, warn_malformed

SCHEMA_VERSION = 1
DB_NAME = "results.sqlite"
PREDICTIONS_DIR = "predictions"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    key TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    method TEXT NOT NULL,
    dataset TEXT NOT NULL,
    seed INTEGER NOT NULL,
    finished_at TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS planned (key TEXT PRIMARY KEY, rerun INTEGER NOT NULL, planned_at TEXT NOT NULL);
"""
# Every object of the schema mmerbench creates (tables and the indexes SQLite makes for their keys).
# A shared store holding anything else (a trigger, a view, another table) is refused before a write:
# a trigger runs on our INSERT and could delete or rewrite other rows.
OWN_OBJECTS = {("table", "meta"), ("table", "jobs"), ("table", "planned"),
               ("index", "sqlite_autoindex_meta_1"), ("index", "sqlite_autoindex_jobs_1"),
               ("index", "sqlite_autoindex_planned_1")}


def crash_point(name: str) -> None:
    """Tests set MMERBENCH_TEST_CRASH_AT to die abruptly at a named point."""
    if os.environ.get("MMERBENCH_TEST_CRASH_AT") == name:
        os._exit(137)


class ResultStore:
    def __init__(self, directory: str | Path, create: bool = True, read_only: bool = False):
        """Open (``create``: or create) the store; ``read_only`` opens it with SQLite's ``mode=ro``.

        Read-only commands (results, leaderboard, report, run --dry-run) use
        ``read_only=True``: they never modify the store, even a damaged one.
        """
        if directory is None or not str(directory).strip():  # Path("") would silently mean the current folder
            raise UsageError("--results is empty: give a results directory, e.g. --results ./mmerbench-results")
        self.directory = Path(directory)
        self.db_path = self.directory / DB_NAME
        self.read_only = read_only
        if create and not read_only:
            self._make_directory()
        elif not self.db_path.exists():
            raise StoreError(f"no results store at {self.db_path}: run `mmerbench run --results {directory}` first")
        self._connection = self._open_read_only() if read_only else self._open()

    def _make_directory(self) -> None:
        for parent in [self.directory, *self.directory.parents]:
            if parent.exists() and not parent.is_dir():
                raise StoreError(
                    f"cannot create the results directory {self.directory}: {parent} exists and is not a directory; "
                    "choose another --results path"
                )
        try:
            (self.directory / PREDICTIONS_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the results directory {self.directory}: {exc.strerror or exc}") from exc

    def _open(self) -> sqlite3.Connection:
        existed = self.db_path.exists() and self.db_path.stat().st_size > 0
        try:
            connection = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
            if existed:
                tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if not {"meta", "jobs"} <= tables:
                    raise StoreError(
                        f"{self.db_path} is an SQLite file but not an mmerbench results store "
                        f"(tables: {sorted(tables) or 'none'}); nothing was changed. Choose another --results directory."
                    )
                self._refuse_foreign_objects(connection)
            connection.execute("PRAGMA synchronous=FULL")
            connection.executescript(_SCHEMA)
            row = connection.execute("SELECT value FROM meta WHERE name='schema_version'").fetchone()
            if row is None:
                connection.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(row[0]) != SCHEMA_VERSION:
                raise StoreError(
                    f"{self.db_path} has results schema version {row[0]}; this mmerbench reads version {SCHEMA_VERSION}"
                )
            return connection
        except sqlite3.OperationalError as exc:
            if "readonly" in str(exc) or "unable to open" in str(exc):  # a write refused, not a damaged file
                raise write_failure(self.db_path, exc) from exc
            raise StoreError(
                f"{self.db_path} is not a readable results store ({exc}); nothing was changed. "
                "Move it away or choose another --results directory."
            ) from exc
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{self.db_path} is not a readable results store ({exc}); nothing was changed. "
                "Move it away or choose another --results directory."
            ) from exc

    def _refuse_foreign_objects(self, connection: sqlite3.Connection) -> None:
        objects = connection.execute("SELECT type, name FROM sqlite_master").fetchall()
        foreign = sorted(f"{kind} {name}" for kind, name in objects if (kind, name) not in OWN_OBJECTS)
        if foreign:
            connection.close()
            raise StoreError(
                f"{self.db_path} holds schema objects mmerbench did not create ({', '.join(foreign[:5])}); "
                "a trigger or view could change other rows when mmerbench writes, so nothing was written. "
                "Read it with `mmerbench results` (read-only), or copy its rows into a fresh store."
            )

    def _open_read_only(self) -> sqlite3.Connection:
        uri = self.db_path.resolve().as_uri() + "?mode=ro"
        try:
            connection = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "jobs" not in tables:
                raise StoreError(
                    f"{self.db_path} is an SQLite file but not an mmerbench results store "
                    f"(tables: {sorted(tables) or 'none'}); nothing was changed."
                )
            row = connection.execute("SELECT value FROM meta WHERE name='schema_version'").fetchone() \
                if "meta" in tables else None
            if row is not None and str(row[0]) != str(SCHEMA_VERSION):
                raise StoreError(
                    f"{self.db_path} has results schema version {row[0]}; this mmerbench reads version {SCHEMA_VERSION}"
                )
            return connection
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{self.db_path} is not a readable results store ({exc}); nothing was changed. "
                "Move it away or choose another --results directory."
            ) from exc

    def check_writable(self) -> None:
        """Fail now, before any job runs, when the store cannot be written (read-only, no permission)."""
        probe = self.directory / PREDICTIONS_DIR / f".write-probe.tmp-{os.getpid()}"
        try:
            injected_fault("probe", sqlite=True)
            self._connection.execute("BEGIN IMMEDIATE")  # takes the write lock a commit needs
            self._connection.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise write_failure(self.db_path, exc) from exc
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            try:
                probe.unlink()
            except OSError:
                pass
            raise write_failure(probe.parent, exc) from exc

    @classmethod
    def files_only(cls, directory: str | Path) -> "ResultStore":
        """The store's prediction files without opening SQLite: what a worker uses, since only the driver
        writes the database (SQLite's locks are unreliable on the shared file systems of clusters)."""
        store = cls.__new__(cls)
        store.directory = Path(directory)
        store.db_path = store.directory / DB_NAME
        store.read_only = False
        store._connection = None
        (store.directory / PREDICTIONS_DIR).mkdir(parents=True, exist_ok=True)
        return store

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

    def predictions_path(self, key: str) -> Path:
        check_key(key, "predictions file")
        return contained(self.directory / PREDICTIONS_DIR, f"{key}.npz")

    def save_predictions(self, key: str, arrays: dict[str, np.ndarray]) -> Path:
        path = self.predictions_path(key)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            with open(tmp, "wb") as handle:
                np.savez_compressed(handle, **arrays)
                injected_fault("predictions")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError as exc:  # disk full, read-only file system: leave no half-written file
            try:
                tmp.unlink()
            except OSError:
                pass
            raise write_failure(path, exc) from exc
        return path

    def put(self, record: dict, *, keep_ok: bool = False) -> bool:
        """Insert or replace one job record atomically; False when it was not written.

        ``keep_ok``: an ``ok`` row already stored for the key stays (a duplicate outcome of a
        concurrent run, or a collected record the driver did not plan as a re-run, never replaces it).
        """
        problem = record_problem(record)
        if problem is not None:  # refused before SQLite, so the message says what is wrong with the record
            raise StoreError(f"job record {str(record.get('key'))[:40]!r} cannot be stored: {problem}")
        crash_point("before-commit")
        try:
            payload = json.dumps(record, default=_json_default, allow_nan=False)
            with self._connection:  # one transaction
                self._connection.execute("BEGIN IMMEDIATE")
                injected_fault("put", sqlite=True)
                if keep_ok and self._holds_ok_row(record["key"]):
                    return False
                self._connection.execute("DELETE FROM planned WHERE key = ?", (record["key"],))
                self._connection.execute(
                    "INSERT OR REPLACE INTO jobs (key, status, method, dataset, seed, finished_at, record) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (record["key"], record["status"], record["method"], record["dataset"], int(record["seed"]),
                     record.get("finished_at", ""), payload),
                )
        except (sqlite3.Error, OSError, OverflowError, ValueError, MemoryError) as exc:
            # The transaction was rolled back: the store holds exactly the jobs committed before.
            raise write_failure(self.db_path, exc) from exc
        crash_point("after-commit")
        return True

    def _holds_ok_row(self, key: str) -> bool:
        """A well-formed ok row for ``key`` (a malformed one does not count as finished, so it is replaced)."""
        row = self._connection.execute("SELECT record FROM jobs WHERE key = ? AND status = 'ok'", (key,)).fetchone()
        return row is not None and row_problem(key, row[0])[1] is None

    def plan(self, keys, reruns=()) -> None:
        """Note the jobs a driver is about to run; ``reruns`` are finished jobs it runs again (--no-resume).

        Only the driver writes here, so a record published into ``jobs/`` for a key that no plan
        produced is known as one from outside, and only a planned re-run may replace an ``ok`` row.
        """
        from datetime import datetime, timezone

        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        reruns = set(reruns)
        try:
            with self._connection:
                self._connection.execute("BEGIN IMMEDIATE")
                self._connection.executemany("INSERT OR REPLACE INTO planned VALUES (?, ?, ?)",
                                             [(key, int(key in reruns), now) for key in keys])
        except sqlite3.Error as exc:
            raise write_failure(self.db_path, exc) from exc

    def planned(self) -> dict[str, bool]:
        """Key -> planned as a re-run, for the jobs planned and not yet stored."""
        return {key: bool(rerun) for key, rerun in self._connection.execute("SELECT key, rerun FROM planned")}

    # ------------------------------------------------------------------ reading

    def finished_keys(self) -> set[str]:
        """Keys of finished jobs; a malformed row does not count, so a re-run replaces it."""
        rows = self._connection.execute("SELECT key, status, record FROM jobs WHERE status='ok'")
        return {record["key"] for record in self._checked(rows)}

    def _checked(self, rows) -> list[dict]:
        records = []
        for key, status, text in rows:
            record, problem = row_problem(key, text)
            if problem is not None:
                warn_malformed(self.db_path, key, problem)
                continue
            records.append(record)
        return records

    def records(self, dataset: str | None = None, status: str | None = None) -> list[dict]:
        query, arguments = "SELECT key, status, record FROM jobs", []
        clauses = []
        if dataset is not None:
            clauses.append("dataset = ?")
            arguments.append(dataset)
        if status is not None:
            clauses.append("status = ?")
            arguments.append(status)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY dataset, method, seed, finished_at"
        return self._checked(self._connection.execute(query, arguments))

    def get(self, key: str) -> dict | None:
        rows = self._checked(self._connection.execute("SELECT key, status, record FROM jobs WHERE key = ?", (key,)))
        return rows[0] if rows else None

    def load_predictions(self, key: str) -> dict[str, np.ndarray]:
        with np.load(self.predictions_path(key), allow_pickle=False) as data:
            return {name: data[name] for name in data.files}


def _json_default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, tuple)):
        return list(value)
    return repr(value)

