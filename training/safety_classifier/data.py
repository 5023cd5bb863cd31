"""The public safety data sets in ../shared/data/safety, read into one list of labelled examples.

Each folder's NOTE.md gives the licence and how its labels map to kidchat's categories; the mapping
below follows it. Harmless request-shaped text (SQuARe questions and their English translations, KoSBi
safe sentences, and kidchat's own lists in ./data) balances the harmful requests of AILuminate,
SimpleSafetyTests and Safe-Child-LLM, so that the model does not learn that asking is harmful.

The held-out split is by a hash of the normalised text: the same text (several Korean sets share
comments) always lands on the same side, and the split never changes between runs.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
OWN = HERE / "data"
REPO = HERE.parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "safety"
DIALOGUES = REPO / "training" / "data" / "dialogues.jsonl"
TEST_PERCENT = 20

csv.field_size_limit(10_000_000)


@dataclass(frozen=True)
class Example:
    text: str
    lang: str  # "ko" | "en"
    source: str
    categories: tuple[str, ...]  # empty: harmless

    @property
    def harmful(self) -> bool:
        return bool(self.categories)


def _rows(path: Path, delimiter: str = ",", quoting: int = csv.QUOTE_MINIMAL) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        yield from csv.DictReader(f, delimiter=delimiter, quoting=quoting)


def _ex(text: str | None, lang: str, source: str, *cats: str) -> Example | None:
    text = (text or "").strip()
    if not text:
        return None
    return Example(text, lang, source, tuple(dict.fromkeys(c for c in cats if c)))


def _beep(root: Path) -> Iterator[Example | None]:
    for name in ("train.tsv", "dev.tsv"):
        for r in _rows(root / "beep" / name, "\t", csv.QUOTE_NONE):
            cat = {"hate": "hate", "offensive": "profanity"}.get(r["hate"], "")
            yield _ex(r["comments"], "ko", "beep", cat)


def _curse(root: Path) -> Iterator[Example | None]:
    for line in (root / "curse_2runo" / "dataset.txt").read_text("utf-8").splitlines():
        if "|" not in line:
            continue
        text, label = line.rsplit("|", 1)
        if label.strip() in ("0", "1"):
            yield _ex(text, "ko", "curse_2runo", "profanity" if label.strip() == "1" else "")


def _hatescore(root: Path) -> Iterator[Example | None]:
    for r in _rows(root / "hatescore" / "HateScore.csv"):
        cat = {"혐오발언": "hate", "단순 악플": "profanity"}.get(r["macrolabel"], "")
        yield _ex(r["comment"], "ko", "hatescore", cat)


def _kmhas(root: Path) -> Iterator[Example | None]:
    for r in _rows(root / "kmhas" / "kmhas_valid.txt", "\t", csv.QUOTE_NONE):
        labels = set((r.get("label") or "").split(","))
        if not labels - {""}:
            continue
        cats = []
        if "3" in labels:
            cats.append("profanity")
        if labels - {"3", "8"}:
            cats.append("hate")
        yield _ex(r["document"], "ko", "kmhas", *cats)


def _zizun(root: Path) -> Iterator[Example | None]:
    for r in _rows(root / "korean_malicious_zizun" / "Dataset.csv", "\t", csv.QUOTE_NONE):
        label = (r.get("lable") or "").strip()
        if label in ("0", "1"):  # inverted: 0 = malicious
            yield _ex(r["content"], "ko", "zizun", "hate" if label == "0" else "")


def _kosbi(root: Path) -> Iterator[Example | None]:
    for name in ("kosbi_valid.json", "kosbi_test.json"):
        for r in json.loads((root / "kosbi" / name).read_text("utf-8")):
            cat = "hate" if r.get("sentence_label") == "unsafe" else ""
            yield _ex(r.get("sentence"), "ko", "kosbi", cat)
            yield _ex(r.get("sentence_en"), "en", "kosbi_en", cat)


def _square(root: Path) -> Iterator[Example | None]:
    # sensitive or not, these are questions to answer with care, not to block (NOTE.md)
    for name in ("question_valid.json", "question_test.json", "question_test_ood.json"):
        for r in json.loads((root / "square" / name).read_text("utf-8")):
            yield _ex(r.get("question"), "ko", "square")
            yield _ex(r.get("question_en"), "en", "square_en")


def _davidson(root: Path) -> Iterator[Example | None]:
    for r in _rows(root / "davidson" / "labeled_data.csv"):
        cat = {"0": "hate", "1": "profanity"}.get(r["class"], "")
        text = re.sub(r"(?:RT\s+)?@\w+:?|https?://\S+|&amp;", " ", r["tweet"])
        yield _ex(text, "en", "davidson", cat)


def _toxigen(root: Path) -> Iterator[Example | None]:
    for r in _rows(root / "toxigen" / "prompt_sentences_unique.csv"):
        yield _ex(r["text"], "en", "toxigen", "hate" if r["label"] == "hate" else "")


AILUMINATE = {
    "vcr": "violence", "src": "sexual", "cse": "grooming", "ssh": "self_harm", "iwp": "dangerous",
    "ipv": "dangerous", "dfm": "hate", "ncr": "dangerous", "hte": "hate", "prv": "personal_info",
    "sxc_prn": "sexual",
}


def _ailuminate(root: Path) -> Iterator[Example | None]:
    path = root / "ailuminate" / "airr_official_1.0_demo_en_us_prompt_set_release.csv"
    for r in _rows(path):
        cat = AILUMINATE.get(r["hazard"])
        if cat:  # spc_* (specialised advice) are "answer carefully", not harmful
            yield _ex(r["prompt_text"], "en", "ailuminate", cat)


SST = {
    "Suicide, Self-Harm, and Eating Disorders": ("self_harm",),
    "Physical harm and Violence": ("violence",),
    "Illegal and Highly Regulated items": ("dangerous",),
    "Scams and fraud": ("dangerous",),
    "Child safety": ("grooming", "sexual"),
}


def _sst(root: Path) -> Iterator[Example | None]:
    for r in _rows(root / "simplesafetytests" / "sst_test_cases.csv"):
        yield _ex(r["prompts_final"], "en", "simplesafetytests", *SST[r["harm_area"]])


SAFE_CHILD = {
    "Adult Content": "sexual",
    "Assisting illegal activities": "dangerous",
    "Compromise privacy by leaking or inferring private information (person/individual)": "personal_info",
    "Judging or advising users to perform unethical or unsafe actions": "dangerous",
    "Mental Health or Overreliance Crisis": "self_harm",
    "Reducing the cost of disinformation campaigns": "dangerous",
    "Social stereotypes and unfair discrimination": "hate",
    "Toxic language (hate speech)": "hate",
}


def _safe_child(root: Path) -> Iterator[Example | None]:
    for name in ("prompts_6_12.csv", "prompts_13_17.csv"):
        for r in _rows(root / "safe_child_llm" / name):
            cat = SAFE_CHILD.get(r["category"])  # "Treat Chatbot as a Human" is not harm
            if cat:
                yield _ex(r["query"], "en", "safe_child_llm", cat)


def _lines(path: Path) -> list[str]:
    return [ln for ln in path.read_text("utf-8").splitlines() if ln.strip() and not ln.startswith("#")]


# A sentence ends at . ! ? (and CJK forms) followed by whitespace, like server/chat/gate.py cuts replies.
_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])[\"'”’)\]]*\s+")


def _dialogues() -> Iterator[Example | None]:
    """The persona's turns of kidchat's starter dialogues, sentence by sentence, as the stage checks a
    reply: what a careful persona says (comfort, safety advice, gentle refusals), all harmless. The
    children's turns are not used: some are disclosures, and they carry no labels."""
    for line in DIALOGUES.read_text("utf-8").splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        lang = item["language"]
        for turn in item["turns"]:
            if turn["role"] == "persona":
                for sentence in _SENTENCE_END.split(turn["text"]):
                    yield _ex(sentence, lang, "kidchat_dialogue")


def _own() -> Iterator[Example | None]:
    for lang in ("en", "ko"):
        for line in _lines(OWN / f"harmless_{lang}.txt"):
            yield _ex(line, lang, "kidchat_harmless")
        for line in _lines(OWN / f"protective_{lang}.txt"):
            yield _ex(line, lang, "kidchat_protective")
        for line in _lines(OWN / f"requests_{lang}.txt"):
            yield _ex(line, lang, "kidchat_requests")
    for line in _lines(OWN / "harmful_extra.txt"):
        cat, text = line.split("\t", 1)
        lang = "ko" if re.search("[가-힣]", text) else "en"
        yield _ex(text, lang, "kidchat_harmful", cat)
    yield from _dialogues()


READERS = (_beep, _curse, _hatescore, _kmhas, _zizun, _kosbi, _square, _davidson, _toxigen,
           _ailuminate, _sst, _safe_child)
# files each reader uses, for the data hash
FILES = (
    "beep/train.tsv", "beep/dev.tsv", "curse_2runo/dataset.txt", "hatescore/HateScore.csv",
    "kmhas/kmhas_valid.txt", "korean_malicious_zizun/Dataset.csv", "kosbi/kosbi_valid.json",
    "kosbi/kosbi_test.json", "square/question_valid.json", "square/question_test.json",
    "square/question_test_ood.json", "davidson/labeled_data.csv", "toxigen/prompt_sentences_unique.csv",
    "ailuminate/airr_official_1.0_demo_en_us_prompt_set_release.csv", "simplesafetytests/sst_test_cases.csv",
    "safe_child_llm/prompts_6_12.csv", "safe_child_llm/prompts_13_17.csv",
)


def load_examples(root: Path = DEFAULT_DATA) -> list[Example]:
    """Every labelled example, public sets first, then kidchat's own lists."""
    out: list[Example] = []
    for reader in READERS:
        out.extend(e for e in reader(root) if e is not None)
    out.extend(e for e in _own() if e is not None)
    return out


def data_sha256(root: Path = DEFAULT_DATA) -> str:
    """SHA-256 over the public files read and kidchat's own lists (name and bytes of each)."""
    h = hashlib.sha256()
    paths = [(f, root / f) for f in FILES] + [
        (f"kidchat/{p.name}", p) for p in sorted(OWN.glob("*.txt"))
    ] + [("kidchat/dialogues.jsonl", DIALOGUES)]
    for name, path in paths:
        h.update(name.encode())
        h.update(b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


def _key(text: str) -> int:
    norm = " ".join(text.casefold().split())
    return int.from_bytes(hashlib.blake2b(norm.encode(), digest_size=8).digest(), "big")


def is_test(example: Example) -> bool:
    return _key(example.text) % 100 < TEST_PERCENT


def split(examples: list[Example]) -> tuple[list[Example], list[Example]]:
    """(train, test): 20% held out by text hash; kidchat's own harmless lists always train."""
    train, test = [], []
    for e in examples:
        (test if is_test(e) and not e.source.startswith("kidchat") else train).append(e)
    return train, test


def every_nth(examples: list[Example], n: int) -> list[Example]:
    """Every n-th example of each set, in order. A plain `examples[::n]` follows the readers' order, and
    KoSBi and SQuARe interleave each Korean text with its English translation: `[::4]` kept only one
    language of them (the Korean KoSBi rows, the hardest Korean set, were all dropped)."""
    if n <= 1:
        return list(examples)
    seen: dict[str, int] = {}
    out = []
    for e in examples:
        k = seen.get(e.source, 0)
        seen[e.source] = k + 1
        if k % n == 0:
            out.append(e)
    return out


def lookalikes(lang: str) -> list[str]:
    """Held-out harmless look-alike questions (never trained on)."""
    return _lines(OWN / f"lookalike_eval_{lang}.txt")
