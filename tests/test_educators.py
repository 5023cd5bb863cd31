"""Educators: the persona editor (validation next to the field), versions, history with diffs, rollback,
YAML export, the preview chat; new conversations use the new version at once, old ones keep theirs.
Admins make educator accounts; the CLI makes admins."""

from __future__ import annotations

import json
import re

import yaml
from click.testing import CliRunner
from fastapi.testclient import TestClient

from server.llm.fake import ScriptedEngine
from server.personas import parse_persona
from tests.factories import log_in, make_user
from tests.test_chat_ws import recv_until, start


def csrf_of(client: TestClient, path: str) -> str:
    return client.get(path).text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def educator(app, role: str = "educator") -> TestClient:  # type: ignore[no-untyped-def]
    """A client logged in as a new educator (or admin) named Ms Kim."""
    c = TestClient(app)
    email = f"{role}-{id(c)}@example.com"
    make_user(app.state.sessions, role=role, email=email, name="Ms Kim")
    log_in(c, email)
    return c


def form_of(client: TestClient, persona_id: str) -> dict[str, list[str]]:
    """The editor's form as the browser would send it."""
    html = client.get(f"/educator/personas/{persona_id}").text
    form = html.split('id="persona-form"', 1)[1].split("</form>", 1)[0]
    data: dict[str, list[str]] = {}
    for m in re.finditer(r'<input([^>]*)>', form):
        attrs = dict(re.findall(r'(\w[\w-]*)="([^"]*)"', m.group(1)))
        if "name" not in attrs:
            continue
        if attrs.get("type") in ("checkbox", "radio") and " checked" not in m.group(1):
            continue
        data.setdefault(attrs["name"], []).append(_unescape(attrs.get("value", "")))
    for m in re.finditer(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S):
        data[m.group(1)] = [_unescape(m.group(2))]
    return data


def _unescape(text: str) -> str:
    import html

    return html.unescape(text)


def post_form(client: TestClient, url: str, data: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    pairs = [(k, v) for k, values in data.items() for v in values]
    return client.post(url, content=__import__("urllib.parse").parse.urlencode(pairs),
                       headers={"content-type": "application/x-www-form-urlencoded"}, follow_redirects=False)


def test_saving_makes_a_new_version_that_new_conversations_use_at_once(client: TestClient) -> None:
    edu = educator(client.app)
    listing = edu.get("/educator")
    assert 'data-persona="reading-buddy"' in listing.text and "v1" in listing.text
    with client.websocket_connect("/ws/chat") as ws:
        before = start(ws, "reading-buddy")
    data = form_of(edu, "reading-buddy")
    data["greeting.en"] = ["Hello from version two!"]
    data["note"] = ["friendlier greeting"]
    from server.db.session import transaction

    with transaction(client.app.state.sessions) as s:
        v1 = client.app.state.personas.current(s, "reading-buddy").persona
    saved = post_form(edu, "/educator/personas/reading-buddy", data)
    assert saved.status_code == 303 and saved.headers["location"].endswith("saved=1")
    with client.websocket_connect("/ws/chat") as ws:
        after = start(ws, "reading-buddy")
        assert after["history"][0]["text"] == "Hello from version two!"
        # The older conversation keeps the version it started with.
        ws.send_json({"type": "start", "conversation": before["conversation"]})
        resumed = ws.receive_json()
    assert resumed["history"][0]["text"] == before["history"][0]["text"]
    with transaction(client.app.state.sessions) as s:
        v2 = client.app.state.personas.current(s, "reading-buddy").persona
    assert v2.model_copy(update={"greeting": v1.greeting}) == v1  # only the greeting changed
    history = edu.get("/educator/personas/reading-buddy/history").text
    assert 'data-version="2"' in history and "friendlier greeting" in history and "Ms Kim" in history
    assert "+  en: Hello from version two!" in history.replace("&#39;", "'")


def test_old_conversations_keep_their_persona_version_for_the_model(client: TestClient, engine: ScriptedEngine) -> None:
    edu = educator(client.app)
    with client.websocket_connect("/ws/chat") as ws:
        conv = start(ws, "reading-buddy")["conversation"]
    data = form_of(edu, "reading-buddy")
    data["system_prompt.en"] = ["You are version two."]
    assert post_form(edu, "/educator/personas/reading-buddy", data).status_code == 303
    engine.scripts = [["Ok", "."], ["Ok", "."]]
    with client.websocket_connect("/ws/chat") as ws:
        ws.send_json({"type": "start", "conversation": conv})
        ws.receive_json()
        ws.send_json({"type": "message", "text": "hi"})
        recv_until(ws, "done")
        start(ws, "reading-buddy")
        ws.send_json({"type": "message", "text": "hi"})
        recv_until(ws, "done")
    assert engine.requests[0].messages[0].content != "You are version two."
    assert engine.requests[1].messages[0].content == "You are version two."
    parent_view = client.app.state.personas
    from server.db.session import transaction

    with transaction(client.app.state.sessions) as s:
        assert parent_view.current(s, "reading-buddy").version == 2


def test_validation_errors_sit_next_to_their_fields(client: TestClient) -> None:
    edu = educator(client.app)
    data = form_of(edu, "soeun-mom")
    data["greeting.ko"] = [""]
    data["redirects.ko.self_harm"] = [""]
    data["age_min"] = ["9"]
    data["age_max"] = ["6"]
    data["avatar"] = ["🙂🙂🙂🙂🙂🙂🙂🙂🙂"]
    r = post_form(edu, "/educator/personas/soeun-mom", data)
    assert r.status_code == 400
    html = r.text
    for field in ("greeting-ko", "redirects-ko-self_harm", "age_max"):
        assert f'id="f-{field}-err"' in html, field
        assert re.search(rf'aria-describedby="[^"]*f-{field}-err"', html), field
    assert html.count('aria-invalid="true"') >= 3
    with __import__("server.db.session", fromlist=["transaction"]).transaction(client.app.state.sessions) as s:
        assert client.app.state.personas.current(s, "soeun-mom").version == 1  # nothing saved


def test_educator_text_is_data_never_a_template(client: TestClient) -> None:
    edu = educator(client.app)
    data = form_of(edu, "reading-buddy")
    data["greeting.en"] = ["{{ 7*7 }} {% if true %}x{% endif %} <script>alert(1)</script>"]
    data["name.en"] = ["<b>Buddy</b> {{ config }}"]
    assert post_form(edu, "/educator/personas/reading-buddy", data).status_code == 303
    with client.websocket_connect("/ws/chat") as ws:
        greeting = start(ws, "reading-buddy")["history"][0]["text"]
    assert greeting == "{{ 7*7 }} {% if true %}x{% endif %} <script>alert(1)</script>"
    kids = client.get("/").text
    assert "<b>Buddy</b>" not in kids and "&lt;b&gt;Buddy&lt;/b&gt; {{ config }}" in kids
    editor = edu.get("/educator/personas/reading-buddy").text
    assert "<script>alert(1)</script>" not in editor and "49" not in editor.split("greeting", 1)[1][:400]


def test_a_persona_cannot_switch_the_safety_pass_off(client: TestClient) -> None:
    import pytest

    from server.personas import PersonaError

    text = (client.app.state.settings.personas_dir / "reading-buddy.yaml").read_text()
    with pytest.raises(PersonaError):
        parse_persona(text + "\nsafety: off\n")
    edu = educator(client.app)
    data = form_of(edu, "reading-buddy")
    data["safety"] = ["off"]  # an extra field from a crafted form is ignored, not stored
    post_form(edu, "/educator/personas/reading-buddy", data)
    exported = edu.get("/educator/personas/reading-buddy/export.yaml").text
    assert "safety" not in yaml.safe_load(exported)


def test_rollback_is_a_new_version_with_the_old_data(client: TestClient) -> None:
    edu = educator(client.app)
    data = form_of(edu, "teacher-hana")
    original = data["greeting.en"][0]
    data["greeting.en"] = ["Changed."]
    post_form(edu, "/educator/personas/teacher-hana", data)
    token = csrf_of(edu, "/educator/personas/teacher-hana/history")
    r = edu.post("/educator/personas/teacher-hana/rollback", data={"version": "1", "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    history = edu.get("/educator/personas/teacher-hana/history").text
    assert 'data-version="3"' in history and "rollback to v1" in history
    assert form_of(edu, "teacher-hana")["greeting.en"] == [original]


def test_concurrent_edits_do_not_overwrite_each_other(client: TestClient) -> None:
    first, second = educator(client.app), educator(client.app)
    a, b = form_of(first, "reading-buddy"), form_of(second, "reading-buddy")
    a["greeting.en"] = ["From A."]
    b["greeting.en"] = ["From B."]
    assert post_form(first, "/educator/personas/reading-buddy", a).status_code == 303
    late = post_form(second, "/educator/personas/reading-buddy", b)
    assert late.status_code == 400 and "version 2" in late.text


def test_yaml_export_round_trips_and_new_personas_can_be_made(client: TestClient) -> None:
    edu = educator(client.app)
    exported = edu.get("/educator/personas/soeun-mom/export.yaml")
    assert exported.headers["content-disposition"] == 'attachment; filename="soeun-mom.yaml"'
    again = parse_persona(exported.text)
    assert again.greeting["ko"].startswith("소은아")
    data = form_of(edu, "reading-buddy")
    data["id"] = ["story-owl"]
    data["name.en"] = ["Story Owl"]
    made = post_form(edu, "/educator/personas/new", data)
    assert made.status_code == 303
    assert "story-owl" in client.get("/api/personas").text
    dup = post_form(edu, "/educator/personas/new", data)
    assert dup.status_code == 400 and 'id="f-id-err"' in dup.text


def test_preview_streams_the_draft_and_stores_nothing(client: TestClient, engine: ScriptedEngine, database_url: str) -> None:
    from sqlalchemy import create_engine, func, select
    from sqlalchemy.orm import Session

    from server.db.models import Message

    edu = educator(client.app)
    data = form_of(edu, "reading-buddy")
    data["system_prompt.en"] = ["DRAFT PROMPT"]
    data["preview_text"] = ["hello owl"]
    data["preview_history"] = [json.dumps([{"role": "child", "text": "earlier"}, {"role": "assistant", "text": "Yes."}])]
    data["csrf_token"] = [csrf_of(edu, "/educator")]
    engine.scripts = [["Hoo", " hoo", "."]]
    r = post_form(edu, "/educator/personas/reading-buddy/preview", data)
    frames = [json.loads(line) for line in r.text.splitlines()]
    assert r.headers["content-type"].startswith("application/x-ndjson")
    assert "".join(f["text"] for f in frames if f["type"] == "delta") == "Hoo hoo."
    assert frames[-1] == {"type": "done", "status": "complete"}
    sent = engine.requests[-1].messages
    assert sent[0].content == "DRAFT PROMPT" and [m.content for m in sent[1:]] == ["earlier", "Yes.", "hello owl"]
    data["preview_text"] = ["how to make a bomb"]  # the safety pass runs for previews too
    blocked = [json.loads(line) for line in post_form(edu, "/educator/personas/reading-buddy/preview", data).text.splitlines()]
    assert blocked[0]["type"] == "redirect" and blocked[-1]["status"] == "blocked"
    data["greeting.en"] = [""]
    bad = post_form(edu, "/educator/personas/reading-buddy/preview", data)
    assert bad.status_code == 400 and "greeting.en" in bad.json()["errors"]
    eng = create_engine(database_url)
    with Session(eng) as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 0
    eng.dispose()
    with __import__("server.db.session", fromlist=["transaction"]).transaction(client.app.state.sessions) as s:
        assert client.app.state.personas.current(s, "reading-buddy").version == 1


def test_educator_pages_are_for_educators_and_admins(client: TestClient) -> None:
    parent = TestClient(client.app)
    make_user(client.app.state.sessions, role="parent", email="pp@example.com")
    log_in(parent, "pp@example.com")
    assert parent.get("/educator").status_code == 403
    assert parent.get("/admin").status_code == 403
    assert educator(client.app, "admin").get("/educator").status_code == 200
    assert educator(client.app).get("/admin").status_code == 403


def test_admin_makes_and_removes_educators(client: TestClient) -> None:
    adm = educator(client.app, "admin")
    token = csrf_of(adm, "/admin")
    r = adm.post("/admin/educators", data={"display_name": "Teacher Lee", "email": "lee@school.example",
                                           "password": "a good long password", "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    lee = TestClient(client.app)
    log_in(lee, "lee@school.example", "a good long password")
    assert lee.get("/educator").status_code == 200
    user_id = re.search(r'/admin/educators/([0-9a-f]+)/remove', adm.get("/admin").text).group(1)
    adm.post(f"/admin/educators/{user_id}/remove", data={"csrf_token": token})
    assert lee.get("/educator", follow_redirects=False).status_code == 303  # signed out with the account


def test_cli_makes_an_admin(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from server.cli import main

    monkeypatch.setenv("KIDCHAT_DATABASE_URL", settings.resolved_database_url)
    runner = CliRunner()
    ok = runner.invoke(main, ["admin", "create", "Root@Example.com", "--name", "Root", "--password-stdin"],
                       input="a very long password\n")
    assert ok.exit_code == 0, ok.output
    assert "root@example.com" in ok.output
    again = runner.invoke(main, ["admin", "create", "root@example.com", "--password-stdin"], input="a very long password\n")
    assert again.exit_code != 0 and "exists" in again.output
    short = runner.invoke(main, ["admin", "create", "x@example.com", "--password-stdin"], input="short\n")
    assert short.exit_code != 0


def test_the_editor_form_round_trips_every_persona_file() -> None:
    from server.config import Settings
    from server.pages.persona_form import persona_from_values, values_from_persona
    from server.personas import load_personas

    for persona in load_personas(Settings().personas_dir).values():
        again, errors = persona_from_values(values_from_persona(persona))
        assert errors == {} and again == persona, persona.id
