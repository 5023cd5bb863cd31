"""Settings of the safety stage (env prefix KIDCHAT_SAFETY_).

What each category costs and what happens per age band is data: `policy.yaml` (bundled beside the
code in `server/safety/data/`, or the file `KIDCHAT_SAFETY_POLICY_PATH` points to). Nothing here is
read at import; `build_checker()` reads it once at start-up.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SafetySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KIDCHAT_SAFETY_", env_file=None, extra="ignore")

    policy_path: Path | None = Field(
        None,
        description="YAML with age bands, and per category its severity, the action per age band and "
        "the classifier threshold per age band. Empty means the bundled server/safety/data/policy.yaml.",
    )
    default_age: int = Field(
        6,
        ge=3,
        le=17,
        description="Age assumed when the caller does not know the child's age (the strictest band "
        "for kidchat's youngest users).",
    )
    classifier: bool = Field(
        True,
        description="Use the trained classifier beside the word lists (off: word lists and detectors only).",
    )
    classifier_path: Path | None = Field(
        None,
        description="Classifier artifact (.npz). Empty means the committed server/safety/data/classifier.npz.",
    )
    semantic: bool = Field(
        True,
        description="Let the classifier take a second look at texts its n-gram score is unsure about, "
        "with multilingual-e5-small sentence embeddings (server/safety/encoder.py; about 10 ms each here).",
    )
    children: bool = Field(
        True,
        description="Read every child message with the children's layer (server/safety/children.py), "
        "trained on children's own words; it names the category a child's message needs.",
    )
    children_path: Path | None = Field(
        None,
        description="Children's layer artifact (.npz). Empty means the committed server/safety/data/children.npz.",
    )
    encoder_threads: int = Field(
        1,
        ge=1,
        le=64,
        description="CPU threads of the sentence encoder (it shares the cores with the model).",
    )
    history_turns: int = Field(
        12,
        ge=0,
        le=100,
        description="How many of the child's earlier messages the conversation-level signals look at.",
    )

    @field_validator("policy_path", "classifier_path", "children_path", mode="before")
    @classmethod
    def _empty_is_none(cls, v: object) -> object:
        return None if v == "" else v
