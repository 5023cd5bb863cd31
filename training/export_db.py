"""Export of conversations that parents marked as good examples, as persona dialogues (the JSONL format
of ``dialogues.jsonl``) that a recipe lists under ``data.extra``.

    kidchat train export-db --out var/exports/marked.jsonl                 # every marked conversation
    kidchat train export-db --out FILE --since 2026-11-01 --conversation ID  # narrowed

The boundary is ``export_marked(session, ...) -> list[dict]``; ``to_dialogue`` is the pure conversion.
A parent marks a conversation on its transcript page (``server/db/marks.py``); the mark covers the turns
up to the message the parent saw, so turns added later are not exported until the parent marks again.
The child's age comes from the child profile, clamped to the data format's 5..10.

What the child saw is exported: assistant text that the safety stage withheld, blocked turns (the child's
words and the redirect shown instead), and unfinished replies are left out, and the same cleaning (masks,
slang, duplicates) runs again at the data stage. Children's words leave the database only through this
explicit command.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import ValidationError

from training.formats import Dialogue

ROLE = {"child": "child", "assistant": "persona"}


def to_dialogue(conversation, messages: Iterable, *, age: int) -> dict | None:
    """A conversation (``id``, ``persona_id``, ``language``) and its messages (``role``, ``text``,
    ``status``, ``safety_action``; in order) as a Dialogue dict, or None when nothing trainable is left."""
    turns: list[dict] = []
    for m in messages:
        if (
            m.role not in ROLE
            or m.status != "complete"
            or m.safety_action != "allow"
            or not (m.text or "").strip()
        ):
            continue
        role = ROLE[m.role]
        if turns and turns[-1]["role"] == role:
            turns[-1]["text"] += "\n" + m.text.strip()
        else:
            turns.append({"role": role, "text": m.text.strip()})
    while turns and turns[-1]["role"] != "persona":
        turns.pop()
    row = {
        "id": f"db-{conversation.id}",
        "persona": conversation.persona_id,
        "language": conversation.language,
        "age": age,
        "turns": turns,
        "source": "kidchat-db (marked good)",
    }
    try:
        return Dialogue.model_validate(row).model_dump()
    except ValidationError:
        return None


AGE_MIN, AGE_MAX = 5, 10  # the Dialogue format's range


def export_marked(
    session, *, since: datetime | None = None, conversation_ids: Iterable[str] | None = None
) -> list[dict]:
    """Every marked conversation (marked at or after `since`; only `conversation_ids` when given) as a
    dialogue, oldest mark first; conversations with nothing trainable left are skipped."""
    from server.db import marks

    out = []
    for conv, child in marks.marked_conversations(session, since=since, conversation_ids=conversation_ids):
        age = min(max(child.age, AGE_MIN), AGE_MAX)
        dialogue = to_dialogue(conv, marks.marked_messages(session, conv), age=age)
        if dialogue is not None:
            out.append(dialogue)
    return out
