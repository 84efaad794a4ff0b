"""The durable store of finished points: one SQLite file in WAL mode in the output folder.

SQLite (standard library) gives what a sweep must survive: each batch of
finished points is one transaction, so ``kill -9`` at any moment leaves every
committed point and nothing half-written, and the next run resumes from the
keys already there. The file is created under a temporary name and renamed,
so a store either carries its ``meta`` table or does not exist. A file that is
not such a store (another program's, or damaged) is refused with one line.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Iterable

from cosim.errors import CosimError

FORMAT = "cosim.sweep"
VERSION = "1"
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE points (
    key TEXT PRIMARY KEY, seq INTEGER NOT NULL, model TEXT NOT NULL, point TEXT NOT NULL,
    feasible INTEGER NOT NULL, reason TEXT NOT NULL, metrics TEXT NOT NULL, report TEXT,
    seconds REAL NOT NULL, worker TEXT NOT NULL, evaluations INTEGER NOT NULL DEFAULT 1);
"""


class Store:
    """Finished points of one sweep, keyed by the hash of model, schedule and point."""

    def __init__(self, path: Path, sweep: str):
        self.path = Path(path)
        if not self.path.exists():
            _create(self.path, sweep)
        try:
            self.db = sqlite3.connect(f"file:{self.path}?mode=rw", uri=True,
                                      isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            check = self.db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(check)
            meta = dict(self.db.execute("SELECT key, value FROM meta"))
            self.db.execute("SELECT key, seq, model, point, feasible, reason, metrics, "
                            "report, seconds, worker, evaluations FROM points LIMIT 0")
        except sqlite3.Error as exc:
            raise CosimError(f"{self.path} is not a readable cosim.sweep store "
                             f"({exc}); move it away or choose another --out") from None
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise CosimError(f"{self.path} is not a {FORMAT} store of version {VERSION}; "
                             "move it away or choose another --out")
        if meta.get("sweep") != sweep:
            raise CosimError(f"{self.path} holds sweep {meta.get('sweep')!r}, not "
                             f"{sweep!r}; choose another --out")

    def keys(self) -> set[str]:
        """Keys of the points already finished."""
        return {k for (k,) in self.db.execute("SELECT key FROM points")}

    def add(self, rows: Iterable[dict]) -> None:
        """Commit finished points in one transaction; a key seen again counts an evaluation."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            (seq,) = self.db.execute("SELECT COALESCE(MAX(seq), -1) + 1 FROM points").fetchone()
            for i, r in enumerate(rows):
                self.db.execute(
                    "INSERT INTO points (key, seq, model, point, feasible, reason, metrics, "
                    "report, seconds, worker) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET evaluations = evaluations + 1",
                    (r["key"], seq + i, r["model"], json.dumps(r["values"]), int(r["feasible"]),
                     r["reason"], json.dumps(r["metrics"]), r["report"], r["seconds"],
                     str(r["worker"])))

    def rows(self, reports: bool = False) -> list[dict]:
        """Every finished point in the order it was committed."""
        out = []
        for key, model, point, feasible, reason, metrics, report, seconds, worker, evals in \
                self.db.execute("SELECT key, model, point, feasible, reason, metrics, "
                                f"{'report' if reports else 'NULL'}, seconds, worker, "
                                "evaluations FROM points ORDER BY seq"):
            out.append({"key": key, "model": model, "values": json.loads(point),
                        "feasible": bool(feasible), "reason": reason,
                        "metrics": json.loads(metrics), "report": report,
                        "seconds": seconds, "worker": worker, "evaluations": evals})
        return out

    def close(self) -> None:
        """Checkpoint the WAL into the main file and close."""
        self.db.close()


def _create(path: Path, sweep: str) -> None:
    """A new store, written under a temporary name and renamed into place."""
    tmp = path.with_name(path.name + ".new")
    tmp.unlink(missing_ok=True)
    db = sqlite3.connect(tmp, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript("BEGIN;" + _SCHEMA + "COMMIT;")
        with db:
            db.executemany("INSERT INTO meta VALUES (?, ?)",
                           [("format", FORMAT), ("version", VERSION), ("sweep", sweep)])
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    os.replace(tmp, path)
