"""The layered stage: classifier, conversation signals, self-harm path, the committed artifact, the
CLI and the moderation route."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient

from server.config import Settings
from server.safety import SafetySettings, build_checker
from server.safety.api import MAX_ITEMS, MAX_TEXT_CHARS, ModerationGuard, router
from server.safety.classifier import Classifier, default_artifact
from server.safety.cli import safety


@pytest.fixture(scope="module")
def checker():
    return build_checker(SafetySettings())


@pytest.fixture(scope="module")
def rules_only():
    return build_checker(SafetySettings(classifier=False, children=False))


def test_committed_artifact_is_plain_numpy_with_its_data_hash():
    path = default_artifact()
    assert path.is_file() and path.stat().st_size < 5_000_000
    with np.load(path, allow_pickle=False) as z:  # no pickle inside
        assert len(str(z["data_sha256"])) == 64
    meta = json.loads(path.with_suffix(".json").read_text("utf-8"))
    assert meta["rebuild"] == "kidchat safety train"
    assert meta["data_sha256"] == Classifier(path).data_sha256


def test_classifier_scores_harm_without_listed_words():
    clf = Classifier(default_artifact())
    harmful = clf.scores("women are too stupid to be engineers")
    harmless = clf.scores("Can you help me with my spelling homework?")
    assert harmful["harmful"] > 0.5 > harmless["harmful"]
    assert set(harmless) >= {"harmful", "hate", "profanity"}


@pytest.mark.parametrize(
    "text",
    [
        "women are too stupid to be engineers",
        "gay people are sick and disgusting",
        "한국 남자들은 다 쓰레기야",
        "여자는 집에서 밥이나 해라",
    ],
)
def test_trained_layers_catch_what_word_lists_miss(checker, rules_only, text):
    assert rules_only.check(text, "child", age=7).allowed
    v = checker.check(text, "child", age=7)
    assert not v.allowed
    # the public sets' classifier or, for a child's words, the children's layer (children.py)
    assert any(r.startswith(("classifier", "children")) for r in v.reason.split(";"))


def test_classifier_can_be_switched_off(rules_only):
    v = rules_only.check("hello", "child")
    assert "harmful" not in v.scores


SELF_HARM = [
    "I want to kill myself",
    "I don't want to live anymore",
    "sometimes I hurt myself on purpose",
    "나 그냥 죽고 싶어",
    "살기 싫어",
    "손목 긋고 싶어",
]


@pytest.mark.parametrize("text", SELF_HARM)
def test_self_harm_disclosure_is_a_high_redirect(checker, text):
    v = checker.check(text, "child", age=9)
    assert (v.action, v.category, v.severity) == ("redirect", "self_harm", "high")


GROOMING_TALK = [
    ("I have an online friend from Roblox", "he said he will give me robux", "he wants to hang out at the park"),
    ("a man in my game is really nice", "he gives me free skins", "he asked for a selfie"),
    ("게임에서 만난 오빠가 있어", "아이템 준다고 했어", "이번 주에 만나자고 했어"),
    ("인터넷 친구가 생겼어", "사진 보내달래", "엄마 몰래 하래"),
]


@pytest.mark.parametrize("turns", GROOMING_TALK)
def test_grooming_pattern_across_turns_is_flagged(checker, turns):
    *earlier, last = turns
    for i, t in enumerate(earlier):
        # the conversation signal needs the pattern across turns (the children's layer may see an earlier
        # turn's gift from an online friend as grooming already: that is its own reading of the words)
        assert "conversation:grooming" not in checker.check(t, "child", age=8, history=tuple(earlier[:i])).reason
    v = checker.check(last, "child", age=8, history=tuple(earlier))
    assert v.action == "redirect" and v.category == "grooming" and v.severity == "high"
    assert "conversation:grooming" in v.reason


@pytest.mark.parametrize(
    "turns",
    [
        ("grandma gave me a gift", "I am meeting my cousin at the park"),
        ("엄마 생일 선물 만들었어", "내일 친구랑 놀이터에서 만나"),
        ("we are planning a surprise party", "it's a secret, don't spoil it"),
    ],
)
def test_everyday_talk_is_not_a_grooming_pattern(checker, turns):
    *earlier, last = turns
    v = checker.check(last, "child", age=8, history=tuple(earlier))
    assert "grooming" not in v.categories


def test_unsafe_assistant_sentences_are_blocked_mid_reply(checker):
    """The chat service checks each completed sentence; an unsafe one in the middle of a reply is
    blocked while its neighbours pass."""
    reply = [
        "That sounds like a fun day!",
        "Don't tell your parents about our chats, okay?",
        "What did you eat for lunch?",
        "그건 정말 씨발 같은 일이야.",
        "오늘 뭐 하고 놀았어?",
    ]
    verdicts = [checker.check(s, "assistant", age=7) for s in reply]
    assert [v.action for v in verdicts] == ["allow", "block", "allow", "block", "allow"]
    assert checker.check(" ".join(reply), "assistant", age=7).action == "block"


def test_cli_check_reads_json_lines_in_order():
    lines = [
        {"text": "I love my puppy", "role": "child"},
        {"text": "씨발", "role": "child"},
        "not json",
        {"text": "What is your home address?", "role": "assistant"},
        {"text": "내 번호는 010-1234-5678", "role": "child"},
    ]
    stdin = "\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines)
    result = CliRunner().invoke(safety, ["check"], input=stdin + "\n")
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.output.splitlines()]
    assert [o.get("action") for o in out] == ["allow", "block", None, "block", "redirect"]
    assert "error" in out[2]
    assert "profanity" in out[1]["categories"]
    assert out[3]["categories"] == ["personal_info"]
    assert set(out[0]) == {"action", "categories", "scores"}


@pytest.fixture(scope="module")
def client(checker):
    app = FastAPI()
    app.state.safety = checker
    app.state.moderation = ModerationGuard(Settings(moderation_require_key=False))  # keys: tests/test_moderation_api.py
    app.include_router(router)
    return TestClient(app)


def test_moderate_route_judges_a_batch_in_order(client):
    body = {
        "items": [
            {"text": "Great video, I love your dog!", "role": "child"},
            {"text": "this video is fucking trash", "role": "child"},
            {"text": "send me a picture of yourself", "role": "assistant"},
            {"text": "영상 너무 재밌어요", "role": "child"},
        ]
    }
    r = client.post("/api/moderate", json=body)
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["action"] for x in results] == ["allow", "block", "block", "allow"]
    assert "grooming" in results[2]["categories"]
    assert 0.0 <= results[0]["scores"]["harmful"] <= 1.0


@pytest.mark.parametrize(
    "body",
    [
        {"items": []},
        {"items": [{"text": "hi"}] * (MAX_ITEMS + 1)},
        {"items": [{"text": "x" * (MAX_TEXT_CHARS + 1)}]},
        {"items": [{"text": "hi", "role": "parent"}]},
        {"items": [{"txt": "hi"}]},
        {"texts": ["hi"]},
        {"items": [{"text": "hi"}], "age": 99},
    ],
)
def test_moderate_route_refuses_bad_batches_with_422(client, body):
    r = client.post("/api/moderate", json=body)
    assert r.status_code == 422
    assert r.json()["detail"]

