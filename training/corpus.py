"""kidchat's children's corpus (training/data/corpus/README.md): load, validate, split, measure.

    python -m training.corpus check [FILE ...]     # validate batches (default: the whole corpus)
    python -m training.corpus stats                # counts, coverage and diversity figures (JSON)

Standard library only, so batch writers can check their files before any set-up.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parent / "data" / "corpus"
PERSONAS = {"soeun-mom": {"ko"}, "reading-buddy": {"en"}, "teacher-hana": {"ko", "en"}}
AGES = {"soeun-mom": (7, 7), "reading-buddy": (5, 8), "teacher-hana": (5, 10)}
TOPICS = (
    "school", "friends", "family", "feelings", "injury_illness", "fears", "animals", "nature_science",
    "numbers", "stories", "words", "play", "food", "birthday_holiday", "screens", "bedtime", "hard_moment",
    "safety", "mixed_language",
)  # fmt: skip
SAFETY_CATEGORIES = (
    "sexual", "violence", "self_harm", "abuse_disclosure", "hate", "profanity", "dangerous", "personal_info",
    "grooming", "jailbreak", "scary_adult",
)  # fmt: skip
PAIR_CATEGORIES = (*SAFETY_CATEGORIES, "everyday")
HANGUL = re.compile(r"[\uac00-\ud7a3]")
POLITE_ENDING = re.compile(r"(요|니다|세요|습니까|예요|에요)[.?!~]*$")
DIALOGUE_KEYS = {"id", "persona", "language", "age", "topic", "turns", "source", "mixed"}
PAIR_KEYS = {
    "id", "question", "safe_answer", "unsafe_answer", "age", "language", "persona", "category", "topic",
    "expected", "source",
}  # fmt: skip
MESSAGE_KEYS = {"id", "text", "context", "language", "age", "category", "situation", "source"}


def heldout(ident: str, modulo: int = 10) -> bool:
    """The documented split: held out when sha256("kidchat-heldout:" + id) % modulo == 0."""
    return int(hashlib.sha256(f"kidchat-heldout:{ident}".encode()).hexdigest(), 16) % modulo == 0


def pair_heldout(pair: dict) -> bool:
    """Fact pairs (with `expected`) hold out half, so each language keeps >= 100 fact questions."""
    return heldout(pair["id"], 2 if pair.get("expected") else 10)


@dataclass
class Problem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def kind_of(path: Path) -> str:
    return path.parent.name  # dialogues | golden | safety


def _text_ok(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip()) and len(value) <= 600


def _language_ok(text: str, language: str, mixed: bool) -> bool:
    has_hangul = bool(HANGUL.search(text))
    if language == "ko":
        return has_hangul or mixed
    return not has_hangul or mixed


def check_dialogue(row: dict) -> list[str]:
    out = []
    if set(row) - DIALOGUE_KEYS:
        out.append(f"unknown keys {sorted(set(row) - DIALOGUE_KEYS)}")
    persona, language = row.get("persona"), row.get("language")
    if persona not in PERSONAS or language not in PERSONAS.get(persona, ()):
        return [*out, "persona/language pair not allowed"]
    lo, hi = AGES[persona]
    if not isinstance(row.get("age"), int) or not lo <= row["age"] <= hi:
        out.append(f"age must be {lo}..{hi} for {persona}")
    if row.get("topic") not in TOPICS:
        out.append("topic not in the matrix")
    turns = row.get("turns")
    if not isinstance(turns, list) or not 4 <= len(turns) <= 10:
        return [*out, "turns: 4 to 10 turns"]
    mixed = bool(row.get("mixed"))
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict) or set(turn) != {"role", "text"} or turn["role"] not in ("child", "persona"):
            out.append(f"turns[{i}]: needs exactly role (child|persona) and text")
            continue
        if not _text_ok(turn["text"]):
            out.append(f"turns[{i}]: empty or over 600 characters")
        elif turn["role"] == "persona" and not _language_ok(turn["text"], language, mixed):
            out.append(f"turns[{i}]: persona text not in {language}")
        if i and isinstance(turns[i - 1], dict) and turns[i - 1].get("role") == turn["role"]:
            out.append(f"turns[{i}]: same role as the turn before")
    if isinstance(turns[-1], dict) and turns[-1].get("role") != "persona":
        out.append("the last turn must be the persona's")
    if persona == "soeun-mom":
        for i, turn in enumerate(turns):
            if isinstance(turn, dict) and turn.get("role") == "persona":
                polite = [s for s in re.split(r"(?<=[.?!])\s+", turn["text"]) if POLITE_ENDING.search(s.strip())]
                if polite:
                    out.append(f"turns[{i}]: soeun-mom must speak 반말 (a sentence ends in 존댓말)")
    return out


def check_pair(row: dict) -> list[str]:
    out = []
    if set(row) - PAIR_KEYS:
        out.append(f"unknown keys {sorted(set(row) - PAIR_KEYS)}")
    persona, language = row.get("persona"), row.get("language")
    if persona not in PERSONAS or language not in PERSONAS.get(persona, ()):
        return [*out, "persona/language pair not allowed"]
    lo, hi = AGES[persona]
    if not isinstance(row.get("age"), int) or not lo <= row["age"] <= hi:
        out.append(f"age must be {lo}..{hi} for {persona}")
    if row.get("category") not in PAIR_CATEGORIES:
        out.append("category unknown")
    if "topic" in row and row["topic"] not in TOPICS:
        out.append("topic not in the matrix")
    for key in ("question", "safe_answer", "unsafe_answer"):
        if not _text_ok(row.get(key)):
            out.append(f"{key}: empty or over 600 characters")
    if row.get("safe_answer") == row.get("unsafe_answer"):
        out.append("the two answers are the same")
    if _text_ok(row.get("safe_answer")) and not _language_ok(row["safe_answer"], language, False):
        out.append(f"safe_answer not in {language}")
    expected = row.get("expected")
    if expected is not None:
        if not isinstance(expected, list) or not expected or not all(_text_ok(e) and len(e) <= 40 for e in expected):
            out.append("expected: a non-empty list of short strings")
        elif isinstance(row.get("safe_answer"), str):
            low = row["safe_answer"].lower()
            if not any(e.lower() in low for e in expected):
                out.append("expected: the safe answer contains none of the expected strings")
            if isinstance(row.get("unsafe_answer"), str) and any(
                e.lower() in row["unsafe_answer"].lower() for e in expected
            ):
                out.append("expected: the unsafe answer contains an expected string")
    return out


def check_message(row: dict) -> list[str]:
    out = []
    if set(row) - MESSAGE_KEYS:
        out.append(f"unknown keys {sorted(set(row) - MESSAGE_KEYS)}")
    if row.get("language") not in ("ko", "en"):
        out.append("language must be ko or en")
    if not isinstance(row.get("age"), int) or not 5 <= row["age"] <= 10:
        out.append("age must be 5..10")
    if row.get("category") not in (*SAFETY_CATEGORIES, "none"):
        out.append("category unknown")
    if not isinstance(row.get("situation"), str) or not re.fullmatch(r"[a-z0-9_]+", row["situation"]):
        out.append("situation: a snake_case tag")
    if not _text_ok(row.get("text")) or len(row.get("text", "")) > 500:
        out.append("text: empty or over 500 characters")
    context = row.get("context")
    if context is not None and (not isinstance(context, list) or not all(_text_ok(c) for c in context)):
        out.append("context: a list of earlier child messages")
    return out


CHECKS = {"dialogues": check_dialogue, "golden": check_pair, "safety": check_message}


def read(path: Path) -> tuple[list[dict], list[Problem]]:
    rows, problems = [], []
    check = CHECKS.get(kind_of(path))
    if check is None:
        return [], [Problem(str(path), "not under dialogues/, golden/ or safety/")]
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path.name}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(Problem(where, f"not valid JSON ({exc.msg})"))
            continue
        if not isinstance(row, dict) or not isinstance(row.get("id"), str) or not row["id"]:
            problems.append(Problem(where, "expected an object with an id"))
            continue
        if row.get("source") != "kidchat-corpus":
            problems.append(Problem(where, 'source must be "kidchat-corpus"'))
        problems.extend(Problem(where, m) for m in check(row))
        rows.append(row)
    return rows, problems


def files(kind: str | None = None, root: Path = CORPUS_DIR) -> list[Path]:
    kinds = [kind] if kind else list(CHECKS)
    return sorted(p for k in kinds for p in (root / k).glob("*.jsonl"))


def load(kind: str, root: Path = CORPUS_DIR) -> list[dict]:
    """Every row of one kind, validated; raises ValueError listing the problems."""
    rows: list[dict] = []
    problems: list[Problem] = []
    for path in files(kind, root):
        got, bad = read(path)
        rows.extend(got)
        problems.extend(bad)
    seen: Counter[str] = Counter(r["id"] for r in rows)
    problems.extend(Problem(kind, f"duplicate id {i}") for i, n in seen.items() if n > 1)
    if problems:
        raise ValueError(f"{len(problems)} problem(s) in the corpus:\n" + "\n".join(map(str, problems[:50])))
    return rows


def distinct_n(texts: Iterable[str], n: int = 2) -> float:
    """Distinct-n over whitespace tokens (Li et al. 2016): unique n-grams / all n-grams."""
    grams: Counter[tuple[str, ...]] = Counter()
    for text in texts:
        words = text.split()
        grams.update(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    total = sum(grams.values())
    return round(len(grams) / total, 4) if total else 0.0


def stats(root: Path = CORPUS_DIR) -> dict:
    dialogues, pairs, messages = load("dialogues", root), load("golden", root), load("safety", root)
    out: dict = {"dialogues": len(dialogues), "golden_pairs": len(pairs), "child_messages": len(messages)}
    out["dialogues_by"] = dict(Counter(f"{d['persona']}/{d['language']}" for d in dialogues))
    out["dialogues_mixed"] = sum(bool(d.get("mixed")) for d in dialogues)
    out["dialogue_topics"] = dict(Counter(d["topic"] for d in dialogues))
    out["dialogue_heldout"] = sum(heldout(d["id"]) for d in dialogues)
    out["turns_mean"] = round(sum(len(d["turns"]) for d in dialogues) / max(1, len(dialogues)), 2)
    for lang in ("ko", "en"):
        persona_text = [t["text"] for d in dialogues if d["language"] == lang for t in d["turns"] if t["role"] == "persona"]
        child_text = [t["text"] for d in dialogues if d["language"] == lang for t in d["turns"] if t["role"] == "child"]
        out[f"distinct2_persona_{lang}"] = distinct_n(persona_text)
        out[f"distinct2_child_{lang}"] = distinct_n(child_text)
        out[f"persona_chars_median_{lang}"] = sorted(map(len, persona_text))[len(persona_text) // 2] if persona_text else 0
    out["pairs_by"] = dict(Counter(f"{p['persona']}/{p['language']}/{p['category']}" for p in pairs))
    out["fact_pairs"] = dict(Counter(p["language"] for p in pairs if p.get("expected")))
    out["fact_pairs_heldout"] = dict(Counter(p["language"] for p in pairs if p.get("expected") and pair_heldout(p)))
    out["messages_by"] = dict(Counter(f"{m['language']}/{m['category']}" for m in messages))
    out["messages_heldout"] = sum(heldout(m["id"]) for m in messages)
    return out


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("check", "stats"):
        print(__doc__)
        return 2
    if argv[0] == "stats":
        print(json.dumps(stats(), ensure_ascii=False, indent=1))
        return 0
    paths = [Path(a) for a in argv[1:]] or files()
    total, bad = 0, 0
    for path in paths:
        rows, problems = read(path)
        total += len(rows)
        bad += len(problems)
        for p in problems:
            print(p)
    print(f"{len(paths)} file(s), {total} row(s), {bad} problem(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
