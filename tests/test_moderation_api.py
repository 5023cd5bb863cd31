"""POST /api/moderate is guarded (issue 13, finding 9): a key issued by an admin (CLI or /admin, stored
hashed), a size limit per request (bytes before parsing, then texts and characters), a rate limit per key,
and the checks in the guard's own worker threads, off the event loop. The real app, the real migrations."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from server.app import create_app
from server.auth.tokens import token_hash
from server.cli import main
from server.config import Settings
from server.db.models import ApiKey
from server.llm.fake import ScriptedEngine
from server.safety import build_checker
from tests.factories import log_in, make_api_key, make_user
from tests.fakes import WordChecker

ONE = {"items": [{"text": "badword here", "role": "child"}, {"text": "hello", "role": "child"}]}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def app_client(settings: Settings, safety: object, **overrides: object) -> TestClient:
    """The real app on a scripted engine, with some settings changed (enter it to run the lifespan)."""
    return TestClient(create_app(settings.model_copy(update=overrides), engine=ScriptedEngine(), safety=safety))


@pytest.fixture
def api(settings: Settings, safety: WordChecker) -> Iterator[TestClient]:
    with app_client(settings, safety) as c:
        yield c


def csrf_of(client: TestClient, path: str) -> str:
    return client.get(path).text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def signed_in(app, role: str) -> TestClient:  # type: ignore[no-untyped-def]
    c = TestClient(app)
    email = f"{role}-{id(c)}@example.com"
    make_user(app.state.sessions, role=role, email=email)
    log_in(c, email)
    return c


def key_rows(database_url: str) -> list[ApiKey]:
    engine = create_engine(database_url)
    with Session(engine) as s:
        rows = list(s.scalars(select(ApiKey).order_by(ApiKey.created_at)))
    engine.dispose()
    return rows


# -- keys -----------------------------------------------------------------------------------------------
def test_a_request_without_a_key_is_refused_and_nothing_is_checked(api: TestClient, safety: WordChecker) -> None:
    r = api.post("/api/moderate", json=ONE)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert "API key" in r.json()["detail"]
    assert safety.calls == []


@pytest.mark.parametrize(
    "authorization",
    ["Bearer kc_not-a-key-anyone-made", "Bearer " + "kc_" + "x" * 200, "Basic dXNlcjpwYXNz", "Bearer", "kc_abc"],
)
def test_unknown_or_malformed_keys_are_refused(api: TestClient, safety: WordChecker, authorization: str) -> None:
    make_api_key(api.app.state.sessions)  # type: ignore[attr-defined]
    r = api.post("/api/moderate", json=ONE, headers={"Authorization": authorization})
    assert r.status_code == 401
    assert safety.calls == []


def test_a_key_made_on_the_command_line_works_is_stored_hashed_and_can_be_revoked(
    api: TestClient, settings: Settings, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIDCHAT_DATABASE_URL", settings.resolved_database_url)
    runner = CliRunner()
    made = runner.invoke(main, ["apikey", "create", "video comments"])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    assert re.fullmatch(r"kc_[A-Za-z0-9_-]{43}", key)

    r = api.post("/api/moderate", json=ONE, headers=bearer(key))
    assert r.status_code == 200
    assert [x["action"] for x in r.json()["results"]] == ["block", "allow"]

    [row] = key_rows(database_url)
    assert row.name == "video comments" and row.key_hash == token_hash(key) and key.startswith(row.prefix)
    assert key not in {row.id, row.name, row.key_hash, row.prefix}  # the key itself is not stored
    assert row.last_used_at is not None

    listed = runner.invoke(main, ["apikey", "list"])
    assert listed.exit_code == 0 and "video comments" in listed.output and row.prefix in listed.output
    assert key not in listed.output and "active" in listed.output

    assert runner.invoke(main, ["apikey", "create", "video comments"]).exit_code != 0  # names are unique
    assert runner.invoke(main, ["apikey", "create", "  "]).exit_code != 0
    revoked = runner.invoke(main, ["apikey", "revoke", "video comments"])
    assert revoked.exit_code == 0, revoked.output
    assert api.post("/api/moderate", json=ONE, headers=bearer(key)).status_code == 401
    assert "revoked" in runner.invoke(main, ["apikey", "list"]).output
    assert runner.invoke(main, ["apikey", "revoke", "no such app"]).exit_code != 0


def test_an_admin_makes_a_key_on_the_admin_page_sees_it_once_and_revokes_it(api: TestClient, database_url: str) -> None:
    admin = signed_in(api.app, "admin")
    token = csrf_of(admin, "/admin")
    page = admin.post("/admin/keys", data={"key_name": "comments app", "csrf_token": token})
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    key = re.search(r'<code id="new-api-key">([^<]+)</code>', page.text).group(1)
    assert api.post("/api/moderate", json=ONE, headers=bearer(key)).status_code == 200

    [row] = key_rows(database_url)
    assert row.created_by is not None and row.key_hash == token_hash(key)
    again = admin.get("/admin").text
    assert key not in again and row.prefix in again and "comments app" in again  # shown only once

    bad = admin.post("/admin/keys", data={"key_name": "comments app", "csrf_token": token})
    assert bad.status_code == 400 and "exists already" in bad.text
    assert admin.post("/admin/keys", data={"key_name": "<script>", "csrf_token": token}).status_code == 400

    done = admin.post(f"/admin/keys/{row.id}/revoke", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303
    assert api.post("/api/moderate", json=ONE, headers=bearer(key)).status_code == 401
    assert admin.post("/admin/keys/nope/revoke", data={"csrf_token": token}).status_code == 404


def test_only_an_admin_makes_or_revokes_keys_and_only_with_a_csrf_token(api: TestClient, database_url: str) -> None:
    for role in ("parent", "educator"):
        other = signed_in(api.app, role)
        token = csrf_of(other, "/login")
        assert other.post("/admin/keys", data={"key_name": "mine", "csrf_token": token}).status_code == 403
    admin = signed_in(api.app, "admin")
    assert admin.post("/admin/keys", data={"key_name": "forged"}).status_code == 403  # no CSRF token
    anon = TestClient(api.app)
    assert anon.post("/admin/keys", data={"key_name": "anon"}, follow_redirects=False).status_code in (303, 403)
    make_api_key(api.app.state.sessions, "real")  # type: ignore[attr-defined]
    [row] = key_rows(database_url)
    other = signed_in(api.app, "educator")
    assert other.post(f"/admin/keys/{row.id}/revoke", data={"csrf_token": csrf_of(other, "/login")}).status_code == 403
    assert key_rows(database_url)[0].revoked_at is None


def test_keys_never_reach_the_log(api: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    key = make_api_key(api.app.state.sessions)  # type: ignore[attr-defined]
    api.post("/api/moderate", json=ONE, headers=bearer(key))
    api.post("/api/moderate", json=ONE, headers=bearer(key[:-1] + "x"))
    assert key not in caplog.text and key[:-1] not in caplog.text


# -- size -----------------------------------------------------------------------------------------------
def test_too_many_texts_or_characters_in_one_request_get_413(settings: Settings, safety: WordChecker) -> None:
    with app_client(settings, safety, moderation_max_items=3, moderation_max_chars=50) as c:
        key = make_api_key(c.app.state.sessions)  # type: ignore[attr-defined]
        four = {"items": [{"text": "hi"}] * 4}
        r = c.post("/api/moderate", json=four, headers=bearer(key))
        assert r.status_code == 413 and "3 texts" in r.json()["detail"]
        long = {"items": [{"text": "a" * 30}, {"text": "b" * 21}]}
        r = c.post("/api/moderate", json=long, headers=bearer(key))
        assert r.status_code == 413 and "50 characters" in r.json()["detail"]
        assert safety.calls == []
        fits = {"items": [{"text": "a" * 30}, {"text": "b" * 20}]}
        assert c.post("/api/moderate", json=fits, headers=bearer(key)).status_code == 200


def test_a_body_over_the_byte_limit_is_refused_before_it_is_parsed(settings: Settings, safety: WordChecker) -> None:
    with app_client(settings, safety, moderation_max_body_bytes=4096) as c:
        key = make_api_key(c.app.state.sessions)  # type: ignore[attr-defined]
        padded = b'{"items": [{"text": "hi"}]' + b" " * 5000 + b"}"
        r = c.post("/api/moderate", content=padded, headers={**bearer(key), "content-type": "application/json"})
        assert r.status_code == 413 and "4096 bytes" in r.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: the bytes are counted as they come
            yield b'{"items": [{"text": "hi"}]'
            for _ in range(10):
                yield b" " * 1000
            yield b"}"

        r = c.post("/api/moderate", content=chunks(), headers={**bearer(key), "content-type": "application/json"})
        assert r.status_code == 413
        r = c.post("/api/moderate", content=b"{}", headers={**bearer(key), "content-type": "application/json",
                                                             "content-length": "nonsense"})
        assert r.status_code in (400, 413)
        assert safety.calls == []
        assert c.post("/api/moderate", json=ONE, headers=bearer(key)).status_code == 200


# -- rate -----------------------------------------------------------------------------------------------
def test_requests_are_rate_limited_per_key(settings: Settings, safety: WordChecker) -> None:
    with app_client(settings, safety, moderation_requests_per_minute=2) as c:
        first, second = make_api_key(c.app.state.sessions), make_api_key(c.app.state.sessions)  # type: ignore[attr-defined]
        assert [c.post("/api/moderate", json=ONE, headers=bearer(first)).status_code for _ in range(2)] == [200, 200]
        refused = c.post("/api/moderate", json=ONE, headers=bearer(first))
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert len(safety.calls) == 4  # the refused request was not checked
        assert c.post("/api/moderate", json=ONE, headers=bearer(second)).status_code == 200  # another key is apart


def test_characters_are_rate_limited_per_key(settings: Settings, safety: WordChecker) -> None:
    with app_client(settings, safety, moderation_max_chars=100, moderation_chars_per_minute=150) as c:
        key = make_api_key(c.app.state.sessions)  # type: ignore[attr-defined]
        assert c.post("/api/moderate", json={"items": [{"text": "a" * 100}]}, headers=bearer(key)).status_code == 200
        assert c.post("/api/moderate", json={"items": [{"text": "b" * 60}]}, headers=bearer(key)).status_code == 429
        assert c.post("/api/moderate", json={"items": [{"text": "c" * 40}]}, headers=bearer(key)).status_code == 200


def test_without_keys_the_api_is_open_and_limited_per_address(settings: Settings, safety: WordChecker) -> None:
    with app_client(settings, safety, moderation_require_key=False, moderation_requests_per_minute=1) as c:
        assert c.post("/api/moderate", json=ONE).status_code == 200
        assert c.post("/api/moderate", json=ONE).status_code == 429
        assert c.post("/api/moderate", json=ONE, headers=bearer("kc_made-up")).status_code == 401  # a bad key is still bad


def test_limits_that_could_never_admit_a_full_request_are_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(moderation_max_chars=10_000, moderation_chars_per_minute=5_000)


# -- off the event loop ---------------------------------------------------------------------------------
class SlowChecker(WordChecker):
    """Blocks in `check` until released; records the thread and how many checks ran at once."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)
        self.threads: set[str] = set()
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def check(self, text, role, *, age=None, history=()):  # type: ignore[no-untyped-def]
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.threads.add(threading.current_thread().name)
        self.entered.release()
        self.release.wait(10)
        with self._lock:
            self.running -= 1
        return super().check(text, role, age=age, history=history)


def test_batches_run_in_the_guards_worker_thread_while_the_server_keeps_answering(settings: Settings) -> None:
    slow = SlowChecker()
    with app_client(settings, slow, moderation_workers=1) as c:
        key = make_api_key(c.app.state.sessions)  # type: ignore[attr-defined]
        body = {"items": [{"text": "hello"}]}
        with ThreadPoolExecutor(2) as pool:
            batches = [pool.submit(c.post, "/api/moderate", json=body, headers=bearer(key)) for _ in range(2)]
            assert slow.entered.acquire(timeout=10)  # a batch is being checked, and blocks there
            started = time.monotonic()
            assert c.get("/healthz").status_code == 200  # the event loop is free
            assert time.monotonic() - started < 5
            assert not slow.entered.acquire(timeout=0.3)  # the second batch waits for the one worker
            slow.release.set()
            assert [b.result(timeout=10).status_code for b in batches] == [200, 200]
    assert slow.most_at_once == 1
    assert slow.threads and all(name.startswith("kidchat-moderate") for name in slow.threads)


# -- hostile bodies -------------------------------------------------------------------------------------
def test_hostile_bodies_get_client_errors_not_server_errors(api: TestClient, safety: WordChecker) -> None:
    key = make_api_key(api.app.state.sessions)  # type: ignore[attr-defined]
    bodies = [
        b"[" * 50_000 + b"]" * 50_000,  # nested far past the parser's recursion limit
        b'{"items": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"items": [{"text": "\\ud800 lone surrogate"}]}',
        b"\xff\xfe not utf-8",
        b'{"items": [{"text": "hi"}], "items": []}',
        b"null",
    ]
    for body in bodies:
        r = api.post("/api/moderate", content=body, headers={**bearer(key), "content-type": "application/json"})
        assert r.status_code < 500, (body[:40], r.status_code)


def test_validation_errors_do_not_echo_the_callers_words(api: TestClient) -> None:
    key = make_api_key(api.app.state.sessions)  # type: ignore[attr-defined]
    for body in ({"items": [{"text": "my secret words", "role": "parent"}]}, {"items": [{"text": 5}], "\ud800": 1}):
        r = api.post("/api/moderate", content=json.dumps(body), headers={**bearer(key), "content-type": "application/json"})
        assert r.status_code == 422
        assert "my secret words" not in r.text and all("input" not in e for e in r.json()["detail"])


# Text as an attacker would write it: any code point, with lone surrogates (sent as JSON escapes), NUL,
# non-characters, direction marks and combining marks over-represented.
SPECIALS = st.sampled_from(["\x00", "\ud800", "\udfff", "\ufffe", "\uffff", "\ufdd0", "\u202e", "\u0301", "\U0010ffff", "\r\n"])
HOSTILE_TEXT = st.lists(st.one_of(st.text(st.characters(codec=None), max_size=20), SPECIALS), max_size=8).map("".join)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | HOSTILE_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(HOSTILE_TEXT, inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def real_checker():  # type: ignore[no-untyped-def]
    return build_checker()


@dataclass
class Roomy:
    client: TestClient
    headers: dict[str, str]


def roomy(settings: Settings, checker: object) -> Iterator[Roomy]:
    """The app with rate limits far above what a property test sends, and a key."""
    with app_client(settings, checker, moderation_requests_per_minute=100_000, moderation_chars_per_minute=10**7) as c:
        key = make_api_key(c.app.state.sessions)  # type: ignore[attr-defined]
        yield Roomy(c, {**bearer(key), "content-type": "application/json"})


@pytest.fixture
def roomy_real(settings: Settings, real_checker) -> Iterator[Roomy]:  # type: ignore[no-untyped-def]
    yield from roomy(settings, real_checker)


@pytest.fixture
def roomy_fake(settings: Settings, safety: WordChecker) -> Iterator[Roomy]:
    yield from roomy(settings, safety)


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(HOSTILE_TEXT, min_size=1, max_size=4), age=st.none() | st.integers(3, 17))
def test_any_text_is_judged_or_refused_with_422_never_a_server_error(roomy_real: Roomy, texts, age) -> None:  # type: ignore[no-untyped-def]
    """Through the real safety stage: valid Unicode is judged, one result per text, in order; a lone
    surrogate (it cannot be stored or encoded) is refused with 422."""
    body = json.dumps({"items": [{"text": t} for t in texts], "age": age})  # ASCII: surrogates as escapes
    r = roomy_real.client.post("/api/moderate", content=body, headers=roomy_real.headers)
    # What the server reads: a high and a low surrogate next to each other decode to one valid character.
    received = [item["text"] for item in json.loads(body)["items"]]
    if any(0xD800 <= ord(ch) <= 0xDFFF for t in received for ch in t):
        assert r.status_code == 422
    else:
        assert r.status_code == 200, r.text
        assert len(r.json()["results"]) == len(texts)


@hypothesis_settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=JSON_VALUES)
def test_any_json_body_gets_a_client_error_or_an_answer(roomy_fake: Roomy, value: object) -> None:
    body = json.dumps(value)
    r = roomy_fake.client.post("/api/moderate", content=body, headers=roomy_fake.headers)
    assert r.status_code in (200, 400, 422), (body[:80], r.status_code)
