"""Parents mark a conversation of their own child as a good example for training, from the transcript
page: CSRF-checked, the parent of that child only, visible on the transcript and in the list, recorded
in the view log, and covering only the turns the parent saw."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from server.db import repo
from server.db.models import Conversation, TranscriptView, User
from server.db.session import transaction
from server.llm.fake import ScriptedEngine
from tests.factories import log_in, make_family, make_user
from tests.test_chat_ws import recv_until, start
from tests.test_parents import chat, csrf_of, parent_client


def good_form(html: str) -> dict[str, str]:
    """The hidden fields of the transcript page's first mark form (mark, mark again or unmark)."""
    section = html.split('id="good"', 1)[1].split("</section>", 1)[0]
    form = section.split("<form", 1)[1].split("</form>", 1)[0]
    return dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', form))


def stored(client: TestClient, conversation_id: str) -> Conversation:
    with transaction(client.app.state.sessions) as s:
        conv = s.get(Conversation, conversation_id)
        assert conv is not None
        return conv


def actions_logged(client: TestClient, conversation_id: str) -> list[str]:
    with transaction(client.app.state.sessions) as s:
        stmt = select(TranscriptView.action).where(TranscriptView.conversation_id == conversation_id)
        return list(s.scalars(stmt.order_by(TranscriptView.id)))


def test_a_parent_marks_and_unmarks_a_conversation(client: TestClient, engine: ScriptedEngine) -> None:
    family, parent, kid = parent_client(client.app, child_name="Ari")
    engine.scripts = [["Cats", " purr", "."], ["Dogs", " bark", "."]]
    conv = chat(kid, "reading-buddy", "tell me about cats")
    other = chat(kid, "reading-buddy", "tell me about dogs")
    before = stored(client, conv)
    order = re.findall(r'data-conversation="([0-9a-f]+)"', parent.get(f"/parent/children/{family.child_id}").text)
    assert order == [other, conv]

    page = parent.get(f"/parent/conversations/{conv}").text
    assert "Mark as a good example" in page and "data-marked-good" not in page
    form = good_form(page)
    assert form["good"] == "1" and form["through"] == "2"  # greeting, child, reply
    marked = parent.post(f"/parent/conversations/{conv}/good", data=form, follow_redirects=False)
    assert marked.status_code == 303 and marked.headers["location"] == f"/parent/conversations/{conv}#good"

    after = stored(client, conv)
    assert after.marked_good_at is not None and after.marked_good_by == family.parent_id
    assert after.marked_good_seq == int(form["through"])
    assert after.updated_at == before.updated_at  # marking is not chat activity: the list order stays
    page = parent.get(f"/parent/conversations/{conv}").text
    assert 'data-marked-good="' in page and "Marked as a good example on" in page and "Remove the mark" in page
    assert "marked as a good example" in page.split('id="views"', 1)[1]
    listing = parent.get(f"/parent/children/{family.child_id}").text
    assert re.findall(r'data-conversation="([0-9a-f]+)"', listing) == [other, conv]
    rows = {cid: listing.split(f'data-conversation="{cid}"', 1)[1].split("</tr>", 1)[0] for cid in (conv, other)}
    assert "Good example" in rows[conv] and "Good example" not in rows[other]

    # Marking again with nothing new changes nothing and records nothing.
    assert parent.post(f"/parent/conversations/{conv}/good", data=form, follow_redirects=False).status_code == 303
    assert actions_logged(client, conv) == ["view", "marked_good", "view"]

    unmark = good_form(page)
    assert unmark["good"] == "0"
    assert parent.post(f"/parent/conversations/{conv}/good", data=unmark, follow_redirects=False).status_code == 303
    cleared = stored(client, conv)
    assert (cleared.marked_good_at, cleared.marked_good_by, cleared.marked_good_seq) == (None, None, None)
    assert cleared.updated_at == before.updated_at
    page = parent.get(f"/parent/conversations/{conv}").text
    assert "Mark as a good example" in page and "good-example mark removed" in page.split('id="views"', 1)[1]
    assert "Good example" not in parent.get(f"/parent/children/{family.child_id}").text
    assert actions_logged(client, conv) == ["view", "marked_good", "view", "unmarked_good", "view"]


def test_the_mark_covers_the_turns_the_parent_saw(client: TestClient, engine: ScriptedEngine) -> None:
    family, parent, kid = parent_client(client.app)
    engine.scripts = [["One", "."], ["Two", "."]]
    with kid.websocket_connect("/ws/chat") as ws:
        conv = start(ws, "reading-buddy")["conversation"]
        ws.send_json({"type": "message", "text": "first"})
        recv_until(ws, "done")
        form = good_form(parent.get(f"/parent/conversations/{conv}").text)
        ws.send_json({"type": "message", "text": "second"})  # after the parent loaded the page
        recv_until(ws, "done")
    parent.post(f"/parent/conversations/{conv}/good", data=form)
    assert stored(client, conv).marked_good_seq == 2  # greeting, "first", "One."
    page = parent.get(f"/parent/conversations/{conv}").text
    assert "2 newer message(s) are not part of the mark." in page
    again = good_form(page)
    assert again == {"csrf_token": again["csrf_token"], "good": "1", "through": "4"}
    parent.post(f"/parent/conversations/{conv}/good", data=again)
    assert stored(client, conv).marked_good_seq == 4
    assert "newer message" not in parent.get(f"/parent/conversations/{conv}").text
    # A seq beyond the last message is clamped to it; a conversation only marks what exists.
    parent.post(f"/parent/conversations/{conv}/good", data={**again, "through": "99"})
    assert stored(client, conv).marked_good_seq == 4


def test_a_reply_still_being_written_is_not_covered(client: TestClient) -> None:
    family, parent, kid = parent_client(client.app)
    conv = chat(kid, "reading-buddy")  # the greeting only
    with transaction(client.app.state.sessions) as s:
        repo.add_message(s, conv, role="child", text="hi", status="complete")
        repo.add_message(s, conv, role="assistant", text="", status="pending")
    assert good_form(parent.get(f"/parent/conversations/{conv}").text)["through"] == "1"


def test_marking_needs_the_csrf_token_and_a_valid_choice(client: TestClient, engine: ScriptedEngine) -> None:
    family, parent, kid = parent_client(client.app)
    engine.scripts = [["Hi", "."]]
    conv = chat(kid, "reading-buddy", "hello")
    form = good_form(parent.get(f"/parent/conversations/{conv}").text)
    no_token = {k: v for k, v in form.items() if k != "csrf_token"}
    assert parent.post(f"/parent/conversations/{conv}/good", data=no_token).status_code == 403
    assert parent.post(f"/parent/conversations/{conv}/good", data={**form, "csrf_token": "forged"}).status_code == 403
    assert parent.post(f"/parent/conversations/{conv}/good", data={**form, "good": "yes"}).status_code == 400
    assert parent.post(f"/parent/conversations/{conv}/good", data={**form, "through": "-1"}).status_code == 400
    assert stored(client, conv).marked_good_at is None
    assert "marked_good" not in actions_logged(client, conv)


def test_another_family_cannot_mark_or_unmark(client: TestClient, engine: ScriptedEngine) -> None:
    family, parent, kid = parent_client(client.app, child_name="Theirs")
    engine.scripts = [["Private", "."], ["Also", " private", "."]]
    marked = chat(kid, "reading-buddy", "my diary")
    unmarked = chat(kid, "reading-buddy", "my secret")
    parent.post(f"/parent/conversations/{marked}/good", data=good_form(parent.get(f"/parent/conversations/{marked}").text))
    before = stored(client, marked)
    assert before.marked_good_at is not None

    stranger = TestClient(client.app)
    other = make_family(client.app.state.sessions, child_name="Mine")
    log_in(stranger, other.email)
    token = csrf_of(stranger, "/parent")
    for conv, data in ((unmarked, {"good": "1", "through": "2"}), (marked, {"good": "0"}), (marked, {"good": "1", "through": "0"})):
        r = stranger.post(f"/parent/conversations/{conv}/good", data={**data, "csrf_token": token}, follow_redirects=False)
        assert r.status_code == 404 and "private" not in r.text and "Theirs" not in r.text
    assert stored(client, unmarked).marked_good_at is None
    after = stored(client, marked)
    assert (after.marked_good_at, after.marked_good_by, after.marked_good_seq) == (
        before.marked_good_at, before.marked_good_by, before.marked_good_seq,
    )
    assert actions_logged(client, marked).count("marked_good") == 1
    assert "unmarked_good" not in actions_logged(client, marked)
    with transaction(client.app.state.sessions) as s:
        assert s.scalar(select(TranscriptView).where(TranscriptView.user_id == other.parent_id)) is None


def test_the_mark_in_korean(client: TestClient, engine: ScriptedEngine) -> None:
    family, parent, kid = parent_client(client.app)
    engine.scripts = [["Hi", "."]]
    conv = chat(kid, "reading-buddy", "hello")
    ko = {"accept-language": "ko-KR,ko;q=0.9"}
    page = parent.get(f"/parent/conversations/{conv}", headers=ko).text
    assert "좋은 예시로 표시" in page and "학습에 쓸 좋은 예시" in page
    parent.post(f"/parent/conversations/{conv}/good", data=good_form(page))
    page = parent.get(f"/parent/conversations/{conv}", headers=ko).text
    assert "좋은 예시로 표시했어요" in page and "표시 빼기" in page and "좋은 예시로 표시함" in page
    assert "좋은 예시" in parent.get(f"/parent/children/{family.child_id}", headers=ko).text


def test_the_mark_outlives_the_account_that_made_it(client: TestClient, engine: ScriptedEngine) -> None:
    """marked_good_by is ON DELETE SET NULL: a removed account leaves the mark (and the child's data)."""
    family, parent, kid = parent_client(client.app)
    engine.scripts = [["Hi", "."]]
    conv = chat(kid, "reading-buddy", "hello")
    parent.post(f"/parent/conversations/{conv}/good", data=good_form(parent.get(f"/parent/conversations/{conv}").text))
    educator = make_user(client.app.state.sessions, role="educator")
    with transaction(client.app.state.sessions) as s:
        s.get(Conversation, conv).marked_good_by = educator
    with transaction(client.app.state.sessions) as s:
        s.delete(s.get(User, educator))
    after = stored(client, conv)
    assert after.marked_good_by is None and after.marked_good_at is not None and after.marked_good_seq == 2
