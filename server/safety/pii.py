"""Personal-detail detectors: phone numbers (KR, US; also spelled out in words), e-mail, Korean resident registration numbers,
street addresses (KO, EN) and school names a child shares. Each hit is masked with a label
("[전화번호]" / "[phone]") in the language of the text.

Hand-written regular expressions: the maintained libraries cover parts (phonenumbers for phones) but
none covers Korean addresses, school names or resident numbers, and one pass of `re` keeps a check
well under a millisecond.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HANGUL = re.compile("[\uac00-\ud7a3]")
_D = r"(?<![\d])"
_ND = r"(?![\d])"
_SEP = r"[-.\s]?"

# kind -> (Korean label, English label)
LABELS: dict[str, tuple[str, str]] = {
    "rrn": ("[주민번호]", "[id number]"),
    "phone": ("[전화번호]", "[phone]"),
    "email": ("[이메일]", "[email]"),
    "address": ("[주소]", "[address]"),
    "school": ("[학교]", "[school]"),
}

_COUNTERS = "분|시|살|개|번(?!길)|명|층|초|원|년|월|일|등|학년|반|마리|권|장|대|점|km|킬로|미터|m\\b|cm|kg|%"
_EN_NOT_NAME = (
    "a|an|the|my|your|our|his|her|their|this|that|to|at|in|on|of|from|after|before|go|goes|went|going|"
    "attend|attends|love|like|hate|new|old|big|best|favorite|favourite|sunday|summer|art|music|dance|"
    "swim|swimming|driving|night|high|middle|elementary|primary|junior|public|private|home|i|we|you|"
    "they|she|he|it|is|am|are|was|were|and|or|but|first|last|next|every|grade|school"
)

PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # 주민등록번호: YYMMDD-SNNNNNN (S = 1-8)
    ("rrn", re.compile(_D + r"\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\s?[-–]?\s?[1-8]\d{6}" + _ND)),
    ("email", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)),
    ("email", re.compile(r"\b[\w.+-]+\s+(?:at|골뱅이)\s+[\w-]+\s+(?:dot|닷|점)\s+(?:com|net|org|kr|co\.kr|edu)\b", re.IGNORECASE)),
    # Korean mobile 010-1234-5678, +82 10 1234 5678; landlines 02-123-4567, 031-1234-5678
    ("phone", re.compile(_D + r"(?:\+?82[-.\s]?)?0?1[016789]" + _SEP + r"\d{3,4}" + _SEP + r"\d{4}" + _ND)),
    ("phone", re.compile(_D + r"0(?:2|[3-6][1-5])[-.\s)]\s?\d{3,4}" + _SEP + r"\d{4}" + _ND)),
    # North American (555) 123-4567, 555-123-4567, +1 555 123 4567, 5551234567
    ("phone", re.compile(_D + r"(?:\+?1[-.\s]?)?(?:\([2-9]\d{2}\)\s?|[2-9]\d{2}[-.\s]?)[2-9]\d{2}[-.\s]?\d{4}" + _ND)),
    # English street address: 123 Main Street, 42 Wallaby Way, 10 Downing St, apt 4
    ("address", re.compile(
        r"\b\d{1,6}[a-z]?\s+(?:(?!(?:on|in|at|the|a|an|to|with|my|your|of|and|for|from|by)\b)[a-z][\w'.-]*\s+){1,3}"
        r"(?:street|st|avenue|ave|road|rd|lane|ln|drive|dr|boulevard|blvd|court|ct|way|place|pl|terrace|"
        r"circle|parkway|pkwy|highway|hwy|crescent|close)\b\.?(?:,?\s*(?:apt|apartment|unit|suite|#)\.?\s*\w+)?",
        re.IGNORECASE,
    )),
    # 도로명 주소: 테헤란로 123, 중앙로12길 34-5, 세종대로 110번길 (not "가는길 5분")
    ("address", re.compile(
        r"[가-힣\d]{1,10}(?:로|길)\s?\d{1,4}(?:-\d{1,4})?(?:번길\s?\d{1,4})?(?!\d|\s?(?:" + _COUNTERS + "))"
    )),
    # 아파트 동·호: 101동 1203호
    ("address", re.compile(_D + r"\d{1,4}\s?동\s?\d{1,4}\s?호")),
    # 지번 주소: 서울시 강남구 역삼동 123-4, 강남구 역삼동
    ("address", re.compile(
        r"(?:[가-힣]{1,6}(?:특별시|광역시|시|도)\s?)?[가-힣]{1,6}(?:구|군)\s[가-힣\d]{1,8}(?:동|읍|면|리)(?:\s?\d{1,5}(?:-\d{1,5})?(?:번지)?)?(?![가-힣])"
    )),
    # 학교: 서울초등학교, 한빛중학교, 새싹유치원 (a name before the word; not "우리 초등학교")
    ("school", re.compile(
        r"(?<![가-힣])(?!(?:우리|내|제|저|이|그|새|다른|무슨|어느|같은|좋은|큰|작은|옆|동네|근처)(?:초등|중|고등|유치|어린))"
        r"[가-힣]{1,8}(?:초등학교|중학교|고등학교|유치원|어린이집|국민학교)"
    )),
    # English school names: Lincoln Elementary, Oak Hill Middle School, Maple Academy
    ("school", re.compile(
        r"\b(?:(?!(?:" + _EN_NOT_NAME + r")\b)[a-z][\w'.-]*\s+){1,3}"
        r"(?:elementary|primary|middle school|high school|junior high|academy|grammar school|prep school)\b",
        re.IGNORECASE,
    )),
)


@dataclass(frozen=True)
class Detail:
    kind: str
    start: int
    end: int


# Phone numbers spelled out: "five five five, oh one two three", "공일공 일이삼사 오육칠팔".
_EN_DIGITS = {"zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4",
              "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9"}
_KO_DIGITS = {"공": "0", "영": "0", "빵": "0", "일": "1", "이": "2", "삼": "3", "사": "4", "오": "5",
              "육": "6", "륙": "6", "칠": "7", "팔": "8", "구": "9"}
_EN_SPELLED = re.compile(
    r"\b(?:(?:zero|oh|o|one|two|three|four|five|six|seven|eight|nine)(?:[\s,.-]+|$)){7,}", re.IGNORECASE
)
# Korean: a run of digit syllables that starts like a phone number (공일…, 공이…); spaces, hyphens and
# "에" ("공일공에 일이삼사에…") may separate the groups.
_KO_SPELLED = re.compile(r"[공영빵]\s*[일이삼사오육칠팔구](?:[\s-]*(?:에\s+)?[공영빵일이삼사오육륙칠팔구]){7,}")
_PHONE_DIGITS = re.compile(r"0?1[016789]\d{7,8}|0[2-6]\d{7,9}|[2-9]\d{9}|[2-9]\d{6}")


def _consecutive(digits: str) -> bool:
    """Counting ("one two three four five six seven"), not a phone number."""
    steps = {(int(b) - int(a)) for a, b in zip(digits, digits[1:], strict=False)}
    return steps in ({1}, {-1})


def _spelled_phones(text: str) -> list[tuple[int, int]]:
    """Spans of phone numbers spelled in words. A Korean run may end in a particle that is also a
    digit syllable ("…오육칠팔이야"), so the longest leading run of digits that is a phone number counts."""
    spans = []
    for pattern, table, unit in ((_EN_SPELLED, _EN_DIGITS, r"[a-z]+"), (_KO_SPELLED, _KO_DIGITS, r"[가-힣]")):
        for m in pattern.finditer(text):
            digits, ends = "", []
            for u in re.finditer(unit, m.group(0), re.IGNORECASE):
                if u.group(0).lower() in table:
                    digits += table[u.group(0).lower()]
                    ends.append(m.start() + u.end())
            for k in range(len(digits), 6, -1):
                if _PHONE_DIGITS.fullmatch(digits[:k]) and not _consecutive(digits[:k]):
                    spans.append((m.start(), ends[k - 1]))
                    break
    return spans


def find_details(text: str) -> list[Detail]:
    """Personal details in `text`, left to right, without overlaps (earlier patterns win)."""
    found: list[Detail] = []
    for kind, pattern in PATTERNS:
        for m in pattern.finditer(text):
            s, e = m.span()
            if e - s < 3 or any(s < d.end and d.start < e for d in found):
                continue
            found.append(Detail(kind, s, e))
    for s, e in _spelled_phones(text):
        if not any(s < d.end and d.start < e for d in found):
            found.append(Detail("phone", s, e))
    return sorted(found, key=lambda d: d.start)


def mask(text: str) -> tuple[str, tuple[str, ...]]:
    """`text` with each personal detail replaced by its label, and the kinds found."""
    details = find_details(text)
    if not details:
        return text, ()
    ko = bool(_HANGUL.search(text))
    out: list[str] = []
    pos = 0
    for d in details:
        out.append(text[pos:d.start])
        out.append(LABELS[d.kind][0 if ko else 1])
        pos = d.end
    out.append(text[pos:])
    return "".join(out), tuple(dict.fromkeys(d.kind for d in details))
