"""Issue 13, accounts and secrets: child links open once, "sign out devices" spends an unused link, the
database files are private, the access log carries no query string or child-link token, logins are
throttled per address and source without locking the owner's known devices out, production insists on
TLS and a strong key and publishes no API docs."""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
import stat
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.websockets import WebSocketDisconnect

from server.access_log import RedactingFilter, redact
from server.app import create_app
from server.auth.deployment import DeploymentError
from server.auth.secret import SecretKeyError, key_is_weak, resolve_secret_key
from server.config import Settings
from server.db.migrate import upgrade_head
from server.db.models import AuthSession, Child, User
from server.db.session import transaction
from server.llm.fake import ScriptedEngine
from tests.factories import PASSWORD, log_in, make_family, make_user
from tests.fakes import WordChecker
from tests.test_chat_ws import recv_until, start

STRONG_KEY = secrets.token_urlsafe(48)


def csrf_of(client: TestClient, path: str = "/login") -> str:
    return client.get(path).text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def child_sessions(client: TestClient, child_id: str) -> int:
    with transaction(client.app.state.sessions) as s:
        return len(list(s.scalars(select(AuthSession).where(AuthSession.child_id == child_id))))


def login(client: TestClient, email: str, password: str) -> int:
    token = csrf_of(client)
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}, follow_redirects=False
    ).status_code


# -- finding 6: child links ---------------------------------------------------------------------------
def test_a_child_link_opens_once_and_the_device_keeps_its_session(anon_client: TestClient) -> None:
    family = make_family(anon_client.app.state.sessions)
    first = anon_client.get(f"/c/{family.link_token}", follow_redirects=False)
    assert first.status_code == 303 and "kidchat_child=" in first.headers["set-cookie"]
    # Someone who read the link (a log, a history, a screen) gets nothing.
    thief = TestClient(anon_client.app)
    stolen = thief.get(f"/c/{family.link_token}", follow_redirects=False)
    assert stolen.status_code == 404 and "kidchat_child" not in stolen.headers.get("set-cookie", "")
    assert child_sessions(anon_client, family.child_id) == 1
    with thief.websocket_connect("/ws/chat") as ws:  # no child session: refused
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1008
    # The first device still chats, and opening the spent link again just goes to the kids' page.
    with anon_client.websocket_connect("/ws/chat") as ws:
        start(ws)
        ws.send_json({"type": "message", "text": "still me"})
        assert recv_until(ws, "done")[-1]["type"] == "done"
    again = anon_client.get(f"/c/{family.link_token}", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/"
    assert "kidchat_child=" not in again.headers.get("set-cookie", "")  # the same session, not a new one


def test_an_unused_child_link_expires(settings: Settings, safety: WordChecker) -> None:
    later = datetime.now(UTC) + timedelta(hours=settings.child_link_hours, minutes=1)
    with TestClient(create_app(settings, engine=ScriptedEngine(), safety=safety, clock=lambda: later)) as client:
        family = make_family(client.app.state.sessions)
        assert client.get(f"/c/{family.link_token}", follow_redirects=False).status_code == 404
    with TestClient(create_app(settings, engine=ScriptedEngine(), safety=safety)) as client:
        fresh = make_family(client.app.state.sessions)
        assert client.get(f"/c/{fresh.link_token}", follow_redirects=False).status_code == 303


def test_signing_devices_out_also_spends_the_unused_link(anon_client: TestClient) -> None:
    family = make_family(anon_client.app.state.sessions)
    kid = TestClient(anon_client.app)
    assert kid.get(f"/c/{family.link_token}", follow_redirects=False).status_code == 303
    parent = TestClient(anon_client.app)
    log_in(parent, family.email)
    page = parent.post(
        f"/parent/children/{family.child_id}/link", data={"csrf_token": csrf_of(parent, "/parent")}
    )
    unused = re.search(r'id="child-link" type="text" readonly value="[^"]*/c/([^"]+)"', page.text).group(1)
    done = parent.post(
        f"/parent/children/{family.child_id}/signout", data={"csrf_token": csrf_of(parent, "/parent")},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert child_sessions(anon_client, family.child_id) == 0
    late = TestClient(anon_client.app)
    assert late.get(f"/c/{unused}", follow_redirects=False).status_code == 404
    with transaction(anon_client.app.state.sessions) as s:
        assert s.get(Child, family.child_id).link_token_hash is None
    # A new link works again.
    page = parent.post(
        f"/parent/children/{family.child_id}/link", data={"csrf_token": csrf_of(parent, "/parent")}
    )
    renewed = re.search(r'value="[^"]*/c/([^"]+)"', page.text).group(1)
    assert late.get(f"/c/{renewed}", follow_redirects=False).status_code == 303


# -- finding 7: file modes ----------------------------------------------------------------------------
@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual default: files 0644, folders 0755
    try:
        yield
    finally:
        os.umask(old)


def test_database_files_key_and_data_dir_are_private(tmp_path: Path, loose_umask: None) -> None:
    data = tmp_path / "var"
    url = f"sqlite:///{data / 'kidchat.db'}"
    upgrade_head(url)  # the first migration creates the file
    settings = Settings(database_url=url, data_dir=data, purge_interval_minutes=0)
    app = create_app(settings, engine=ScriptedEngine(), safety=WordChecker())
    with TestClient(app) as client:
        family = make_family(app.state.sessions)
        client.get(f"/c/{family.link_token}")
        with client.websocket_connect("/ws/chat") as ws:
            start(ws)
            ws.send_json({"type": "message", "text": "hello"})
            recv_until(ws, "done")
        db = data / "kidchat.db"
        sidecars = [data / "kidchat.db-wal", data / "kidchat.db-shm"]
        assert all(p.exists() for p in sidecars)  # WAL mode, written to: both exist while the app runs
        assert {p.name: mode(p) for p in [db, *sidecars]} == {p.name: 0o600 for p in [db, *sidecars]}
    assert mode(data) == 0o700
    assert mode(data / "secret_key") == 0o600


def test_files_made_before_the_fix_are_tightened(tmp_path: Path, loose_umask: None) -> None:
    data = tmp_path / "var"
    data.mkdir(mode=0o755)
    db = data / "kidchat.db"
    url = f"sqlite:///{db}"
    db.touch(mode=0o644)
    (data / "kidchat.db-wal").touch(mode=0o644)
    (data / "secret_key").write_text("an old generated key that is long enough to use here\n")
    (data / "secret_key").chmod(0o644)
    upgrade_head(url)
    create_app(Settings(database_url=url, data_dir=data), engine=ScriptedEngine(), safety=WordChecker())
    assert (mode(db), mode(data / "kidchat.db-wal"), mode(data / "secret_key"), mode(data)) == (
        0o600, 0o600, 0o600, 0o700,
    )


# -- finding 8: the access log ------------------------------------------------------------------------
def test_access_log_has_no_query_string_and_no_child_link_token(
    anon_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    family = make_family(anon_client.app.state.sessions)
    parent = TestClient(anon_client.app)
    log_in(parent, family.email)
    with caplog.at_level(logging.INFO, logger="kidchat.access"):
        anon_client.get(f"/c/{family.link_token}")
        parent.get(f"/parent/children/{family.child_id}?q=secret-search-words&flagged=1")
        parent.get("/lang?to=ko&next=/parent%3Fq%3Dhidden-words")
    lines = [r.getMessage() for r in caplog.records if r.name == "kidchat.access"]
    assert any("GET /c/[redacted] HTTP/1.1\" 303" in line for line in lines), lines
    assert any(f"GET /parent/children/{family.child_id} HTTP/1.1\" 200" in line for line in lines), lines
    joined = "\n".join(lines)
    assert family.link_token not in joined and "secret-search-words" not in joined and "hidden" not in joined
    assert "?" not in joined


def test_the_redacting_filter_covers_uvicorn_and_websockets_lines() -> None:
    token = secrets.token_urlsafe(32)
    assert redact(f'127.0.0.1:5 - "GET /c/{token} HTTP/1.1" 303') == '127.0.0.1:5 - "GET /c/[redacted] HTTP/1.1" 303'
    assert redact('1.2.3.4:9 - "GET /parent/children/ab?q=my+words HTTP/1.1" 200') == (
        '1.2.3.4:9 - "GET /parent/children/ab?[redacted] HTTP/1.1" 200'
    )
    assert redact('< TEXT \'{"type":"message","text":"my words"}\' [41 bytes]') == "< TEXT [redacted]"
    assert redact("> TEXT '{\"type\":\"delta\"}' [17 bytes]") == "> TEXT [redacted]"
    assert redact(f"< cookie: kidchat_child={token}; kidchat_lang=en") == "< cookie: [redacted]"
    assert redact(redact(f"GET /c/{token} HTTP/1.1")) == "GET /c/[redacted] HTTP/1.1"  # idempotent
    assert redact("Is this fine? yes") == "Is this fine? yes"
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, '%s - "WebSocket %s" [accepted]',
                               ("1.2.3.4:5", f"/ws/chat?c=/c/{token}"), None)
    try:
        raise ValueError(f"bad link /c/{token}")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    formatted = logging.Formatter().format(record)
    assert token not in formatted and "WebSocket /ws/chat?[redacted]" in formatted


def test_database_errors_do_not_quote_the_values(settings: Settings) -> None:
    from sqlalchemy.exc import IntegrityError

    from server.db.session import make_engine, make_sessionmaker

    engine = make_engine(settings.resolved_database_url)
    try:
        with pytest.raises(IntegrityError) as raised:
            with transaction(make_sessionmaker(engine)) as s:
                s.add(Child(id="c1", parent_id="no-such-parent", name="words-of-a-child", age=7, language="en"))
        assert "words-of-a-child" not in str(raised.value)
    finally:
        engine.dispose()


# -- finding 10: login throttling and sign-up ---------------------------------------------------------
def test_guesses_elsewhere_do_not_lock_the_owners_known_device_out(anon_client: TestClient) -> None:
    email = "owner@example.com"
    make_user(anon_client.app.state.sessions, email=email)
    owner = TestClient(anon_client.app)
    assert login(owner, email, PASSWORD) == 303 and "kidchat_device" in owner.cookies
    owner.post("/logout", data={"csrf_token": csrf_of(owner, "/")})
    attacker = TestClient(anon_client.app)
    for _ in range(5):
        assert login(attacker, email, "guess guess guess") == 400
    assert login(attacker, email, "guess guess guess") == 429
    assert login(TestClient(anon_client.app), email, PASSWORD) == 429  # an unknown browser waits out the window
    assert login(owner, email, PASSWORD) == 303  # the owner's device is not locked out


def test_a_known_device_has_its_own_limit(anon_client: TestClient) -> None:
    email = "own-limit@example.com"
    make_user(anon_client.app.state.sessions, email=email)
    device = TestClient(anon_client.app)
    assert login(device, email, PASSWORD) == 303
    device.cookies.delete("kidchat_session")
    for _ in range(5):
        assert login(device, email, "wrong wrong wrong") == 400
    assert login(device, email, PASSWORD) == 429
    # Its failures did not count against the address: another browser may still try.
    assert login(TestClient(anon_client.app), email, PASSWORD) == 303


def test_a_device_cookie_counts_only_for_its_own_account(anon_client: TestClient) -> None:
    make_user(anon_client.app.state.sessions, email="mine@example.com")
    make_user(anon_client.app.state.sessions, email="victim@example.com")
    attacker = TestClient(anon_client.app)
    assert login(attacker, "mine@example.com", PASSWORD) == 303  # a real device cookie, for another account
    attacker.cookies.delete("kidchat_session")
    for _ in range(5):
        login(attacker, "victim@example.com", "guess guess guess")
    assert login(attacker, "victim@example.com", PASSWORD) == 429  # counted per address, not per its device
    forged = TestClient(anon_client.app, cookies={"kidchat_device": "x.y.z"})
    assert login(forged, "victim@example.com", PASSWORD) == 429


def test_failures_from_one_source_are_limited_across_addresses(settings: Settings, safety: WordChecker) -> None:
    limited = settings.model_copy(update={"login_max_failures_per_ip": 3})
    with TestClient(create_app(limited, engine=ScriptedEngine(), safety=safety)) as client:
        make_user(client.app.state.sessions, email="someone@example.com")
        for i in range(3):
            assert login(client, f"guess{i}@example.com", "guess guess guess") == 400
        assert login(client, "someone@example.com", PASSWORD) == 429


def test_forwarded_client_address_counts_only_from_a_trusted_proxy(settings: Settings, safety: WordChecker) -> None:
    limited = settings.model_copy(update={"login_max_failures_per_ip": 2, "forwarded_allow_ips": "testclient"})
    with TestClient(create_app(limited, engine=ScriptedEngine(), safety=safety)) as client:
        make_user(client.app.state.sessions, email="p@example.com")
        for i in range(2):
            token = csrf_of(client)
            client.post("/login", data={"email": f"x{i}@example.com", "password": "nope nope nope", "csrf_token": token},
                        headers={"x-forwarded-for": "203.0.113.7"})
        token = csrf_of(client)
        other_source = client.post(
            "/login", data={"email": "p@example.com", "password": PASSWORD, "csrf_token": token},
            headers={"x-forwarded-for": "198.51.100.9"}, follow_redirects=False,
        )
        assert other_source.status_code == 303  # a different client behind the proxy is not limited


def test_sign_up_answers_for_taken_addresses_are_rate_limited(settings: Settings, safety: WordChecker) -> None:
    limited = settings.model_copy(update={"signups_per_ip_per_hour": 3})
    with TestClient(create_app(limited, engine=ScriptedEngine(), safety=safety)) as client:
        for i in range(3):
            make_user(client.app.state.sessions, email=f"taken{i}@example.com")
        statuses = []
        for i in range(4):
            token = csrf_of(client, "/signup")
            statuses.append(client.post("/signup", data={
                "display_name": "X", "email": f"taken{i % 3}@example.com", "password": "long enough secret",
                "csrf_token": token,
            }).status_code)
        assert statuses == [400, 400, 400, 429]


@pytest.fixture
def mailbox() -> Iterator[tuple[int, list]]:
    """A real local SMTP server (aiosmtpd) and the messages it received."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message as MessageHandler

    received: list = []

    class Collect(MessageHandler):
        def handle_message(self, message) -> None:  # type: ignore[no-untyped-def]
            received.append(message)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    controller = Controller(Collect(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()


def without_csrf(html: str) -> str:
    """A page without its CSRF tokens (they differ per browser and per second)."""
    return re.sub(r'(name="csrf_token" value="|name="csrf-token" content=")[^"]*"', "", html)


def wait_for(received: list, n: int) -> None:
    for _ in range(100):
        if len(received) >= n:
            return
        time.sleep(0.05)


def body_of(message) -> str:  # type: ignore[no-untyped-def]
    return message.get_payload(decode=True).decode("utf-8")


def test_sign_up_by_email_answers_the_same_for_known_and_new_addresses(
    settings: Settings, safety: WordChecker, mailbox: tuple[int, list]
) -> None:
    port, received = mailbox
    mail = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port, "public_url": "https://k.example"})
    with TestClient(create_app(mail, engine=ScriptedEngine(), safety=safety)) as client:
        make_user(client.app.state.sessions, email="known@example.com")
        form = client.get("/signup").text
        assert 'name="password"' not in form  # chosen on the link's page

        def sign_up(address: str):  # type: ignore[no-untyped-def]
            token = csrf_of(client, "/signup")
            return client.post("/signup", data={"display_name": "Jo", "email": address, "csrf_token": token},
                               follow_redirects=False)

        known, new = sign_up("known@example.com"), sign_up("new@example.com")
        wait_for(received, 2)
        assert (known.status_code, without_csrf(known.text)) == (new.status_code, without_csrf(new.text))
        assert known.status_code == 200 and "Check your e-mail" in known.text
        assert known.headers.get("set-cookie", "").count("kidchat_session") == 0
        by_to = {m["To"]: body_of(m) for m in received}
        assert set(by_to) == {"known@example.com", "new@example.com"}
        assert "already has one" in by_to["known@example.com"] and "/signup/confirm/" not in by_to["known@example.com"]
        link = re.search(r"https://k\.example(/signup/confirm/\S+)", by_to["new@example.com"]).group(1)
        with transaction(client.app.state.sessions) as s:
            assert s.scalar(select(User).where(User.email == "new@example.com")) is None  # nothing until the link

        page = client.get(link)
        assert page.status_code == 200 and "new@example.com" in page.text
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        short = client.post(link, data={"password": "short", "csrf_token": token})
        assert short.status_code == 400
        done = client.post(link, data={"password": "a long family password", "csrf_token": token},
                           follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == "/parent"
        assert "kidchat_session=" in done.headers["set-cookie"]
        assert client.get("/parent", follow_redirects=False).status_code == 200
        # The link cannot make a second account, nor change the first one's password.
        client.cookies.delete("kidchat_session")
        again = client.post(link, data={"password": "another long password", "csrf_token": token},
                            follow_redirects=False)
        assert again.headers["location"] == "/login"
        assert login(client, "new@example.com", "another long password") == 400
        assert login(client, "new@example.com", "a long family password") == 303
        # A forged or altered link does nothing.
        assert client.get("/signup/confirm/" + link.rsplit("/", 1)[1][:-2] + "xx").status_code == 404


def test_an_emailed_sign_in_link_gets_the_owner_in_from_a_new_browser_during_a_lockout(
    settings: Settings, safety: WordChecker, mailbox: tuple[int, list]
) -> None:
    port, received = mailbox
    mail = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port, "public_url": "https://k.example"})
    with TestClient(create_app(mail, engine=ScriptedEngine(), safety=safety)) as app_client:
        app = app_client.app
        email = "locked@example.com"
        make_user(app.state.sessions, email=email)
        attacker = TestClient(app)
        for _ in range(5):
            login(attacker, email, "guess guess guess")
        owner = TestClient(app)  # a browser the owner never used: locked like the attacker's
        assert login(owner, email, PASSWORD) == 429
        assert 'formaction="/login/link"' in owner.get("/login").text

        def ask(client: TestClient, address: str):  # type: ignore[no-untyped-def]
            return client.post("/login/link", data={"email": address, "csrf_token": csrf_of(client)})

        known, unknown = ask(owner, email), ask(attacker, "nobody@example.com")
        wait_for(received, 2)
        assert (known.status_code, without_csrf(known.text)) == (unknown.status_code, without_csrf(unknown.text))
        by_to = {m["To"]: body_of(m) for m in received}
        assert "/login/link/" not in by_to["nobody@example.com"]
        link = re.search(r"https://k\.example(/login/link/\S+)", by_to[email]).group(1)

        page = owner.get(link)  # a page with a button: fetching the link spends nothing
        assert page.status_code == 200 and owner.get(link).status_code == 200
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        used = owner.post(link, data={"csrf_token": token}, follow_redirects=False)
        assert used.status_code == 303 and used.headers["location"] == "/parent"
        assert owner.get("/parent", follow_redirects=False).status_code == 200
        assert owner.post(link, data={"csrf_token": token}, follow_redirects=False).status_code == 404  # once
        # The browser is a known device now: its password works while the lockout lasts elsewhere.
        owner.cookies.delete("kidchat_session")
        assert login(owner, email, PASSWORD) == 303
        assert login(attacker, email, PASSWORD) == 429
        # Links are limited per address: three an hour.
        assert ask(attacker, email).status_code == 200
        assert ask(attacker, email).status_code == 200
        assert ask(attacker, email).status_code == 429
        assert attacker.get("/login/link/" + link.rsplit("/", 1)[1][:-2] + "xx").status_code == 404


def test_no_sign_in_links_without_smtp(anon_client: TestClient) -> None:
    assert 'formaction="/login/link"' not in anon_client.get("/login").text
    assert anon_client.post("/login/link", data={"email": "a@example.com", "csrf_token": csrf_of(anon_client)}).status_code == 404


# -- finding 11: production ---------------------------------------------------------------------------
def production(tmp_path: Path, database_url: str, **extra: object) -> Settings:
    return Settings(env="production", secret_key=STRONG_KEY, data_dir=tmp_path, database_url=database_url, **extra)


def test_a_key_of_identical_letters_or_a_sequence_is_refused(tmp_path: Path) -> None:
    for weak in ("k" * 36, "k" * 80, "abcdefghijklmnopqrstuvwxyz0123456789", "0123456789abcdef" * 3):
        assert key_is_weak(weak)
        with pytest.raises(SecretKeyError):
            resolve_secret_key(Settings(env="production", secret_key=weak, data_dir=tmp_path))
    for strong in (secrets.token_urlsafe(24), secrets.token_urlsafe(64), secrets.token_hex(32)):
        assert not key_is_weak(strong)


def test_production_refuses_to_start_without_tls_settings(tmp_path: Path, database_url: str) -> None:
    with pytest.raises(DeploymentError):
        create_app(production(tmp_path, database_url), engine=ScriptedEngine(), safety=WordChecker())
    with pytest.raises(DeploymentError):
        create_app(production(tmp_path, database_url, forwarded_allow_ips="127.0.0.1", cookie_secure="never"),
                   engine=ScriptedEngine(), safety=WordChecker())
    with pytest.raises(DeploymentError):
        create_app(production(tmp_path, database_url, forwarded_allow_ips="127.0.0.1", public_url="http://x.example"),
                   engine=ScriptedEngine(), safety=WordChecker())
    with pytest.raises(DeploymentError):
        create_app(production(tmp_path, database_url, ssl_certfile=tmp_path / "cert.pem"),
                   engine=ScriptedEngine(), safety=WordChecker())


def test_production_cookies_are_always_secure_and_docs_are_off(tmp_path: Path, database_url: str) -> None:
    settings = production(tmp_path, database_url, forwarded_allow_ips="10.0.0.1")
    with TestClient(create_app(settings, engine=ScriptedEngine(), safety=WordChecker())) as client:
        make_user(client.app.state.sessions, email="prod@example.com")
        # Plain http from an untrusted address: the cookie still carries Secure (the browser drops it).
        page = client.get("/login")
        assert "Secure" in page.headers["set-cookie"]
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        client.cookies.set("kidchat_csrf", page.headers["set-cookie"].split("kidchat_csrf=", 1)[1].split(";", 1)[0])
        response = client.post("/login", data={"email": "prod@example.com", "password": PASSWORD, "csrf_token": token},
                               follow_redirects=False)
        assert response.status_code == 303
        cookies = response.headers.get_list("set-cookie")
        assert cookies and all("Secure" in c for c in cookies)
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(path).status_code == 404, path


def test_docs_stay_on_outside_production(anon_client: TestClient) -> None:
    assert anon_client.get("/openapi.json").status_code == 200


def test_forwarded_proto_is_trusted_only_from_the_configured_proxy(settings: Settings, safety: WordChecker) -> None:
    https = {"x-forwarded-proto": "https"}
    with TestClient(create_app(settings, engine=ScriptedEngine(), safety=safety)) as untrusted:
        assert "Secure" not in untrusted.get("/login", headers=https).headers["set-cookie"]
    trusted = settings.model_copy(update={"forwarded_allow_ips": "testclient"})
    with TestClient(create_app(trusted, engine=ScriptedEngine(), safety=safety)) as behind_proxy:
        assert "Secure" in behind_proxy.get("/login", headers=https).headers["set-cookie"]


def test_serve_turns_uvicorns_access_log_off_and_redacts_every_line() -> None:
    from server.cli import uvicorn_options

    options = uvicorn_options(Settings())
    assert options["access_log"] is False and options["proxy_headers"] is False
    handler = options["log_config"]["handlers"]["default"]
    assert handler["filters"] == ["redact"]
    with pytest.raises(ValueError):
        Settings(log_level="trace")  # uvicorn's trace level logs whole ASGI scopes, cookies included
