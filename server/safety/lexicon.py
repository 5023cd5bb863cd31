"""Word lists per category and language, compiled into one pattern per category.

Data lives in `server/safety/data/lexicon/{en,ko}/<category>.txt` (one entry a line, `#` comments) and
in the LDNOOBW lists under `data/ldnoobw/` (CC BY 4.0, see data/ldnoobw/NOTICE.md) with `map.yaml`
saying which of their entries are skipped as too ambiguous for children's chat and which belong to a
category other than `sexual`. An entry is one of:

- a Latin word or phrase: matched as whole words on the normalised views (`normalize.py`); each letter
  may repeat ("fuuuck") or be hidden behind the leet wildcard ("f••k"); a plural "s" may follow; `*` at
  either end lets the word run on at that side ("fuck*" matches "fucking");
- a Korean word or phrase: matched anywhere inside a word (Korean glues particles and endings onto
  words), spaces in the entry optional in the text; `<` in front means it must start a word
  ("<씨팔" spares "아저씨팔", uncle's arm); harmless words that contain an entry ("시발점", starting
  point) are listed in `allow.txt` and blanked before matching;
- `re:` followed by a Python regular expression, for phrases that need alternatives.

`allow.txt` lists harmless words for both roles, `allow@assistant.txt` harmless phrases only the
assistant says (the name of a helpline: "자살예방 상담전화"); both take literal entries and `re:`.

What the assistant says is read in context where a listed phrase is only quoted to warn or to reflect
the child's feelings back: an `@assistant` phrase, or a self-harm or violence phrase, does not count
when the assistant forbids it ("never meet up with...", "주소를 알려 주면 안 돼", "비밀로 하자는 사람은
위험해") or reflects it ("사라지고 싶을 만큼 속상했구나"). A child saying the same is judged as said.

Hand-written because no maintained library handles Korean and English lists with these obfuscation
rules; the patterns are plain `re`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import yaml

from server.safety.normalize import WILD

LANGS = ("en", "ko")
# `<category>.txt` counts for both roles; `<category>@assistant.txt` only when the assistant says it
# (asking a child for personal details, "our little secret": words a child may say harmlessly).
LEXICON_CATEGORIES: tuple[str, ...] = (
    "sexual", "violence", "self_harm", "abuse_disclosure", "hate", "profanity", "dangerous",
    "personal_info", "grooming", "jailbreak", "scary_adult",
)
ASSISTANT_ONLY = "@assistant"
_HANGUL = re.compile("[\uac00-\ud7a3\u3131-\u318e]")
_B_LEFT = f"(?<![\\w{WILD}])"
_B_RIGHT = f"(?![\\w{WILD}])"


def _data(path: str) -> str:
    return resources.files("server.safety").joinpath("data", path).read_text("utf-8")


def _entries(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def entry_pattern(entry: str) -> str:
    """The regular expression for one lexicon entry (see the module docstring)."""
    if entry.startswith("re:"):
        return f"(?:{entry[3:]})"
    entry = entry.casefold()
    if _HANGUL.search(entry):
        left = ""
        if entry.startswith("<"):
            entry, left = entry[1:], "(?<![\uac00-\ud7a3\u3131-\u318e])"
        return left + "".join(r"\s*" if c == " " else re.escape(c) for c in entry)
    left = "" if entry.startswith("*") else _B_LEFT
    right = "" if entry.endswith("*") else _B_RIGHT
    parts = []
    for c in entry.strip("*"):
        if c == " ":
            parts.append(f"[^\\w{WILD}]+")
        elif c.isalpha() and c.isascii():
            parts.append(f"[{c}{WILD}]+")
        else:
            parts.append(re.escape(c))
    if right and entry[-1].isalpha():
        parts.append("s?")  # plural: "niggers", "dicks"
    return left + "".join(parts) + right


def _compile(entries: list[str]) -> re.Pattern[str] | None:
    if not entries:
        return None
    # longest first so that the reported span is the longest entry
    pats = sorted({entry_pattern(e) for e in entries}, key=len, reverse=True)
    return re.compile("|".join(pats))


# The assistant forbidding a phrase: a negation just before it (English) ...
_EN_NEGATED = re.compile(
    r"\b(?:never|don'?t|do not|doesn'?t|does not|shouldn'?t|should not|won'?t|will not|can'?t|cannot|"
    r"mustn'?t|must not|not|no one should|nobody should)\s+(?:[\w']+\s+){0,2}$"
)
# ... or someone else saying it, in a conditional clause ("if a grown-up says it's our secret, ...") ...
_EN_REPORTED = re.compile(
    r"\b(?:if|when|whenever) (?:someone|somebody|anyone|anybody|a grown-?up|an adult|a stranger|a person|"
    r"people|they|he|she|a friend)\b[^.!?]{0,50}$"
)
# ... or a prohibition, a quotation or a reflection right after it, in the same clause (Korean).
_KO_CONTEXT = re.compile(
    r"^[^.!?,;\n]{0,12}?(?:면 안|지 마|지 말|지 않|자는 |자고 하|라는 |라고 하|려는 |하는 사람|다는 |다고 |"
    r"을 만큼|을 정도|은 마음|는 마음|은 생각|는 생각|구나|는 건 |는 것은 |는 일은 )"
)
# ... or a warning: "~하면 위험해", "~하면 더 다쳐" (what happens if the child does it).
_KO_WARNING = re.compile(r"^[^.!?\n]{0,6}?면\s[^.!?\n]{0,30}?(?:위험|다치|다쳐|아프|아파|안 돼|큰일|나빠|나쁜|죽어|죽을)")
# categories whose phrases the assistant may quote to warn or reflect
_CONTEXT_CATEGORIES = frozenset({"self_harm", "violence"})


def _quoted_by_assistant(view: str, start: int, end: int) -> bool:
    """True when the assistant's phrase at view[start:end] is forbidden, quoted or reflected."""
    after = view[end : end + 48]
    before = view[max(0, start - 60) : start]
    return bool(
        _EN_NEGATED.search(before[-40:])
        or _EN_REPORTED.search(before)
        or _KO_CONTEXT.match(after)
        or _KO_WARNING.match(after)
    )


def _plausible(match: str) -> bool:
    """A leet-view match must be mostly real letters: 'f••k' yes, '•••' no."""
    wild = match.count(WILD)
    if not wild:
        return True
    letters = sum(c.isalpha() for c in match)
    return letters >= 2 and wild <= letters


def _allow_pattern(entries: list[str]) -> re.Pattern[str] | None:
    if not entries:
        return None
    pats = [e[3:] if e.startswith("re:") else re.escape(e.casefold()) for e in entries]
    return re.compile("|".join(sorted(pats, key=len, reverse=True)))


@dataclass(frozen=True)
class Lexicon:
    patterns: dict[str, re.Pattern[str]]
    allow: dict[str, re.Pattern[str] | None]  # per role

    @classmethod
    def load(cls) -> Lexicon:
        names = [*LEXICON_CATEGORIES, *(c + ASSISTANT_ONLY for c in LEXICON_CATEGORIES)]
        per_cat: dict[str, list[str]] = {name: [] for name in names}
        allow: list[str] = []
        allow_assistant: list[str] = []
        for lang in LANGS:
            folder = resources.files("server.safety").joinpath("data", "lexicon", lang)
            for name in names:
                f = folder.joinpath(f"{name}.txt")
                if f.is_file():
                    per_cat[name].extend(_entries(f.read_text("utf-8")))
            for target, fname in ((allow, "allow.txt"), (allow_assistant, f"allow{ASSISTANT_ONLY}.txt")):
                a = folder.joinpath(fname)
                if a.is_file():
                    target.extend(_entries(a.read_text("utf-8")))
        mapping = yaml.safe_load(_data("ldnoobw/map.yaml"))
        skip = {s.casefold() for s in mapping.get("skip", [])}
        recat = {k.casefold(): v for k, v in (mapping.get("categories") or {}).items()}
        for lang in LANGS:
            for word in _entries(_data(f"ldnoobw/{lang}.txt")):
                key = word.casefold()
                if key in skip:
                    continue
                cat = recat.get(key, "sexual")
                if cat not in per_cat:
                    raise ValueError(f"ldnoobw/map.yaml: unknown category {cat!r}")
                per_cat[cat].append(word)
        patterns = {name: p for name, entries in per_cat.items() if (p := _compile(entries)) is not None}
        allow_p = {
            "child": _allow_pattern(allow),
            "assistant": _allow_pattern(allow + allow_assistant),
        }
        return cls(patterns=patterns, allow=allow_p)

    def blank_allowed(self, view: str, role: str = "child") -> str:
        """`view` with the harmless words of the allow lists blanked out ("시발점" -> spaces)."""
        pattern = self.allow.get(role)
        if pattern is None:
            return view
        return pattern.sub(lambda m: " " * len(m.group(0)), view)

    def hits(self, views: tuple[str, ...], role: str) -> set[str]:
        """Categories with an entry in any of the views, for text said by `role`."""
        found: set[str] = set()
        for view in views:
            view = self.blank_allowed(view, role)
            for name, pattern in self.patterns.items():
                category, _, only = name.partition("@")
                if category in found or (only and only != role):
                    continue
                in_context = role == "assistant" and (bool(only) or category in _CONTEXT_CATEGORIES)
                for m in pattern.finditer(view):
                    if not _plausible(m.group(0)):
                        continue
                    if in_context and _quoted_by_assistant(view, m.start(), m.end()):
                        continue
                    found.add(category)
                    break
        return found
