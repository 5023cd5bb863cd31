"""Cleaning as the seeds describe it (SudaGom: personal data removed, social-media slang such as "레게노"
dropped; KidSmart: a curated set without repeats), for golden pairs and dialogues alike.

- personal details masked: phone numbers, emails, Korean resident registration numbers, street addresses,
  URLs and @handles become fixed placeholders ([전화번호]/[phone], ...);
- social-media slang and noise removed: the words in ``slang.txt`` (one per line, ``#`` comments), runs of
  jamo laughter (ㅋㅋㅋ, ㅎㅎ, ㅠㅠ), hashtags, repeated ! ? ~ (an ellipsis stays), emoji runs;
- duplicates and near-duplicates dropped: the key text (the question, or the child turns of a dialogue)
  is normalized and compared with RapidFuzz's ``ratio`` (>= ``near_dup_threshold`` drops the later one);
- length limits: an example whose text is empty after cleaning, or longer than ``max_chars``, is dropped;
- every kept example is tagged with its age band (5-6, 7-8, 9-10).

The masks are regular expressions written here because no maintained library covers Korean phone,
resident-number and address formats together; the safety pass (server/safety) detects the same kinds of
detail in live chat, and the two lists are meant to converge there.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from training.formats import Dialogue, GoldenPair, Turn, age_band

SLANG_FILE = Path(__file__).with_name("slang.txt")

_PII: list[tuple[re.Pattern[str], dict[str, str]]] = [
    (re.compile(r"https?://\S+|www\.\S+", re.I), {"ko": "[링크]", "en": "[link]"}),
    (re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"), {"ko": "[이메일]", "en": "[email]"}),
    # Korean resident registration number: YYMMDD-GNNNNNN (the dash may be missing or spaced).
    (re.compile(r"(?<!\d)\d{6}\s*-?\s*[1-8]\d{6}(?!\d)"), {"ko": "[주민번호]", "en": "[id number]"}),
    # Phone numbers: Korean mobile/landline (010-1234-5678, 02 123 4567), +82, and NANP-style numbers.
    (
        re.compile(r"(?<!\d)(?:\+?82[\s-]?)?0\d{1,2}[\s.-]?\d{3,4}[\s.-]?\d{4}(?!\d)"),
        {"ko": "[전화번호]", "en": "[phone]"},
    ),
    (
        re.compile(r"(?<!\d)(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}(?!\d)"),
        {"ko": "[전화번호]", "en": "[phone]"},
    ),
    # Korean road-name / lot addresses: "...로 12길 34", "...동 123-4", "... 아파트 101동 202호".
    (
        re.compile(r"[가-힣0-9]+(?:로|길)\s?\d+(?:-\d+)?(?:번?길\s?\d+)?|\d{1,4}동\s?\d{1,4}호"),
        {"ko": "[주소]", "en": "[address]"},
    ),
    # English street addresses: "42 Maple Street", "7 Elm Rd."
    (
        re.compile(
            r"\b\d{1,5}\s+(?:[A-Z][a-z]+\s){1,3}(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Boulevard|Blvd|Court|Ct)\b"
        ),
        {"ko": "[주소]", "en": "[address]"},
    ),
    (re.compile(r"(?<![\w@])@[A-Za-z0-9_]{2,}"), {"ko": "[아이디]", "en": "[handle]"}),
]

_NOISE: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"#[\w가-힣]+"), ""),  # hashtags
    (re.compile(r"[ㅋㅎㅠㅜ]{2,}"), ""),  # jamo laughter and crying
    (re.compile(r"([!?~])\1{2,}"), r"\1"),  # !!!! -> ! (an ellipsis stays)
    (re.compile(r"\.{4,}"), "..."),
    (re.compile(r"([\U0001F300-\U0001FAFF\u2600-\u27BF])\1{2,}"), r"\1"),  # emoji runs
]
_SPACES = re.compile(r"[ \t]{2,}")


def load_slang(path: Path = SLANG_FILE) -> list[str]:
    words = []
    for line in path.read_text(encoding="utf-8").splitlines():
        word = line.split("#", 1)[0].strip()
        if word:
            words.append(word)
    # Longest first so a longer slang word is removed before a shorter one inside it.
    return sorted(set(words), key=len, reverse=True)


@dataclass
class Cleaner:
    max_chars: int = 600
    near_dup_threshold: float = 92.0
    slang: list[str] = field(default_factory=load_slang)

    def __post_init__(self) -> None:
        # Latin-letter words only match as whole words ("lol" never eats "lollipop"); Korean ones anywhere.
        parts = [
            rf"(?<![A-Za-z]){re.escape(w)}(?![A-Za-z])" if w.isascii() else re.escape(w) for w in self.slang
        ]
        self._slang_re = re.compile("|".join(parts), re.I) if parts else None

    def mask(self, text: str, language: str) -> tuple[str, int]:
        """Mask personal details; returns the text and how many details were masked."""
        count = 0
        for pattern, placeholder in _PII:
            text, n = pattern.subn(placeholder.get(language, placeholder["en"]), text)
            count += n
        return text, count

    def denoise(self, text: str) -> tuple[str, int]:
        count = 0
        if self._slang_re is not None:
            text, n = self._slang_re.subn("", text)
            count += n
        for pattern, repl in _NOISE:
            text, n = pattern.subn(repl, text)
            count += n
        text = _SPACES.sub(" ", text)
        text = re.sub(r"\s+([,.!?])", r"\1", text)
        return text.strip(), count

    def clean_text(self, text: str, language: str, stats: Counter) -> str:
        text = unicodedata.normalize("NFC", text)
        text, masked = self.mask(text, language)
        text, noise = self.denoise(text)
        stats["masked_details"] += masked
        stats["noise_removed"] += noise
        return text


def norm_key(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"[\W_]+", " ", text).strip()


class NearDuplicates:
    """Normalized keys seen so far, per language; a key at or above the RapidFuzz ratio threshold repeats one."""

    def __init__(self, threshold: float) -> None:
        from rapidfuzz import fuzz, process

        self._process, self._scorer = process, fuzz.ratio
        self.threshold = threshold
        self.keys: dict[str, list[str]] = {}

    def match(self, key: str, language: str) -> str | None:
        """ "exact", "near" or None, without remembering the key."""
        keys = self.keys.get(language, [])
        if key in keys:
            return "exact"
        if keys and self._process.extractOne(key, keys, scorer=self._scorer, score_cutoff=self.threshold):
            return "near"
        return None

    def add(self, key: str, language: str) -> None:
        self.keys.setdefault(language, []).append(key)

    def seen(self, key: str, language: str) -> str | None:
        """Like match(), and remembers a new key."""
        hit = self.match(key, language)
        if hit is None:
            self.add(key, language)
        return hit


@dataclass
class CleanReport:
    kind: str
    read: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    stats: Counter = field(default_factory=Counter)
    by_band: Counter = field(default_factory=Counter)
    by_language: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "read": self.read,
            "kept": self.kept,
            "dropped": dict(self.dropped),
            "changes": dict(self.stats),
            "by_age_band": dict(sorted(self.by_band.items())),
            "by_language": dict(self.by_language),
        }


def clean_pairs(pairs: list[GoldenPair], cleaner: Cleaner) -> tuple[list[dict], CleanReport]:
    """Cleaned pairs as dicts (the GoldenPair fields plus ``age_band``) and what was dropped, by reason."""
    report = CleanReport("golden_pairs", read=len(pairs))
    dups = NearDuplicates(cleaner.near_dup_threshold)
    out: list[dict] = []
    for pair in pairs:
        fields = {
            name: cleaner.clean_text(getattr(pair, name), pair.language, report.stats)
            for name in ("question", "safe_answer", "unsafe_answer")
        }
        if not all(fields.values()):
            report.dropped["empty_after_cleaning"] += 1
            continue
        if max(len(v) for v in fields.values()) > cleaner.max_chars:
            report.dropped["too_long"] += 1
            continue
        repeat = dups.seen(norm_key(fields["question"]), pair.language)
        if repeat:
            report.dropped[f"{repeat}_duplicate"] += 1
            continue
        row = pair.model_dump() | fields | {"age_band": age_band(pair.age)}
        out.append(row)
        report.by_band[row["age_band"]] += 1
        report.by_language[pair.language] += 1
    report.kept = len(out)
    return out, report


def clean_dialogues(dialogues: list[Dialogue], cleaner: Cleaner) -> tuple[list[dict], CleanReport]:
    report = CleanReport("dialogues", read=len(dialogues))
    dups = NearDuplicates(cleaner.near_dup_threshold)
    out: list[dict] = []
    for dlg in dialogues:
        texts = [cleaner.clean_text(t.text, dlg.language, report.stats) for t in dlg.turns]
        if not all(texts):
            report.dropped["empty_after_cleaning"] += 1
            continue
        if max(len(t) for t in texts) > cleaner.max_chars:
            report.dropped["too_long"] += 1
            continue
        turns = [Turn(role=t.role, text=text) for t, text in zip(dlg.turns, texts, strict=True)]
        key = norm_key(" ".join(t.text for t in turns if t.role == "child"))
        repeat = dups.seen(key, dlg.language)
        if repeat:
            report.dropped[f"{repeat}_duplicate"] += 1
            continue
        row = dlg.model_dump() | {
            "turns": [t.model_dump() for t in turns],
            "age_band": age_band(dlg.age),
        }
        out.append(row)
        report.by_band[row["age_band"]] += 1
        report.by_language[dlg.language] += 1
    report.kept = len(out)
    return out, report
