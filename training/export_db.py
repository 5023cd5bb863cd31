"""Export of conversations that parents or educators marked as good, as persona dialogues (the JSONL format
of ``dialogues.jsonl``) that a recipe lists under ``data.extra``.

    kidchat train export-db --out var/exports/marked.jsonl --conversation ID [--conversation ID ...]

The boundary is ``export_marked(session, ...) -> list[dict]``; ``to_dialogue`` is the pure conversion.
What the child saw is exported: assistant text that the safety stage withheld, blocked turns, and
unfinished replies are left out, and the same cleaning (masks, slang, duplicates) runs again at the data
stage. Children's words leave the database only through this explicit command.

TODO(coordinator): the schema has no "marked good" mark yet. When it does (a column or a review table),
replace the ``conversation_ids`` argument's role with a query for the marked conversations, and take the
child's age from wherever the schema keeps it (``age`` is a parameter until then).
"""

from __future__ import annotations

from collections.abc import Iterable

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


def export_marked(session, conversation_ids: Iterable[str], *, age: int = 7) -> list[dict]:
    """The marked conversations as dialogues (see the module's TODO for how "marked" is decided)."""
    from server.db.models import Conversation

    conversations = [
        c for c in (session.get(Conversation, cid) for cid in dict.fromkeys(conversation_ids)) if c
    ]
    out = []
    for conv in sorted(conversations, key=lambda c: c.created_at):
        dialogue = to_dialogue(conv, conv.messages, age=age)
        if dialogue is not None:
            out.append(dialogue)
    return out
