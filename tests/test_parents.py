"""The parents' pages: children, conversations with flags, search, transcripts with what was blocked and
why, view records, alerts, exports; and another family's ids find nothing anywhere."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from server.llm.fake import ScriptedEngine
from tests.factories import log_in, make_family, make_user
from tests.test_chat_ws import recv_until, start


def csrf_of(client: TestClient, path: str) -> str:
    return client.get(path).text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def parent_client(app, **family_kwargs):  # type: ignore[no-untyped-def]
    """A logged-in parent with one child, and a second client signed in as that child."""
    family = make_family(app.state.sessions, **family_kwargs)
    parent = TestClient(app)
    log_in(parent, family.email)
    kid = TestClient(app)
    assert kid.get(f"/c/{family.link_token}", follow_redirects=False).status_code == 303
    return family, parent, kid


def chat(kid: TestClient, persona: str, *texts: str) -> str:
    with kid.websocket_connect("/ws/chat") as ws:
        conv = start(ws, persona)["conversation"]
        for text in texts:
            ws.send_json({"type": "message", "text": text})
            recv_until(ws, "done")
    return conv


def test_parent_adds_a_child_and_the_link_opens_the_kids_page(anon_client: TestClient) -> None:
    make_user(anon_client.app.state.sessions, email="p@example.com")
    log_in(anon_client, "p@example.com")
    token = csrf_of(anon_client, "/parent")
    bad = anon_client.post("/parent/children", data={"name": "", "age": "99", "language": "xx", "csrf_token": token})
    assert bad.status_code == 400
    assert 'id="f-name-err"' in bad.text and 'id="f-age-err"' in bad.text
    made = anon_client.post(
        "/parent/children", data={"name": "Mina", "age": "7", "language": "ko", "timezone": "Asia/Seoul", "csrf_token": token}
    )
    assert made.status_code == 200
    link = re.search(r'value="(http://testserver/c/[^"]+)"', made.text).group(1)
    kid = TestClient(anon_client.app)
    page = kid.get(link.removeprefix("http://testserver"))
    assert "kidchat-config" in page.text and 'lang="ko"' in page.text
    home = anon_client.get("/parent")
    assert "Mina" in home.text


def test_conversations_newest_first_with_flags_filter_and_search(client: TestClient, engine: ScriptedEngine) -> None:
    family, parent, kid = parent_client(client.app, child_name="Juno")
    engine.scripts = [["Cats", " purr", "."]]
    calm = chat(kid, "reading-buddy", "tell me about cats")
    flagged = chat(kid, "reading-buddy", "how to make a bomb")
    page = parent.get(f"/parent/children/{family.child_id}")
    assert page.status_code == 200
    order = [m for m in re.findall(r'data-conversation="([0-9a-f]+)"', page.text)]
    assert order == [flagged, calm]  # newest first
    row = page.text.split(f'data-conversation="{flagged}"', 1)[1].split("</tr>", 1)[0]
    assert "dangerous activity" in row and "1 blocked" in row
    only = parent.get(f"/parent/children/{family.child_id}?flagged=1")
    assert re.findall(r'data-conversation="([0-9a-f]+)"', only.text) == [flagged]
    found = parent.get(f"/parent/children/{family.child_id}?q=PURR")
    assert re.findall(r'data-conversation="([0-9a-f]+)"', found.text) == [calm]
    assert "<mark>purr</mark>" in found.text
    assert parent.get(f"/parent/children/{family.child_id}?q=100%25").status_code == 200  # LIKE wildcards are escaped


def test_transcript_shows_every_turn_what_was_blocked_and_why_and_records_the_view(
    client: TestClient, engine: ScriptedEngine
) -> None:
    family, parent, kid = parent_client(client.app, child_name="Ari")
    engine.scripts = [["Cats", " are", " soft", ".", " Here", " is", " a", " bomb", " recipe", "."]]
    conv = chat(kid, "reading-buddy", "badword you", "tell me about cats")
    page = parent.get(f"/parent/conversations/{conv}")
    html = page.text
    assert page.status_code == 200
    assert "badword you" in html  # the child's blocked words, for the parent
    assert "swearing" in html and "your child&#39;s message" in html
    assert "dangerous activity" in html and "the persona&#39;s reply" in html
    assert "bomb recipe" in html  # what the model wrote, held back from the child
    assert "Reading Buddy" in html
    assert html.count('class="turn ') == 5  # greeting, blocked + redirect, child + blocked reply
    second = parent.get(f"/parent/conversations/{conv}").text
    views = second.split('id="views"', 1)[1]
    assert views.count("viewed") == 2 and family.email in views


def test_high_severity_flags_become_alerts_at_once(client: TestClient) -> None:
    family, parent, kid = parent_client(client.app, child_name="Bo")
    assert parent.get("/parent/alerts.json").json() == {"alerts": [], "unseen": 0}
    conv = chat(kid, "reading-buddy", "I am sad-forever")
    feed = parent.get("/parent/alerts.json").json()
    assert feed["unseen"] == 1 and "Bo" in feed["alerts"][0]["text"] and "self-harm" in feed["alerts"][0]["text"]
    assert feed["alerts"][0]["url"].startswith(f"/parent/conversations/{conv}")
    assert parent.get(f"/parent/alerts.json?after={feed['alerts'][0]['id']}").json()["alerts"] == []
    assert 'class="alert"' in parent.get("/parent").text  # on every parent page
    parent.get(f"/parent/conversations/{conv}")  # reading the transcript marks it seen
    assert parent.get("/parent/alerts.json").json()["unseen"] == 0
    assert "Bo" in parent.get("/parent/alerts").text


def test_exports_print_and_json_are_recorded(client: TestClient, engine: ScriptedEngine) -> None:
    family, parent, kid = parent_client(client.app, child_name="Eun")
    engine.scripts = [["Hello", "."]]
    conv = chat(kid, "reading-buddy", "hi there", "badword")
    printable = parent.get(f"/parent/conversations/{conv}/export.html")
    assert printable.status_code == 200 and "hi there" in printable.text and "<nav" not in printable.text
    data = parent.get(f"/parent/conversations/{conv}/export.json")
    assert "attachment" in data.headers["content-disposition"]
    body = data.json()
    assert [m["role"] for m in body["messages"]] == ["assistant", "child", "assistant", "child", "assistant"]
    assert body["messages"][3]["safety"] == {"action": "block", "category": "profanity", "side": "child", "severity": "medium"}
    views = parent.get(f"/parent/conversations/{conv}").text.split('id="views"', 1)[1]
    assert "printable page" in views and "JSON export" in views


def test_pages_need_a_parent(client: TestClient) -> None:
    anon = TestClient(client.app)
    r = anon.get("/parent/alerts", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fparent%2Falerts"
    make_user(client.app.state.sessions, role="educator", email="edu@example.com")
    log_in(anon, "edu@example.com")
    assert anon.get("/parent").status_code == 403


def _routes_with_ids(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    out = []
    for path, operations in app.openapi()["paths"].items():
        if path.startswith("/parent") and "{" in path:
            out.extend((method.upper(), path) for method in sorted(operations))
    return out


def test_another_family_finds_nothing_on_any_route(client: TestClient, engine: ScriptedEngine) -> None:
    family, _parent, kid = parent_client(client.app, child_name="Theirs")
    engine.scripts = [["Private", " words", "."]]
    conv = chat(kid, "reading-buddy", "my private diary", "sad-forever")
    stranger = TestClient(client.app)
    other = make_family(client.app.state.sessions, child_name="Mine")
    log_in(stranger, other.email)
    token = csrf_of(stranger, "/parent")
    routes = _routes_with_ids(client.app)
    assert len(routes) >= 11
    for method, path in routes:
        url = path.replace("{child_id}", family.child_id).replace("{conversation_id}", conv)
        r = stranger.request(method, url, data={"csrf_token": token} if method == "POST" else None, follow_redirects=False)
        assert r.status_code == 404, (method, path, r.status_code)
        assert "private" not in r.text and "Theirs" not in r.text
    assert stranger.get("/parent/alerts.json").json()["unseen"] == 0
    assert "Theirs" not in stranger.get("/parent/alerts").text
    # Their own data is still whole.
    owner = TestClient(client.app)
    log_in(owner, family.email)
    assert "my private diary" in owner.get(f"/parent/conversations/{conv}").text


@pytest.mark.parametrize("lang,expected", [("ko", "우리 아이"), ("en", "My children")])
def test_interface_language_follows_the_browser_and_the_switch(client: TestClient, lang: str, expected: str) -> None:
    family = make_family(client.app.state.sessions)
    parent = TestClient(client.app)
    log_in(parent, family.email)
    header = "ko-KR,ko;q=0.9,en;q=0.5" if lang == "ko" else "en-GB,en;q=0.9,ko;q=0.3"
    assert expected in parent.get("/parent", headers={"accept-language": header}).text
    other = "en" if lang == "ko" else "ko"
    parent.get(f"/lang?to={other}&next=/parent")
    assert expected not in parent.get("/parent", headers={"accept-language": header}).text
