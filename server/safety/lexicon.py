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
    "sexual", "violence", "self_harm", "hate", "profanity", "dangerous",
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


def _plausible(match: str) -> bool:
    """A leet-view match must be mostly real letters: 'f••k' yes, '•••' no."""
    wild = match.count(WILD)
    if not wild:
        return True
    letters = sum(c.isalpha() for c in match)
    return letters >= 2 and wild <= letters


@dataclass(frozen=True)
class Lexicon:
    patterns: dict[str, re.Pattern[str]]
    allow: re.Pattern[str] | None

    @classmethod
    def load(cls) -> Lexicon:
        names = [*LEXICON_CATEGORIES, *(c + ASSISTANT_ONLY for c in LEXICON_CATEGORIES)]
        per_cat: dict[str, list[str]] = {name: [] for name in names}
        allow: list[str] = []
        for lang in LANGS:
            folder = resources.files("server.safety").joinpath("data", "lexicon", lang)
            for name in names:
                f = folder.joinpath(f"{name}.txt")
                if f.is_file():
                    per_cat[name].extend(_entries(f.read_text("utf-8")))
            a = folder.joinpath("allow.txt")
            if a.is_file():
                allow.extend(_entries(a.read_text("utf-8")))
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
        allow_p = None
        if allow:
            allow_p = re.compile("|".join(sorted((re.escape(a.casefold()) for a in allow), key=len, reverse=True)))
        return cls(patterns=patterns, allow=allow_p)

    def blank_allowed(self, view: str) -> str:
        """`view` with the harmless words of allow.txt blanked out ("시발점" -> spaces)."""
        if self.allow is None:
            return view
        return self.allow.sub(lambda m: " " * len(m.group(0)), view)

    def hits(self, views: tuple[str, ...], role: str) -> set[str]:
        """Categories with an entry in any of the views, for text said by `role`."""
        found: set[str] = set()
        for view in views:
            view = self.blank_allowed(view)
            for name, pattern in self.patterns.items():
                category, _, only = name.partition("@")
                if category in found or (only and only != role):
                    continue
                for m in pattern.finditer(view):
                    if _plausible(m.group(0)):
                        found.add(category)
                        break
        return found
