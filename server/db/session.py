"""Engine and session factory. A chat turn or a request opens a short session and commits at its edge."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
# SQLite's files beside the database: they hold the same rows (transcripts, password hashes) as the file.
SQLITE_SIDECARS = ("-wal", "-shm", "-journal")


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for other databases and for :memory:)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def private_dir(path: Path) -> None:
    """Make `path` (and missing parents) readable by this user only (0700)."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    _tighten(path, PRIVATE_DIR)


def prepare_sqlite_file(url: str) -> None:
    """Create a SQLite database file as 0600 before SQLite opens it, and tighten one made earlier.

    SQLite gives its -wal, -shm and -journal files the mode of the database file, so they follow. The
    folder is created 0700 when it is missing; an existing folder is left as it is (it may be shared)."""
    path = sqlite_path(url)
    if path is None:
        return
    if not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    os.close(fd)
    for candidate in (path, *(path.with_name(path.name + suffix) for suffix in SQLITE_SIDECARS)):
        if candidate.exists():
            _tighten(candidate, PRIVATE_FILE)


def _tighten(path: Path, mode: int) -> None:
    if stat.S_IMODE(path.stat().st_mode) & ~mode:
        path.chmod(mode)


def make_engine(url: str) -> Engine:
    # hide_parameters: an error such as IntegrityError would otherwise quote the bound values (a child's
    # message, a token hash) in its text, and that text reaches the log.
    if url.startswith("sqlite"):
        prepare_sqlite_file(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA secure_delete=ON")  # deleted transcripts are overwritten, not just unlinked
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on error."""
    with factory() as session, session.begin():
        yield session
