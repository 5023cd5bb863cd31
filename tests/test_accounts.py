"""Accounts: sign-up and login with argon2 hashes, cookies, CSRF, rate limiting, the secret key, child
links and the websocket's identity."""

from __future__ import annotations

import stat

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from starlette.websockets import WebSocketDisconnect

from server.app import create_app
from server.auth.secret import SecretKeyError, resolve_secret_key
from server.config import Settings
from server.db.models import AuthSession, User
from tests.factories import PASSWORD, log_in, make_family, make_user, sign_in_child
from tests.test_chat_ws import start


def csrf_of(client: TestClient, path: str = "/login") -> str:
    page = client.get(path)
    return page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def signup(client: TestClient, email: str = "mom@example.com", password: str = "a long enough secret", name: str = "Mom"):
    token = csrf_of(client, "/signup")
    return client.post(
        "/signup", data={"display_name": name, "email": email, "password": password, "csrf_token": token},
        follow_redirects=False,
    )


def test_signup_stores_an_argon2id_hash_and_signs_in(anon_client: TestClient, database_url: str) -> None:
    response = signup(anon_client, email="Mom@Example.com")
    assert response.status_code == 303 and response.headers["location"] == "/parent"
    cookie = response.headers["set-cookie"]
    assert "kidchat_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain http here
    engine = create_engine(database_url)
    with Session(engine) as s:
        user = s.scalars(select(User)).one()
        sessions = list(s.scalars(select(AuthSession)))
    engine.dispose()
    assert user.email == "mom@example.com" and user.role == "parent"
    assert user.password_hash.startswith("$argon2id$") and "a long enough secret" not in user.password_hash
    # Only the token's hash is stored.
    token = cookie.split("kidchat_session=", 1)[1].split(";", 1)[0]
    assert [s.id for s in sessions] != [token] and len(sessions[0].id) == 64


def test_signup_errors_sit_next_to_their_fields(anon_client: TestClient) -> None:
    response = signup(anon_client, email="not-an-address", password="short")
    assert response.status_code == 400
    html = response.text
    assert 'id="f-email-err"' in html and 'aria-invalid="true"' in html
    assert 'id="f-password-err"' in html
    assert signup(anon_client).status_code == 303
    anon_client.cookies.clear()
    again = signup(anon_client)
    assert again.status_code == 400 and "already an account" in again.text


def test_cookies_are_secure_over_https(settings: Settings, engine, safety) -> None:
    with TestClient(create_app(settings, engine=engine, safety=safety), base_url="https://testserver") as c:
        response = signup(c)
    assert "Secure" in response.headers["set-cookie"]


def test_login_logout_and_wrong_password(anon_client: TestClient) -> None:
    email = "dad@example.com"
    make_user(anon_client.app.state.sessions, email=email)
    token = csrf_of(anon_client)
    bad = anon_client.post("/login", data={"email": email, "password": "wrong password!", "csrf_token": token})
    assert bad.status_code == 400 and "do not match" in bad.text
    log_in(anon_client, email)
    assert anon_client.get("/login", follow_redirects=False).headers["location"] == "/parent"
    logout = anon_client.post("/logout", data={"csrf_token": csrf_of(anon_client, "/")}, follow_redirects=False)
    assert logout.status_code == 303
    assert anon_client.get("/login", follow_redirects=False).status_code == 200  # signed out


def test_login_is_rate_limited_per_address(anon_client: TestClient) -> None:
    email = "slow@example.com"
    make_user(anon_client.app.state.sessions, email=email)
    token = csrf_of(anon_client)
    for _ in range(5):
        r = anon_client.post("/login", data={"email": email, "password": "guess guess guess", "csrf_token": token})
        assert r.status_code == 400
    blocked = anon_client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert blocked.status_code == 429  # even the right password waits out the window


def test_forms_refuse_a_missing_or_forged_csrf_token(anon_client: TestClient) -> None:
    email = "csrf@example.com"
    make_user(anon_client.app.state.sessions, email=email)
    no_token = anon_client.post("/login", data={"email": email, "password": PASSWORD}, follow_redirects=False)
    assert no_token.status_code == 403
    forged = anon_client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": "x.y.z"}, follow_redirects=False
    )
    assert forged.status_code == 403
    # A token made for another browser's cookie does not verify here.
    other = TestClient(anon_client.app)
    foreign = csrf_of(other)
    r = anon_client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": foreign}, follow_redirects=False)
    assert r.status_code == 403


def test_next_never_leaves_the_site(anon_client: TestClient) -> None:
    email = "next@example.com"
    make_user(anon_client.app.state.sessions, email=email)
    token = csrf_of(anon_client)
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        anon_client.cookies.delete("kidchat_session")
        r = anon_client.post(
            "/login", data={"email": email, "password": PASSWORD, "csrf_token": token, "next": target},
            follow_redirects=False,
        )
        assert r.headers["location"] == "/parent"


def test_secret_key_rules(tmp_path) -> None:
    with pytest.raises(SecretKeyError):
        resolve_secret_key(Settings(env="production", data_dir=tmp_path))
    with pytest.raises(SecretKeyError):
        resolve_secret_key(Settings(env="production", secret_key="change-me", data_dir=tmp_path))
    strong = "Qm7vT2xK9pLw4RzN8cYb3HfJ6dGs1AeU5nV0"  # 36 random characters ("k" * 40 is refused: test_auth_hardening)
    assert resolve_secret_key(Settings(env="production", secret_key=strong, data_dir=tmp_path)) == strong
    first = resolve_secret_key(Settings(env="dev", data_dir=tmp_path))
    assert len(first) >= 32
    assert resolve_secret_key(Settings(env="dev", data_dir=tmp_path)) == first  # kept across restarts
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


def test_the_app_refuses_to_start_in_production_without_a_key(tmp_path) -> None:
    with pytest.raises(SecretKeyError):
        create_app(Settings(env="production", data_dir=tmp_path))


def test_websocket_without_a_child_session_is_closed_with_1008(anon_client: TestClient) -> None:
    with anon_client.websocket_connect("/ws/chat") as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1008
    # An adult's session is not a child's.
    make_user(anon_client.app.state.sessions, email="adult@example.com")
    log_in(anon_client, "adult@example.com")
    with anon_client.websocket_connect("/ws/chat") as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1008


def test_websocket_from_another_site_is_refused(client: TestClient) -> None:
    with client.websocket_connect("/ws/chat", headers={"origin": "https://evil.example"}) as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1008
    with client.websocket_connect("/ws/chat", headers={"origin": "http://testserver"}) as ws:
        start(ws)


def test_a_bad_child_link_signs_nothing_in(anon_client: TestClient) -> None:
    r = anon_client.get("/c/not-a-real-token", follow_redirects=False)
    assert r.status_code == 404 and "kidchat_child" not in r.headers.get("set-cookie", "")
    assert r.headers["referrer-policy"] == "no-referrer"


def test_another_childs_conversation_gets_an_error_not_data(client: TestClient) -> None:
    with client.websocket_connect("/ws/chat") as ws:
        mine = start(ws)["conversation"]
        ws.send_json({"type": "message", "text": "my secret words"})
        while ws.receive_json()["type"] != "done":
            pass
    other = TestClient(client.app)
    sign_in_child(other, child_name="Other")
    with other.websocket_connect("/ws/chat") as ws:
        ws.send_json({"type": "start", "conversation": mine})
        frame = ws.receive_json()
    assert frame == {"type": "error", "code": "unknown_conversation", "message": frame["message"]}
    assert "secret" not in str(frame)


def test_signing_the_childs_devices_out_closes_the_open_socket(client: TestClient) -> None:
    from server.db import accounts
    from server.db.session import transaction

    with client.websocket_connect("/ws/chat") as ws:
        start(ws)
        sessions = client.app.state.sessions
        with transaction(sessions) as s:
            for row in s.scalars(select(AuthSession).where(AuthSession.kind == "child")):
                accounts.close_child_sessions(s, row.child_id)
        ws.send_json({"type": "message", "text": "still here?"})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1008


def test_kids_page_needs_a_child_session(anon_client: TestClient) -> None:
    page = anon_client.get("/")
    assert "kidchat-config" not in page.text and "/login" in page.text
    family = make_family(anon_client.app.state.sessions, child_name="Juno", allowed_personas=["reading-buddy"])
    anon_client.get(f"/c/{family.link_token}")
    page = anon_client.get("/")
    assert 'data-persona="reading-buddy"' in page.text
    assert 'data-persona="soeun-mom"' not in page.text  # not allowed for this child


def test_pages_carry_security_headers(client: TestClient) -> None:
    page = client.get("/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
