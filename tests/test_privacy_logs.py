"""Children's words, child-link tokens, search terms, passwords and session cookies never reach a log.

A real server (uvicorn in a child process, started with `kidchat serve`'s own uvicorn options, at debug
level, on the scripted engine, with a local SMTP server) is driven over HTTP and the websocket the way a
family uses it: a parent signs up by e-mail and adds a child; the child link is opened (and again, and a
made-up one); the child chats (a plain message, a blocked one, a disclosure, Korean, a lone surrogate);
the parent searches the transcripts; a new browser fails a login and then signs in with an e-mailed
link. Then every line the process wrote, on stdout and stderr, from every logger, is searched for every
secret it was sent: none may appear, in plain or URL-encoded form.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pytest
from websockets.sync.client import connect

from server.db.migrate import upgrade_head

ROOT = Path(__file__).resolve().parents[1]
SERVER = """
import uvicorn
from server.app import create_app
from server.cli import uvicorn_options
from server.config import Settings
from server.llm.fake import ScriptedEngine
from tests.fakes import WordChecker

settings = Settings()
app = create_app(settings, engine=ScriptedEngine(delay=0.005), safety=WordChecker())
uvicorn.run(app, **uvicorn_options(settings))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def csrf(client: httpx.Client, path: str) -> str:
    return client.get(path).text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


@pytest.fixture
def mailbox():  # type: ignore[no-untyped-def]
    """A real local SMTP server: with it, sign-up goes by e-mail and alerts are e-mailed."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message as MessageHandler

    received: list = []

    class Collect(MessageHandler):
        def handle_message(self, message) -> None:  # type: ignore[no-untyped-def]
            received.append(message)

    port = _free_port()
    controller = Controller(Collect(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()


@pytest.fixture
def live(tmp_path: Path, mailbox):  # type: ignore[no-untyped-def]
    port = _free_port()
    url = f"sqlite:///{tmp_path / 'kidchat.db'}"
    upgrade_head(url)
    env = {
        "KIDCHAT_SMTP_HOST": "127.0.0.1",
        "KIDCHAT_SMTP_PORT": str(mailbox[0]),
        "KIDCHAT_PUBLIC_URL": f"http://127.0.0.1:{port}",
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "KIDCHAT_DATABASE_URL": url,
        "KIDCHAT_DATA_DIR": str(tmp_path),
        "KIDCHAT_PORT": str(port),
        "KIDCHAT_HOST": "127.0.0.1",
        "KIDCHAT_LOG_LEVEL": "debug",
        "KIDCHAT_PURGE_INTERVAL_MINUTES": "0",
    }
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVER], cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("the server did not start:\n" + log_path.read_text(errors="replace"))
            time.sleep(0.1)
        try:
            yield base, port, log_path, mailbox[1]
        finally:
            proc.send_signal(signal.SIGINT)  # a graceful shutdown: its log lines are part of the run
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def chat(port: int, cookie: str, texts: list[str]) -> None:
    headers = {"Cookie": f"kidchat_child={cookie}"}
    with connect(f"ws://127.0.0.1:{port}/ws/chat", additional_headers=headers,
                 origin=f"http://127.0.0.1:{port}", open_timeout=10) as ws:
        ws.send(json.dumps({"type": "start", "persona": "reading-buddy"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "ready"
        for text in texts:
            ws.send(json.dumps({"type": "message", "text": text}))
            while True:
                frame = json.loads(ws.recv(timeout=10))
                if frame["type"] in ("done", "error"):
                    break


def test_no_log_line_holds_a_message_token_search_term_or_password(live) -> None:  # type: ignore[no-untyped-def]
    base, port, log_path, mails = live
    tag = secrets.token_hex(4)
    password = f"parent password {tag}"
    email = f"parent-{secrets.token_hex(3)}@example.com"
    messages = [
        f"my secret garden is behind the shed {tag}",
        f"badword from a child {tag}",  # blocked by the checker
        f"sad-forever and alone {tag}",  # a disclosure: an alert for the parent
        f"우리 집 비밀번호는 {tag} 이에요",
        f"a lone surrogate \ud800 in words {tag}",  # refused one way or another: never quoted in an error
    ]
    search_terms = [f"garden{tag}", f"shed {tag}", f"비밀번호 {tag}"]
    secrets_sent: list[str] = [password, *messages, *search_terms]

    parent = httpx.Client(base_url=base)
    token = csrf(parent, "/signup")
    r = parent.post("/signup", data={"display_name": "Pat", "email": email, "csrf_token": token})
    assert r.status_code == 200, r.text
    for _ in range(100):
        if mails:
            break
        time.sleep(0.05)
    body = mails[0].get_payload(decode=True).decode("utf-8")
    signup_link = re.search(rf"{re.escape(base)}(/signup/confirm/\S+)", body).group(1)
    secrets_sent.append(signup_link.rsplit("/", 1)[1])
    token = csrf(parent, signup_link)
    r = parent.post(signup_link, data={"password": password, "csrf_token": token})
    assert r.status_code == 303, r.text
    page = parent.post("/parent/children", data={
        "name": "Mina", "age": "7", "language": "en", "timezone": "UTC", "csrf_token": csrf(parent, "/parent"),
    })
    link = re.search(r'id="child-link" type="text" readonly value="([^"]+)"', page.text).group(1)
    link_token = link.rsplit("/c/", 1)[1]
    child_id = re.search(r'href="/parent/children/([0-9a-f]{32})"', page.text).group(1)
    secrets_sent.append(link_token)

    kid = httpx.Client(base_url=base)
    assert kid.get(f"/c/{link_token}").status_code == 303  # to the kids' page, signed in
    child_cookie = kid.cookies["kidchat_child"]
    secrets_sent += [child_cookie, parent.cookies["kidchat_session"]]
    assert httpx.get(f"{base}/c/{link_token}").status_code == 404  # spent
    made_up = secrets.token_urlsafe(32)
    assert httpx.get(f"{base}/c/{made_up}").status_code == 404
    secrets_sent.append(made_up)

    chat(port, child_cookie, messages)

    for term in search_terms:
        assert parent.get(f"/parent/children/{child_id}", params={"q": term}).status_code == 200
    parent.get("/lang", params={"to": "ko", "next": f"/parent/children/{child_id}?q={search_terms[0]}"})
    stranger = httpx.Client(base_url=base)
    wrong = f"wrong guess {tag}"
    secrets_sent.append(wrong)
    assert stranger.post("/login", data={"email": email, "password": wrong, "csrf_token": csrf(stranger, "/login")}).status_code == 400
    # The e-mailed sign-in link, asked for from a new browser, opened and used.
    assert stranger.post("/login/link", data={"email": email, "csrf_token": csrf(stranger, "/login")}).status_code == 200
    login_link = None
    for _ in range(100):
        bodies = [m.get_payload(decode=True).decode("utf-8") for m in mails]
        found = [re.search(rf"{re.escape(base)}(/login/link/\S+)", b) for b in bodies]
        if any(found):
            login_link = next(f for f in found if f).group(1)
            break
        time.sleep(0.05)
    secrets_sent.append(login_link.rsplit("/", 1)[1])
    assert stranger.post(login_link, data={"csrf_token": csrf(stranger, login_link)}).status_code == 303
    for client in (parent, kid, stranger):
        client.close()

    time.sleep(0.3)  # let the last lines reach the file
    log = log_path.read_text(encoding="utf-8", errors="replace")
    # The log is really there: requests, the websocket and the redacted child link are in it.
    assert "POST /signup" in log and "GET /c/[redacted] HTTP/1.1" in log and "POST /signup/confirm/[redacted]" in log and '"WebSocket /ws/chat" [accepted]' in log
    assert f"GET /parent/children/{child_id} HTTP/1.1" in log and "POST /login/link/[redacted]" in log
    # Debug level: the websocket's handshake and frames were logged, without cookies or text.
    assert "< TEXT [redacted]" in log and "< cookie: [redacted]" in log
    lowered = log.lower()
    forms = {s: {s, quote(s, errors="surrogatepass"), quote_plus(s, errors="surrogatepass")} for s in secrets_sent}
    leaks = [s for s, encoded in forms.items() for form in encoded if form.lower() in lowered]
    assert leaks == []
    assert tag not in log  # every message, term and password carries it: not even a fragment got through
