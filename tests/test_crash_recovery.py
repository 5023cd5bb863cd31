"""What the child saw is what is stored, and it is stored before it is sent (issue 13, findings 2 and 3).

A turn is driven through the real ChatService on the app's own event loop (TestClient's portal), with a
`send` that reads the database at the moment each frame would go out: whatever a crash at that instant
would leave behind is what these tests look at. The real SIGKILL of a `kidchat serve` is in
tests/test_chaos.py."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from sqlalchemy import exc as sa_exc

from server.chat.stream import stream_checked_reply
from server.config import Settings
from server.db import repo
from server.deps import CHILD_COOKIE
from server.llm.base import ChatMessage, GenerationRequest
from server.llm.fake import ScriptedEngine
from server.personas import load_personas
from server.safety.verdict import Verdict
from tests.test_chat_ws import messages, recv_until, start


def _child(client: TestClient):
    return client.app.state.child_loader(client.cookies[CHILD_COOKIE])


def _new_conversation(client: TestClient, persona: str = "reading-buddy") -> str:
    return client.portal.call(client.app.state.chat.start_new, persona, _child(client)).conversation_id


def _turn(client: TestClient, conversation_id: str, text: str, send) -> object:
    chat = client.app.state.chat
    return client.portal.call(chat.run_turn, conversation_id, text, send, threading.Event(), _child(client))


def _latest_reply(database_url: str, conversation_id: str):
    return messages(database_url, conversation_id)[-1]


# -- finding 2: each checked sentence is stored before it is sent ------------------------------------------
def test_each_checked_sentence_is_stored_before_any_of_it_is_sent(
    client: TestClient, engine: ScriptedEngine, database_url: str
) -> None:
    engine.scripts = [["Once", " upon", " a", " time", ".", " A", " fox", " ran", "!", " The", " end"]]
    conv = _new_conversation(client)
    sent: list[str] = []
    at_send: list[tuple[str, str]] = []  # (what the child has been sent, incl. this delta; what the row holds)

    async def send(frame: dict) -> None:
        if frame["type"] == "delta":
            sent.append(frame["text"])
            reply = _latest_reply(database_url, conv)
            at_send.append(("".join(sent), reply.text))

    outcome = _turn(client, conv, "tell me a story", send)
    assert outcome.status == "complete"
    assert "".join(sent) == "Once upon a time. A fox ran! The end"
    for shown, stored in at_send:
        assert stored.startswith(shown), (shown, stored)  # a crash now keeps everything the child saw
    # The row grows a sentence at a time: exactly the three checked sentences, nothing unchecked.
    assert [stored for _, stored in at_send][0] == "Once upon a time. "
    assert {stored for _, stored in at_send} == {"Once upon a time. ", "Once upon a time. A fox ran! ",
                                                 "Once upon a time. A fox ran! The end"}
    assert _latest_reply(database_url, conv).text == "".join(sent)


def test_a_crash_mid_reply_leaves_an_interrupted_row_with_the_text_shown(
    client: TestClient, engine: ScriptedEngine, database_url: str
) -> None:
    """What a restart finds after a crash at the second sentence: the rows as committed at that instant
    (the reply 'pending' with the first sentence), closed by the start-up's close_pending_replies."""
    engine.scripts = [["Hello", " friend", ".", " Do", " you", " like", " cats", "?"]]
    conv = _new_conversation(client)
    seen: list[str] = []
    at_crash: dict[str, str] = {}

    async def send(frame: dict) -> None:
        if frame["type"] == "delta":
            seen.append(frame["text"])
            if "".join(seen) == "Hello friend. " and not at_crash:
                reply = _latest_reply(database_url, conv)
                at_crash.update(status=reply.status, text=reply.text)

    _turn(client, conv, "hi", send)
    assert at_crash == {"status": "pending", "text": "Hello friend. "}


def test_the_redirect_is_stored_with_its_flag_before_it_is_sent(
    client: TestClient, engine: ScriptedEngine, database_url: str
) -> None:
    engine.scripts = [["Cats", " are", " soft", ".", " A", " bomb", " is", " loud", "."]]
    conv = _new_conversation(client)
    at_redirect: dict[str, object] = {}

    async def send(frame: dict) -> None:
        if frame["type"] == "redirect":
            reply = _latest_reply(database_url, conv)
            at_redirect.update(status=reply.status, text=reply.text, redirect=frame["text"])

    outcome = _turn(client, conv, "tell me about cats", send)
    assert outcome.status == "blocked"
    assert at_redirect["status"] == "blocked" and at_redirect["text"] == at_redirect["redirect"]


def test_a_database_failure_mid_reply_stops_the_model_and_sends_nothing_unstored(
    client: TestClient, engine: ScriptedEngine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: the write of the second sentence fails (the database went away). That sentence is
    not sent, the model stops, the child gets the kind `internal` words, and the turn still ends with
    `interrupted` once the database answers again; the next turn works."""
    engine.scripts = [["One", ".", " Two", ".", " Three", "."] * 50, ["Fine", "."]]
    engine.delay = 0.002
    real = repo.set_reply_text
    calls = {"n": 0}

    def flaky(session, reply_id, text):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise sa_exc.OperationalError("UPDATE messages", {}, ConnectionError("server closed the connection"))
        return real(session, reply_id, text)

    monkeypatch.setattr(repo, "set_reply_text", flaky)
    conv = _new_conversation(client)
    frames: list[dict] = []

    async def send(frame: dict) -> None:
        frames.append(frame)

    outcome = _turn(client, conv, "count with me", send)
    assert outcome.status == "interrupted"
    assert "".join(f["text"] for f in frames if f["type"] == "delta") == "One. "
    assert frames[-1]["type"] == "error" and frames[-1]["code"] == "internal"
    assert engine.pieces_sent < 60  # of 300: the model was stopped, not run to the end
    reply = _latest_reply(database_url, conv)
    assert (reply.status, reply.text) == ("interrupted", "One. ")

    after: list[dict] = []

    async def send_after(frame: dict) -> None:
        after.append(frame)

    assert _turn(client, conv, "again", send_after).status == "complete"
    assert "".join(f["text"] for f in after if f["type"] == "delta") == "Fine."


def test_a_reply_left_pending_is_closed_by_the_next_turn(
    client: TestClient, engine: ScriptedEngine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the database is down at the end of a turn too, the reply row stays 'pending' (with every
    sentence the child saw); the conversation's next turn marks it 'interrupted' and the model sees it."""
    engine.scripts = [["Red", ".", " Blue", "."], ["Green", "."]]
    conv = _new_conversation(client)

    def down(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise sa_exc.OperationalError("UPDATE messages", {}, ConnectionError("connection refused"))

    real_finish = client.app.state.chat._finish_reply
    monkeypatch.setattr(client.app.state.chat, "_finish_reply", down)

    async def ignore(frame: dict) -> None:
        return None

    with pytest.raises(sa_exc.OperationalError):  # the socket turns this into an `internal` error frame
        _turn(client, conv, "colours", ignore)
    reply = _latest_reply(database_url, conv)
    assert (reply.status, reply.text) == ("pending", "Red. Blue.")

    monkeypatch.setattr(client.app.state.chat, "_finish_reply", real_finish)
    assert _turn(client, conv, "more", ignore).status == "complete"
    stored = messages(database_url, conv)
    assert [(m.role, m.status, m.text) for m in stored[1:]] == [
        ("child", "complete", "colours"), ("assistant", "interrupted", "Red. Blue."),
        ("child", "complete", "more"), ("assistant", "complete", "Green."),
    ]
    assert ("assistant", "Red. Blue.") in [(m.role, m.content) for m in engine.requests[-1].messages]


# -- finding 3: what is sent equals what is stored, line breaks included ------------------------------------
@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (["Do", " you", " like", " that", "!", "\n\n", "We", " have", " books", "."], "Do you like that!\n\nWe have books."),
        (["Do", " you", " like", " that", "!\n\nWe", " have", " books", "."], "Do you like that!\n\nWe have books."),
        (["Hi", ".", "\n", "How", " are", " you", "?"], "Hi.\nHow are you?"),
        (["Hi", ".", " \n", "\n", "Bye", "."], "Hi. \n\nBye."),
        (["\n", "\n", "Hello", "."], "Hello."),  # a reply starts at its first visible character
        (["Bye", ".", "\n\n"], "Bye."),  # and a break with nothing after it is neither sent nor stored
    ],
)
def test_line_breaks_between_sentences_reach_the_child_as_stored(
    client: TestClient, engine: ScriptedEngine, database_url: str, script: list[str], expected: str
) -> None:
    engine.scripts = [script]
    with client.websocket_connect("/ws/chat") as ws:
        conv = start(ws)["conversation"]
        ws.send_json({"type": "message", "text": "books?"})
        frames = recv_until(ws, "done")
    sent = "".join(f["text"] for f in frames if f["type"] == "delta")
    assert sent == expected
    assert _latest_reply(database_url, conv).text == expected


class _AllowAll:
    def check(self, text, role, *, age=None, history=()):  # type: ignore[no-untyped-def]
        return Verdict("allow", text)


_WORDS = st.sampled_from(["cat", "dog", "3.14", "e.g", "yes", "정말", "좋아", "~"])
_GLUE = st.sampled_from([" ", "  ", ". ", "! ", "? ", ".\n", "!\n\n", "\n", "\n\n", " \n", "\t", "… ", "。"])


@st.composite
def _reply_pieces(draw) -> list[str]:  # type: ignore[no-untyped-def]
    text = draw(st.sampled_from(["", "\n", " "]))
    for _ in range(draw(st.integers(1, 14))):
        text += draw(_WORDS) + draw(_GLUE)
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=len(text) // 2)))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True) if text[a:b]]


@cache
def _persona():  # type: ignore[no-untyped-def]
    return load_personas(Settings().personas_dir)["reading-buddy"]


@hyp_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=_reply_pieces())
def test_sent_equals_stored_for_any_split_of_any_reply(pieces: list[str]) -> None:
    """Property: however the model's text is cut into pieces, the deltas joined are exactly the text
    stored, each delta was stored before it was sent, and no visible character is lost or moved."""
    text = "".join(pieces)
    sent: list[str] = []
    stored: list[str] = []
    order_ok: list[bool] = []

    async def send(frame: dict) -> None:
        sent.append(frame["text"])
        order_ok.append(bool(stored) and stored[-1].startswith("".join(sent)))

    async def persist(shown: str) -> None:
        stored.append(shown)

    async def run():  # type: ignore[no-untyped-def]
        with ThreadPoolExecutor(1) as worker:
            request = GenerationRequest((ChatMessage("user", "hi"),))
            return await stream_checked_reply(
                ScriptedEngine([pieces]), worker, _AllowAll(), _persona(), "en", request, send, threading.Event(),
                0.0, persist=persist,
            )

    result = asyncio.run(run())
    shown = "".join(sent)
    assert result.shown_text == shown
    assert all(order_ok)
    assert (stored[-1] if stored else "") == shown
    assert shown.rstrip() == text.strip()  # nothing visible lost: only the reply's outer whitespace goes
    assert text.lstrip().startswith(shown)  # nor moved: inner line breaks and spaces are kept in place
