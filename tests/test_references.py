"""Educators' golden answers reach the model as a reference for the turn whose question matches."""

from __future__ import annotations

import numpy as np

from server.chat.reference import Pair, References, read_pairs
from server.chat.service import ChatService
from server.config import Settings
from server.db.models import Message
from server.llm.fake import ScriptedEngine
from server.personas import load_personas
from tests.fakes import WordChecker


class BagOfWords:
    """A stand-in encoder: one dimension per known word, so similarity is word overlap."""

    def __init__(self, vocabulary: list[str]) -> None:
        self.vocabulary = vocabulary

    def embed(self, text: str) -> np.ndarray:
        words = text.lower().replace("?", " ").split()
        return np.array([float(w in words) for w in self.vocabulary] + [0.01], np.float32)

    def embed_many(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.embed(t) for t in texts])


VOCAB = "how many legs does a spider have plus 12 9 8 what is".split()
PAIRS = [
    Pair("How many legs does a spider have?", "A spider has eight legs. Have you seen one?", "en", "teacher-hana"),
    Pair("What is 12 plus 9?", "12 plus 9 is 21. Can you try 12 plus 10?", "en", "teacher-hana"),
]


def refs(tmp_path, threshold: float = 0.9) -> References:
    enc = BagOfWords(VOCAB)
    return References(PAIRS, enc.embed_many([p.question for p in PAIRS]), enc, threshold)


def test_a_close_question_gets_the_educators_answer(tmp_path) -> None:
    r = refs(tmp_path)
    assert r.lookup("how many legs does a spider have", "en", "teacher-hana") == PAIRS[0].answer
    assert r.lookup("how many legs does a spider have", "en", "reading-buddy") is None  # another persona's voice
    assert r.lookup("how many legs does a spider have", "ko", "teacher-hana") is None
    assert r.lookup("what is a spider", "en", "teacher-hana") is None  # not close enough


def test_numbers_must_agree(tmp_path) -> None:
    r = refs(tmp_path, threshold=0.5)
    assert r.lookup("what is 12 plus 9", "en", "teacher-hana") == PAIRS[1].answer
    assert r.lookup("what is 12 plus 8", "en", "teacher-hana") is None


def test_the_reference_goes_into_this_turns_prompt(tmp_path) -> None:
    personas = load_personas(Settings().personas_dir)
    svc = ChatService(engine=ScriptedEngine(n_ctx=100_000), safety=WordChecker(), personas=personas,  # type: ignore[arg-type]
                      sessions=None, references=refs(tmp_path))  # type: ignore[arg-type]
    history = [Message(role="assistant", text="Hello!", status="complete", seq=0),
               Message(role="child", text="how many legs does a spider have", status="complete", seq=1)]  # fmt: skip
    system = svc.fit_prompt(personas["teacher-hana"], "en", history).messages[0].content
    assert system.startswith(personas["teacher-hana"].system_prompt["en"])
    assert "A spider has eight legs." in system
    history[-1] = Message(role="child", text="i like pizza", status="complete", seq=1)
    assert svc.fit_prompt(personas["teacher-hana"], "en", history).messages[0].content == personas["teacher-hana"].system_prompt["en"]


def test_the_golden_files_are_read() -> None:
    pairs = read_pairs()
    assert len(pairs) >= 1000 and {p.language for p in pairs} == {"ko", "en"}


def test_embeddings_are_cached(tmp_path) -> None:
    enc = BagOfWords(VOCAB)
    calls = []
    real = enc.embed_many
    enc.embed_many = lambda texts: calls.append(len(texts)) or real(texts)  # type: ignore[method-assign]
    folder = tmp_path / "gold"
    folder.mkdir()
    (folder / "a.jsonl").write_text('{"question": "how many legs", "safe_answer": "eight", "language": "en", "persona": "teacher-hana"}\n')
    References.build(enc, tmp_path / "cache", 0.9, sources=(folder,))
    References.build(enc, tmp_path / "cache", 0.9, sources=(folder,))
    assert calls == [1]
