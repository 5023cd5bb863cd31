"""Text normalisation against obfuscation: the views of a text that the word lists are matched on.

A child (or a model) can hide a word in many ways; each view undoes some of them:

- base:   NFKC (full-width letters, ligatures, half-width jamo), accents stripped ("fück"), zero-width
          characters dropped, case folded, look-alike letters mapped to Latin ("fυсk" with Greek and
          Cyrillic letters, from the Unicode confusables table shipped by `confusable_homoglyphs`), and
          loose Hangul jamo composed into syllables ("ㅆㅣ발" -> "씨발", with `hangul_jamo`).
- leet:   inside words that mix letters with digits or symbols, consonant stand-ins become letters
          ("a$$" -> "ass") and vowel stand-ins and masks become the wildcard WILD ("f4ck", "sh!t",
          "f**k" -> "f•ck", "sh•t", "f••k"); the word lists let WILD stand for any one letter. Digits and
          symbols wedged between Hangul syllables are dropped ("씨1발", "씨.발" -> "씨발").
- joined: runs of single letters split by spaces or dots are joined ("s h i t", "f.u.c.k", "ㅅ ㅂ",
          "씨 발" -> "shit", "fuck", "ㅅㅂ", "씨발"): three or more Latin letters, two or more Hangul.

Repeated letters ("fuuuuck") are handled by the word-list patterns themselves (each letter may repeat).
Hand-written because no library combines these steps; the look-alike table and the jamo composition
come from the libraries named above.
"""

from __future__ import annotations

import json
import re
import unicodedata
from importlib import resources

from hangul_jamo import compose

WILD = "\u2022"  # stands for one hidden letter in the leet view

_ZERO_WIDTH = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufeff\uffa0]")
_HANGUL = "\uac00-\ud7a3\u3131-\u318e"
_HAS_JAMO_VOWEL = re.compile("[\u314f-\u3163]")
_CONJOINING = re.compile("[\u1100-\u11ff]")
_TOKEN = re.compile(r"\S+")
_LATIN = re.compile(r"[a-z]")
_LEET_CHARS = re.compile(r"[0-9@$!*#|+%]")
# Consonant stand-ins map to their letter; vowel stand-ins and masks to WILD.
_LEET = str.maketrans({"$": "s", "5": "s", "7": "t", "+": "t", "8": "b", "9": "g",
                       "@": WILD, "4": WILD, "3": WILD, "1": WILD, "!": WILD, "|": WILD,
                       "0": WILD, "*": WILD, "#": WILD, "%": WILD, "6": WILD, "2": WILD})
_BETWEEN_HANGUL = re.compile(f"(?<=[{_HANGUL}])(?:[^\\w\\s]|[0-9_])+(?=[{_HANGUL}])")
_WORD = re.compile(f"[\\w{WILD}]+")
_HANGUL_CHAR = re.compile(f"[{_HANGUL}]")


def _confusables_table() -> dict[int, str]:
    """Map every non-ASCII, non-Hangul character that Unicode lists as confusable with one ASCII
    letter or digit to that letter (lower case)."""
    data = json.loads(
        resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8")
    )
    table: dict[int, str] = {}
    for char, entries in data.items():
        if len(char) != 1 or char.isascii() or _HANGUL_CHAR.match(char):
            continue
        for entry in entries:
            c = entry["c"]
            if len(c) == 1 and c.isascii() and c.isalnum():
                table[ord(char)] = c.lower()
                break
    return table


class Normalizer:
    """Builds the views of a text. Construct once (reads the confusables table), then call `views`."""

    def __init__(self) -> None:
        self._confusables = _confusables_table()
        # NFKC turns compatibility jamo (ㅅ) into conjoining jamo (ᄉ); turn lone ones back.
        self._conjoining_to_compat: dict[int, str] = {}
        for cp in range(0x3131, 0x318F):
            nfkc = unicodedata.normalize("NFKC", chr(cp))
            if len(nfkc) == 1 and ord(nfkc) != cp:
                self._conjoining_to_compat.setdefault(ord(nfkc), chr(cp))

    def base(self, text: str) -> str:
        if _HAS_JAMO_VOWEL.search(text):
            text = compose(text)
        text = unicodedata.normalize("NFKC", text)
        if _CONJOINING.search(text):
            text = text.translate(self._conjoining_to_compat)
        text = _ZERO_WIDTH.sub("", text)
        if not text.isascii():
            # strip accents: decompose, drop combining marks, recompose (Hangul survives: its
            # conjoining jamo are letters, not marks)
            decomposed = unicodedata.normalize("NFD", text)
            text = unicodedata.normalize(
                "NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch))
            )
            text = text.translate(self._confusables)
        return text.casefold()

    @staticmethod
    def leet(base: str) -> str:
        def fix(m: re.Match[str]) -> str:
            tok = m.group(0)
            if _LATIN.search(tok) and _LEET_CHARS.search(tok):
                core = tok.strip(".,!?;:'\"()[]{}")
                lead = tok[: len(tok) - len(tok.lstrip(".,!?;:'\"()[]{}"))]
                trail = tok[len(lead) + len(core):]
                return lead + core.translate(_LEET) + trail
            return tok

        out = _TOKEN.sub(fix, base)
        return _BETWEEN_HANGUL.sub("", out)

    @staticmethod
    def joined(text: str) -> str | None:
        """Join runs of one-character words; None when there is no such run."""
        words = _WORD.findall(text)
        out: list[str] = []
        run: list[str] = []
        changed = False

        def flush() -> None:
            nonlocal changed
            hangul = bool(run) and all(_HANGUL_CHAR.match(c) for c in run)
            if len(run) >= 3 or (hangul and len(run) >= 2):
                out.append("".join(run))
                changed = True
            else:
                out.extend(run)
            run.clear()

        for w in words:
            if len(w) == 1:
                run.append(w)
            else:
                flush()
                out.append(w)
        flush()
        return " ".join(out) if changed else None

    def views(self, text: str) -> tuple[str, ...]:
        """The distinct views of `text`, base first."""
        base = self.base(text)
        views = [base]
        leet = self.leet(base)
        if leet != base:
            views.append(leet)
        joined = self.joined(leet)
        if joined is not None:
            views.append(joined)
        return tuple(views)
