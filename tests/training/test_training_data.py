"""Data formats, validation messages, cleaning and the SFT/DPO sets built from them."""

import json
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("rapidfuzz")  # the [train] extra

from training.clean import Cleaner, clean_dialogues, clean_pairs
from training.data import dialogue_messages, prepare_data
from training.formats import (
    DataError,
    Dialogue,
    GoldenPair,
    age_band,
    load_dialogues,
    load_pairs,
    validate_lines,
)
from training.recipe import DataSection

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


def test_fixtures_validate(fixtures):
    assert len(load_pairs(fixtures / "golden_pairs.jsonl")) == 8
    assert len(load_dialogues(fixtures / "dialogues.jsonl")) == 4


def test_errors_name_the_line_and_field():
    good = {
        "id": "a",
        "question": "q",
        "safe_answer": "s",
        "unsafe_answer": "u",
        "age": 6,
        "language": "en",
        "persona": "reading-buddy",
        "category": "everyday",
        "source": "t",
    }
    lines = [
        json.dumps(good),
        "",
        "{not json",
        json.dumps(good | {"id": "b", "age": 12, "persona": "pirate"}),
        json.dumps(good | {"id": "c", "category": "weather", "extra": 1}),
        json.dumps(good),  # duplicate id
        json.dumps(good | {"id": "d", "unsafe_answer": "s"}),
    ]
    result = validate_lines(lines, GoldenPair, "pairs.jsonl")
    assert [p.id for p in result.items] == ["a"]
    text = "\n".join(result.errors)
    assert "pairs.jsonl:3: not valid JSON" in text
    assert "pairs.jsonl:4: age:" in text and "pairs.jsonl:4: persona: unknown persona" in text
    assert "pairs.jsonl:5: category: unknown category" in text and "pairs.jsonl:5: extra:" in text
    assert "pairs.jsonl:6: id: duplicate id (first on line 1)" in text
    assert "pairs.jsonl:7: (line): safe_answer and unsafe_answer are the same" in text


def test_load_raises_with_every_problem(tmp_path):
    path = tmp_path / "d.jsonl"
    base = {"id": "x", "persona": "soeun-mom", "language": "ko", "age": 7, "source": "t"}
    rows = [
        base | {"turns": [{"role": "child", "text": "a"}, {"role": "child", "text": "b"}]},
        base
        | {
            "id": "y",
            "turns": [
                {"role": "child", "text": "a"},
                {"role": "persona", "text": "b"},
                {"role": "child", "text": "c"},
            ],
        },
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    with pytest.raises(DataError) as err:
        load_dialogues(path)
    msg = str(err.value)
    assert "2 problem(s)" in msg
    assert "d.jsonl:1: (line): turns[1] has the same role" in msg
    assert "d.jsonl:2: (line): the last turn must be a persona turn" in msg


def test_age_bands():
    assert [age_band(a) for a in range(5, 11)] == ["5-6", "5-6", "7-8", "7-8", "9-10", "9-10"]


def test_masking_and_noise():
    c = Cleaner()
    stats = Counter()
    ko = c.clean_text(
        "우리 엄마 번호는 010-1234-5678이고 주민번호 120304-3123456 레게노 ㅋㅋㅋ!!!! 그래서.....",
        "ko",
        stats,
    )
    assert ko == "우리 엄마 번호는 [전화번호]이고 주민번호 [주민번호]! 그래서..."
    en = c.clean_text("Mail me at kid@example.com, I live at 42 Maple Street. lol Bye...", "en", stats)
    assert en == "Mail me at [email], I live at [address]. Bye..."
    assert stats["masked_details"] == 4 and stats["noise_removed"] >= 3
    # Slang words only match whole words in Latin script.
    assert c.clean_text("I like lollipops", "en", Counter()) == "I like lollipops"
    assert (
        c.clean_text("서울시 한빛로 12 101동 202호에 살아", "ko", Counter()) == "서울시 [주소] [주소]에 살아"
    )


def test_clean_pairs_drops_near_duplicates_and_tags_bands(fixtures):
    rows, report = clean_pairs(load_pairs(fixtures / "golden_pairs.jsonl"), Cleaner())
    ids = [r["id"] for r in rows]
    assert "t-ko-003" not in ids  # "하늘은 왜 파래요??" repeats t-ko-001
    assert report.dropped["near_duplicate"] + report.dropped["exact_duplicate"] == 1
    assert report.kept == 7 and report.read == 8
    slang = next(r for r in rows if r["id"] == "t-ko-004")
    assert "레게노" not in slang["question"] and "ㅋ" not in slang["question"]
    leak = next(r for r in rows if r["id"] == "t-en-003")
    assert "010-1234-5678" not in leak["unsafe_answer"]
    assert {r["age_band"] for r in rows} == {"5-6", "7-8"}


def test_length_limit_and_empty(fixtures):
    pairs = load_pairs(fixtures / "golden_pairs.jsonl")
    rows, report = clean_pairs(pairs, Cleaner(max_chars=60))
    assert report.dropped["too_long"] >= 1
    assert all(len(r["safe_answer"]) <= 60 for r in rows)
    only_slang = pairs[0].model_copy(update={"question": "ㅋㅋㅋ lol"})
    _, report = clean_pairs([only_slang], Cleaner())
    assert report.dropped["empty_after_cleaning"] == 1


def test_dialogue_keeps_the_persona_opening(fixtures):
    dialogues, _ = clean_dialogues(load_dialogues(fixtures / "dialogues.jsonl"), Cleaner())
    opening = next(d for d in dialogues if d["id"] == "d-ko-001")
    msgs = dialogue_messages(opening, {("soeun-mom", "ko"): "너는 소은이 엄마야."})
    assert [m["role"] for m in msgs] == ["system", "assistant", "user", "assistant"]
    assert "학교 잘 다녀왔어" in msgs[1]["content"]
    masked = next(d for d in dialogues if d["id"] == "d-en-002")
    assert "[email]" in masked["turns"][0]["text"]
    assert Dialogue.model_validate({k: v for k, v in masked.items() if k != "age_band"})


def test_gemma_templates_render_a_greeting_first_history_alike():
    """The served template (into the GGUF) and the training one (with generation markers) give the same
    text, and accept the server's history, which opens with the persona's greeting."""
    jinja2 = pytest.importorskip("jinja2")
    from jinja2.ext import Extension

    from training.bases import read_template

    class Generation(Extension):
        tags = {"generation"}

        def parse(self, parser):
            next(parser.stream)
            return parser.parse_statements(("name:endgeneration",), drop_needle=True)

    env = jinja2.Environment(extensions=[Generation])
    msgs = [
        {"role": "system", "content": "Be kind."},
        {"role": "assistant", "content": "Hi! What shall we read?"},
        {"role": "user", "content": "Dinosaurs!"},
        {"role": "assistant", "content": "Great! Which one?"},
    ]
    for served, trained in (
        ("gemma3.jinja", "gemma3_training.jinja"),
        ("smollm2.jinja", "smollm2_training.jinja"),
    ):
        a = env.from_string(read_template(served)).render(messages=msgs, bos_token="<bos>")
        b = env.from_string(read_template(trained)).render(messages=msgs, bos_token="<bos>")
        assert a == b and "Hi! What shall we read?" in a


def test_prepare_data_writes_sets_and_drops_eval_overlap(fixtures, tmp_path):
    eval_prompts = tmp_path / "prompts.jsonl"
    eval_prompts.write_text(json.dumps({"prompt": "How do I make a bomb??", "language": "en"}) + "\n")
    section = DataSection(
        golden_pairs=fixtures / "golden_pairs.jsonl",
        dialogues=fixtures / "dialogues.jsonl",
        system_prompt="none",
    )
    result = prepare_data(section, tmp_path / "data", eval_prompts)
    sft = [json.loads(x) for x in result.sft_path.read_text().splitlines()]
    dpo = [json.loads(x) for x in result.dpo_path.read_text().splitlines()]
    assert result.report["golden_pairs"]["dropped"]["eval_overlap"] == 1
    assert len(sft) == 6 + 4 and len(dpo) == 6
    assert all(m["messages"][-1]["role"] == "assistant" for m in sft)
    bomb = [d for d in dpo if d["id"] == "t-en-002"]
    assert not bomb
    first = dpo[0]
    assert first["prompt"][-1]["role"] == "user" and first["chosen"][0]["role"] == "assistant"
    assert len(result.data_hash) == 64
    again = prepare_data(section, tmp_path / "data2", eval_prompts)
    assert again.data_hash == result.data_hash
    capped = prepare_data(section.model_copy(update={"max_examples": 3}), tmp_path / "d3", eval_prompts)
    assert capped.report["sft_examples"] == 3
