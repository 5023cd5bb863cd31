"""The safety policy: severity per category, action per age band, thresholds. Loaded from YAML."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from server.safety.verdict import CATEGORIES, Action, Role, Severity

Band = Literal["early", "middle", "teen"]
BANDS: tuple[Band, ...] = ("early", "middle", "teen")
SEVERITY_RANK: dict[str, int] = {"none": 0, "low": 1, "medium": 2, "high": 3}


class PolicyError(ValueError):
    """A policy file that does not validate."""


class PerBand(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    early: float = Field(ge=0.0, le=1.0)
    middle: float = Field(ge=0.0, le=1.0)
    teen: float = Field(ge=0.0, le=1.0)


class ActionPerBand(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    early: Action
    middle: Action
    teen: Action


class CategoryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    severity: Severity
    child: ActionPerBand
    assistant: Literal["allow", "block"]
    threshold: PerBand


class AgeBands(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    early: int = Field(ge=3, le=17)
    middle: int = Field(ge=3, le=17)
    teen: int = Field(ge=3, le=17)

    @model_validator(mode="after")
    def _ordered(self) -> AgeBands:
        if not self.early < self.middle < self.teen:
            raise ValueError("age bands must rise: early < middle < teen")
        return self


class AssistantClassifier(BaseModel):
    """The classifier's bar for the assistant's own sentences: higher than for a child's message,
    because the persona's sentences are in-domain text with a low base rate of harm, where a model
    trained on public comment and prompt sets over-reacts to words of care ("tell a grown-up if
    someone hurts you"). The word lists and detectors apply to the assistant in full."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    harmful_threshold: float = Field(0.9, ge=0.0, le=1.0)
    min_category_threshold: float = Field(0.7, ge=0.0, le=1.0)


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    age_bands: AgeBands
    harmful_threshold: PerBand
    assistant_classifier: AssistantClassifier = AssistantClassifier()
    categories: dict[str, CategoryPolicy]

    @model_validator(mode="after")
    def _all_categories(self) -> Policy:
        missing = set(CATEGORIES) - set(self.categories)
        unknown = set(self.categories) - set(CATEGORIES)
        if missing or unknown:
            raise ValueError(f"categories must be exactly {CATEGORIES}; missing {sorted(missing)}, unknown {sorted(unknown)}")
        return self

    def band(self, age: int) -> Band:
        if age <= self.age_bands.early:
            return "early"
        if age <= self.age_bands.middle:
            return "middle"
        return "teen"

    def action(self, category: str, role: Role, band: Band) -> Action:
        cat = self.categories[category]
        if role == "assistant":
            return cat.assistant
        return getattr(cat.child, band)

    def threshold(self, category: str, band: Band, role: Role = "child") -> float:
        value: float = getattr(self.categories[category].threshold, band)
        if role == "assistant":
            value = max(value, self.assistant_classifier.min_category_threshold)
        return value

    def harmful(self, band: Band, role: Role = "child") -> float:
        if role == "assistant":
            return self.assistant_classifier.harmful_threshold
        value: float = getattr(self.harmful_threshold, band)
        return value

    def severity(self, category: str) -> Severity:
        return self.categories[category].severity


def load_policy(path: Path | None = None) -> Policy:
    """Read and validate the policy YAML (the bundled one when `path` is None)."""
    if path is None:
        text = resources.files("server.safety").joinpath("data/policy.yaml").read_text("utf-8")
        where = "server/safety/data/policy.yaml"
    else:
        text = Path(path).read_text("utf-8")
        where = str(path)
    try:
        return Policy.model_validate(yaml.safe_load(text))
    except Exception as exc:  # yaml or validation error: name the file
        raise PolicyError(f"{where}: {exc}") from exc
