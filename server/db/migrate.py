"""Run Alembic migrations from code (the CLI, the server start-up and the tests all use this)."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

from alembic import command
from server.db.session import prepare_sqlite_file

ROOT = Path(__file__).resolve().parent.parent.parent


def alembic_config(database_url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    cfg.attributes["database_url"] = database_url
    return cfg


def upgrade_head(database_url: str, revision: str = "head") -> None:
    prepare_sqlite_file(database_url)  # a first migration creates the file: 0600, never world-readable
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)
