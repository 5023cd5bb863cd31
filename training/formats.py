"""The two training data formats (docs/training.md) and their line-by-line validation.

Golden pairs (``golden_pairs.jsonl``): an educator's question with a safe and an unsafe answer.
Persona dialogues (``dialogues.jsonl``): multi-turn conversations of a child with a persona.

Validation reads every line and collects every problem as ``file:line: field: message``, so an educator
fixing a file sees all errors at once. Messages never quote the text of an example.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from server.safety.verdict import CATEGORIES

PERSONAS: tuple[str, ...] = ("soeun-mom", "reading-buddy", "teacher-hana")
PAIR_CATEGORIES: tuple[str, ...] = (*CATEGORIES, "everyday")
Language = Literal["ko", "en"]


def age_band(age: int) -> str:
    """The age band an example is tagged with: 5-6, 7-8 or 9-10."""
    low = age - (age - 5) % 2
    return f"{low}-{low + 1}"


def _check_persona(v: str) -> str:
    if v not in PERSONAS:
        raise ValueError(f"unknown persona (expected one of {', '.join(PERSONAS)})")
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class GoldenPair(_Strict):
    id: str = Field(min_length=1, max_length=80)
    question: str = Field(min_length=1)
    safe_answer: str = Field(min_length=1)
    unsafe_answer: str = Field(min_length=1)
    age: int = Field(ge=5, le=10)
    language: Language
    persona: str
    category: str
    source: str = Field(min_length=1)

    _persona = field_validator("persona")(_check_persona)

    @field_validator("category")
    @classmethod
    def _category(cls, v: str) -> str:
        if v not in PAIR_CATEGORIES:
            raise ValueError(f"unknown category (expected one of {', '.join(PAIR_CATEGORIES)})")
        return v

    @model_validator(mode="after")
    def _different(self) -> GoldenPair:
        if self.safe_answer == self.unsafe_answer:
            raise ValueError("safe_answer and unsafe_answer are the same")
        return self


class Turn(_Strict):
    role: Literal["child", "persona"]
    text: str = Field(min_length=1)


class Dialogue(_Strict):
    id: str = Field(min_length=1, max_length=80)
    persona: str
    language: Language
    age: int = Field(ge=5, le=10)
    turns: list[Turn] = Field(min_length=2)
    source: str = Field(min_length=1)

    _persona = field_validator("persona")(_check_persona)

    @model_validator(mode="after")
    def _shape(self) -> Dialogue:
        for i in range(1, len(self.turns)):
            if self.turns[i].role == self.turns[i - 1].role:
                raise ValueError(f"turns[{i}] has the same role as turns[{i - 1}] (turns must alternate)")
        if self.turns[-1].role != "persona":
            raise ValueError("the last turn must be a persona turn")
        if not any(t.role == "child" for t in self.turns):
            raise ValueError("a dialogue needs at least one child turn")
        return self


@dataclass
class LoadResult:
    items: list
    errors: list[str]

    @property
    def ok(self) -> bool:
        return not self.errors


class DataError(ValueError):
    """A data file that does not validate; the message lists every problem with its line."""


def _format_error(where: str, exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(line)"
        msg = err["msg"].removeprefix("Value error, ")
        out.append(f"{where}: {loc}: {msg}")
    return out


def validate_lines(lines: Iterable[str], model: type[BaseModel], name: str) -> LoadResult:
    """Validate JSONL text: one object per non-blank line; ids must be unique within the file."""
    items: list = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{name}:{lineno}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(raw, dict):
            errors.append(f"{where}: expected a JSON object")
            continue
        try:
            item = model.model_validate(raw)
        except ValidationError as exc:
            errors.extend(_format_error(where, exc))
            continue
        ident = item.id  # type: ignore[attr-defined]
        if ident in seen:
            errors.append(f"{where}: id: duplicate id (first on line {seen[ident]})")
            continue
        seen[ident] = lineno
        items.append(item)
    return LoadResult(items, errors)


def load_jsonl(path: Path, model: type[BaseModel]) -> list:
    """Load and validate a JSONL file; raise DataError listing every problem."""
    with path.open(encoding="utf-8") as fh:
        result = validate_lines(fh, model, path.name)
    if result.errors:
        raise DataError(f"{path}: {len(result.errors)} problem(s)\n" + "\n".join(result.errors))
    return result.items


def load_pairs(path: Path) -> list[GoldenPair]:
    return load_jsonl(path, GoldenPair)


def load_dialogues(path: Path) -> list[Dialogue]:
    return load_jsonl(path, Dialogue)


def write_jsonl(path: Path, rows: Iterable[BaseModel | dict]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            data = row.model_dump() if isinstance(row, BaseModel) else row
            fh.write(json.dumps(data, ensure_ascii=False) + "\n")
            n += 1
    return n
