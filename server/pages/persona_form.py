"""The persona editor's form <-> Persona. Every value is plain data: nothing here renders text.

Field names are dotted paths of the Persona schema (`greeting.ko`, `redirects.en.self_harm`,
`generation.temperature`), so a pydantic error's location names the field it belongs next to.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from server.personas import REQUIRED_REDIRECTS, Persona
from server.safety.verdict import CATEGORIES

LANGS = ("ko", "en")
REDIRECT_KEYS = (*REQUIRED_REDIRECTS, *(c for c in CATEGORIES if c not in REQUIRED_REDIRECTS))
GENERATION = ("temperature", "top_p", "repeat_penalty", "max_tokens")
MAX_CHARS = {"name": 40, "description": 200, "system_prompt": 4000, "greeting": 500, "redirects": 500, "speaker_labels": 40}
Errors = dict[str, tuple[str, dict | None]]


def empty_values(persona_id: str = "") -> dict:
    values: dict = {"id": persona_id, "languages": ["ko"], "primary": "ko", "age_min": "5", "age_max": "10", "avatar": "🙂"}
    for g, default in zip(GENERATION, ("0.7", "0.9", "1.1", "160"), strict=True):
        values[f"generation.{g}"] = default
    return values


def values_from_persona(p: Persona) -> dict:
    v: dict = {
        "id": p.id, "languages": list(p.languages), "primary": p.primary_language,
        "age_min": str(p.age_min), "age_max": str(p.age_max), "avatar": p.avatar,
    }
    for lang in LANGS:
        v[f"name.{lang}"] = p.name.get(lang, "")  # type: ignore[call-overload]
        v[f"description.{lang}"] = p.description.get(lang, "")  # type: ignore[call-overload]
        v[f"system_prompt.{lang}"] = p.system_prompt.get(lang, "")  # type: ignore[call-overload]
        v[f"greeting.{lang}"] = p.greeting.get(lang, "")  # type: ignore[call-overload]
        for key in REDIRECT_KEYS:
            v[f"redirects.{lang}.{key}"] = p.redirects.get(lang, {}).get(key, "")  # type: ignore[call-overload]
        labels = p.speaker_labels.get(lang)  # type: ignore[call-overload]
        v[f"speaker_labels.{lang}.persona"] = labels.persona if labels else ""
        v[f"speaker_labels.{lang}.child"] = labels.child if labels else ""
    for g in GENERATION:
        v[f"generation.{g}"] = str(getattr(p.generation, g))
    return v


def values_from_form(form: Mapping, persona_id: str | None) -> dict:
    """The submitted form as the editor's values (strings; `languages` a list)."""
    values: dict = {}
    langs = []
    for key, value in form.multi_items():
        if not isinstance(value, str) or key in ("csrf_token", "preview_text", "preview_history"):
            continue
        if key == "languages":
            langs.append(value)
        else:
            values[key] = value.strip()
    values["languages"] = [lang for lang in LANGS if lang in langs]
    if persona_id is not None:
        values["id"] = persona_id
    # Multi-line texts keep their inner line breaks; only the ends are trimmed (above).
    return values


def _number(errors: Errors, values: dict, key: str, kind: type) -> float | int | None:
    raw = values.get(key, "")
    try:
        return kind(raw)
    except ValueError:
        errors[key] = ("err_number", {})
        return None


def persona_from_values(values: dict) -> tuple[Persona | None, Errors]:
    """Validate with the strict schema; errors are keyed by the field they belong next to."""
    errors: Errors = {}
    langs = [lang for lang in LANGS if lang in values.get("languages", [])]
    if not langs:
        errors["languages"] = ("err_languages", {})
    primary = values.get("primary") if values.get("primary") in langs else (langs[0] if langs else "ko")
    ordered = [primary, *[lang for lang in langs if lang != primary]] if langs else []

    def text(key: str, limit_group: str, required: bool) -> str:
        value = values.get(key, "")
        if required and not value:
            errors[key] = ("err_required", {})
        elif len(value) > MAX_CHARS[limit_group]:
            errors[key] = ("err_too_long", {"max": MAX_CHARS[limit_group]})
        return value

    data: dict = {
        "id": values.get("id", ""), "languages": ordered, "avatar": values.get("avatar", "") or "🙂",
        "name": {}, "description": {}, "system_prompt": {}, "greeting": {}, "redirects": {}, "speaker_labels": {},
    }
    for lang in LANGS:  # descriptions may exist for any interface language (an English persona's Korean blurb)
        desc = text(f"description.{lang}", "description", False)
        if desc:
            data["description"][lang] = desc
    for lang in ordered:
        data["name"][lang] = text(f"name.{lang}", "name", True)
        data["system_prompt"][lang] = text(f"system_prompt.{lang}", "system_prompt", True)
        data["greeting"][lang] = text(f"greeting.{lang}", "greeting", True)
        lines = {}
        for key in REDIRECT_KEYS:
            line = text(f"redirects.{lang}.{key}", "redirects", key in REQUIRED_REDIRECTS)
            if line:
                lines[key] = line
        data["redirects"][lang] = lines
        who = text(f"speaker_labels.{lang}.persona", "speaker_labels", False)
        child = text(f"speaker_labels.{lang}.child", "speaker_labels", False)
        if who or child:
            if not (who and child):
                errors[f"speaker_labels.{lang}.{'child' if who else 'persona'}"] = ("err_labels_both", {})
            data["speaker_labels"][lang] = {"persona": who, "child": child}
    age_min = _number(errors, values, "age_min", int)
    age_max = _number(errors, values, "age_max", int)
    if age_min is not None and age_max is not None and age_min > age_max:
        errors["age_max"] = ("err_age_order", {})
    data["age_min"], data["age_max"] = age_min, age_max
    data["generation"] = {
        g: _number(errors, values, f"generation.{g}", int if g == "max_tokens" else float) for g in GENERATION
    }
    if errors:
        return None, errors
    try:
        return Persona.model_validate(data), {}
    except ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(part) for part in err["loc"] if not isinstance(part, int))
            field = loc if (loc in values or loc in ("id", "languages", "avatar")) else "_form"
            errors.setdefault(field, (err["msg"], None))
        return None, errors
