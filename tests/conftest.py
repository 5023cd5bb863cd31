"""Shared fixtures: a migrated database per test (SQLite, or PostgreSQL when KIDCHAT_TEST_DATABASE_URL is
set), an app on a scripted engine, and a websocket client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from server.app import create_app
from server.config import Settings
from server.db.migrate import downgrade, upgrade_head
from server.llm.fake import ScriptedEngine
from tests.factories import sign_in_child
from tests.fakes import WordChecker

PG_URL = os.environ.get("KIDCHAT_TEST_DATABASE_URL", "")
# Every table a test may write to (emptied after each PostgreSQL test).
TABLES = ("persona_versions", "personas", "alerts", "transcript_views", "flags", "messages", "conversations", "auth_sessions", "login_failures", "api_keys", "children", "users")


def _backends() -> list:
    params = [pytest.param("sqlite", id="sqlite")]
    if PG_URL:
        params.append(pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres))
    return params


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL database migrated from scratch once per run (downgrade base, upgrade head)."""
    downgrade(PG_URL, "base")
    upgrade_head(PG_URL)
    yield PG_URL


@pytest.fixture(params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'kidchat.db'}"
        upgrade_head(url)
        yield url
        return
    url = request.getfixturevalue("pg_url")
    yield url
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, data_dir=tmp_path, max_message_chars=200)


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine()


@pytest.fixture
def safety() -> WordChecker:
    return WordChecker()


@pytest.fixture
def client(settings: Settings, engine: ScriptedEngine, safety: WordChecker) -> Iterator[TestClient]:
    """An app on the scripted engine, with a child signed in (the child link was opened in this client)."""
    app = create_app(settings, engine=engine, safety=safety)
    with TestClient(app) as c:
        sign_in_child(c)
        yield c


@pytest.fixture
def anon_client(settings: Settings, engine: ScriptedEngine, safety: WordChecker) -> Iterator[TestClient]:
    """The same app with nobody signed in."""
    app = create_app(settings, engine=engine, safety=safety)
    with TestClient(app) as c:
        yield c
