"""What the child saw is what is stored (issue 13, finding 3): line breaks between sentences reach the child."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from server.llm.fake import ScriptedEngine
from tests.test_chat_ws import messages, recv_until, start


def _latest_reply(database_url: str, conversation_id: str):
    return messages(database_url, conversation_id)[-1]


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
