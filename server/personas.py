"""Personas: strict data loaded from personas/*.yaml (yaml.safe_load into pydantic, extra="forbid").

Educator text is data: the system prompt, greeting and redirect lines are never rendered as templates.
The only substitution is the plain `{child_name}` placeholder, done with str.replace.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from server.safety.verdict import CATEGORIES

Language = Literal["ko", "en"]
# Redirect lines every persona must have in every language it speaks: the fallback, and the caring
# answers to a child who discloses self-harm or being hurt (never a refusal alone).
REQUIRED_REDIRECTS: tuple[str, ...] = ("default", "self_harm", "abuse_disclosure")


class PersonaError(ValueError):
    """A persona file that does not validate; the message names the file and the field."""


class Generation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    repeat_penalty: float = Field(1.1, ge=1.0, le=2.0)
    max_tokens: int = Field(160, ge=8, le=1024)


class SpeakerLabels(BaseModel):
    """How a transcript-style prompt (for base models) names the two speakers, e.g. 엄마 / 소은."""

    model_config = ConfigDict(extra="forbid")
    persona: str = Field(min_length=1, max_length=40)
    child: str = Field(min_length=1, max_length=40)


DEFAULT_CHILD_LABEL = {"ko": "아이", "en": "Child"}


class Persona(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,40}$")
    name: dict[Language, str] = Field(description="Display name per interface language.")
    description: dict[Language, str] = Field(default_factory=dict)
    languages: list[Language] = Field(min_length=1, description="Languages the persona speaks; first is primary.")
    age_min: int = Field(ge=3, le=14)
    age_max: int = Field(ge=3, le=14)
    avatar: str = Field("🙂", max_length=8, description="An emoji shown on the kids' page.")
    system_prompt: dict[Language, str]
    greeting: dict[Language, str]
    redirects: dict[Language, dict[str, str]] = Field(
        description="Per language: a kind line in the persona's voice for each safety category, "
        "plus 'default'. 'default', 'self_harm' and 'abuse_disclosure' are required."
    )
    generation: Generation = Field(default_factory=Generation)
    speaker_labels: dict[Language, SpeakerLabels] = Field(
        default_factory=dict, description="Optional; default: the persona's name and 아이/Child."
    )

    @field_validator("languages")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("languages must not repeat")
        return v

    @model_validator(mode="after")
    def _complete(self) -> Persona:
        if self.age_min > self.age_max:
            raise ValueError("age_min must not exceed age_max")
        for field_name in ("system_prompt", "greeting", "redirects", "name"):
            have = getattr(self, field_name)
            missing = [lang for lang in self.languages if lang not in have]
            if missing:
                raise ValueError(f"{field_name} lacks the language(s) {missing}")
            extra = [lang for lang in have if lang not in self.languages]
            if extra:
                raise ValueError(f"{field_name} has language(s) {extra} not in languages")
        for lang, lines in self.redirects.items():
            unknown = sorted(set(lines) - set(CATEGORIES) - {"default"})
            if unknown:
                raise ValueError(f"redirects.{lang} has unknown categories {unknown}")
            for required in REQUIRED_REDIRECTS:
                if not lines.get(required, "").strip():
                    raise ValueError(f"redirects.{lang}.{required} is required")
        for field_name in ("system_prompt", "greeting"):
            for lang, text in getattr(self, field_name).items():
                if not text.strip():
                    raise ValueError(f"{field_name}.{lang} is empty")
        return self

    @property
    def primary_language(self) -> Language:
        return self.languages[0]

    def language_for(self, lang: str | None) -> Language:
        """The language to answer in: the child's, when the persona speaks it."""
        return lang if lang in self.languages else self.primary_language  # type: ignore[return-value]

    def labels(self, lang: str) -> SpeakerLabels:
        lang = self.language_for(lang)
        return self.speaker_labels.get(lang) or SpeakerLabels(  # type: ignore[call-overload]
            persona=self.name[lang], child=DEFAULT_CHILD_LABEL[lang]  # type: ignore[index]
        )

    def redirect(self, category: str | None, lang: str | None) -> str:
        lines = self.redirects[self.language_for(lang)]
        return lines.get(category or "default") or lines["default"]

    def public(self) -> dict:
        """What GET /api/personas shows: no prompts."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "languages": self.languages,
            "age_min": self.age_min,
            "age_max": self.age_max,
            "avatar": self.avatar,
        }


def parse_persona(raw: str, source: str = "<persona>") -> Persona:
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise PersonaError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PersonaError(f"{source}: expected a mapping at the top level")
    try:
        return Persona.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in exc.errors()
        )
        raise PersonaError(f"{source}: {problems}") from exc


def load_personas(folder: Path) -> dict[str, Persona]:
    """Load and validate every personas/*.yaml; any invalid file stops start-up with its errors."""
    personas: dict[str, Persona] = {}
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise PersonaError(f"{folder}: no persona files")
    for path in files:
        persona = parse_persona(path.read_text(encoding="utf-8"), source=path.name)
        if path.stem != persona.id:
            raise PersonaError(f"{path.name}: id '{persona.id}' must match the file name")
        personas[persona.id] = persona
    return personas
