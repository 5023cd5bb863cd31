"""The shipped personas/*.yaml: they load through the strict schema and are complete.

Complete means: the three ids the pages and docs name, the promised languages, a greeting and a
redirect line for every safety category (plus 'default') in every language the persona speaks.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from server.personas import Persona, load_personas
from server.safety.verdict import CATEGORIES

PERSONAS_DIR = Path(__file__).resolve().parent.parent / "personas"
HANGUL = re.compile(r"[\uac00-\ud7a3]")
LATIN_WORD = re.compile(r"[A-Za-z]{3,}")


@pytest.fixture(scope="module")
def personas() -> dict[str, Persona]:
    return load_personas(PERSONAS_DIR)


def test_the_three_personas_load(personas: dict[str, Persona]) -> None:
    assert {"soeun-mom", "reading-buddy", "teacher-hana"} <= set(personas)


@pytest.mark.parametrize(
    ("persona_id", "languages", "ages"),
    [
        ("soeun-mom", ["ko"], (6, 8)),
        ("reading-buddy", ["en"], (5, 8)),
        ("teacher-hana", ["ko", "en"], (6, 10)),
    ],
)
def test_languages_and_ages(
    personas: dict[str, Persona], persona_id: str, languages: list[str], ages: tuple[int, int]
) -> None:
    persona = personas[persona_id]
    assert persona.languages == languages
    assert (persona.age_min, persona.age_max) == ages


def test_every_category_has_a_redirect_in_every_language(personas: dict[str, Persona]) -> None:
    wanted = set(CATEGORIES) | {"default"}
    for persona in personas.values():
        assert set(persona.redirects) == set(persona.languages), persona.id
        for lang, lines in persona.redirects.items():
            missing = wanted - set(lines)
            assert not missing, f"{persona.id}.{lang} lacks {sorted(missing)}"
            for category, line in lines.items():
                assert line.strip(), f"{persona.id}.{lang}.{category} is empty"


def test_each_text_is_written_in_its_language(personas: dict[str, Persona]) -> None:
    """A Korean slot holds Hangul; an English slot holds no Hangul."""
    for persona in personas.values():
        for lang in persona.languages:
            texts = [persona.system_prompt[lang], persona.greeting[lang], *persona.redirects[lang].values()]
            for text in texts:
                if lang == "ko":
                    assert HANGUL.search(text), f"{persona.id}: not Korean: {text[:40]}"
                else:
                    assert not HANGUL.search(text) and LATIN_WORD.search(text), f"{persona.id}: {text[:40]}"


def test_self_harm_lines_point_to_a_trusted_adult(personas: dict[str, Persona]) -> None:
    adults = {"ko": ("엄마", "아빠", "선생님"), "en": ("mom", "dad", "teacher", "grown-up")}
    for persona in personas.values():
        for lang in persona.languages:
            line = persona.redirects[lang]["self_harm"].lower()
            assert any(word in line for word in adults[lang]), f"{persona.id}.{lang}"


def test_grooming_and_personal_info_lines_mention_a_parent(personas: dict[str, Persona]) -> None:
    parents = {"ko": ("엄마", "아빠"), "en": ("mom", "dad")}
    for persona in personas.values():
        for lang in persona.languages:
            for category in ("grooming", "personal_info"):
                line = persona.redirects[lang][category].lower()
                assert any(word in line for word in parents[lang]), f"{persona.id}.{lang}.{category}"


def test_redirect_lookup_uses_the_persona_voice(personas: dict[str, Persona]) -> None:
    hana = personas["teacher-hana"]
    assert hana.redirect("profanity", "en") == hana.redirects["en"]["profanity"]
    assert hana.redirect("profanity", "ko") == hana.redirects["ko"]["profanity"]
    # a language the persona does not speak falls back to its primary language
    assert (
        personas["soeun-mom"].redirect("dangerous", "en")
        == personas["soeun-mom"].redirects["ko"]["dangerous"]
    )


def test_prompts_stay_small_model_friendly(personas: dict[str, Persona]) -> None:
    """Short, direct system prompts: a 135M-270M model loses long instructions."""
    for persona in personas.values():
        for lang, prompt in persona.system_prompt.items():
            assert len(prompt) <= 600, f"{persona.id}.{lang} prompt is {len(prompt)} chars"
            assert "{" not in prompt and "}" not in prompt, "no template syntax in educator text"


def test_public_view_has_no_prompts(personas: dict[str, Persona]) -> None:
    for persona in personas.values():
        public = persona.public()
        assert "system_prompt" not in public and "redirects" not in public
        assert public["avatar"] and public["name"]


def test_abuse_disclosure_lines_name_someone_besides_the_parents_and_a_helpline(
    personas: dict[str, Persona],
) -> None:
    """The parents get the alert and may be the ones hurting the child: the line names a teacher or
    another trusted grown-up and a helpline, and says it is not the child's fault."""
    others = {"ko": ("선생님", "어른"), "en": ("teacher", "grown-up")}
    helplines = {"ko": ("1391", "112"), "en": ("1-800-422-4453", "911")}
    not_your_fault = {"ko": "네 잘못이 아니", "en": "not your fault"}
    for persona in personas.values():
        for lang in persona.languages:
            line = persona.redirects[lang]["abuse_disclosure"]
            assert any(w in line.lower() for w in others[lang]), f"{persona.id}.{lang}"
            assert all(h in line for h in helplines[lang]), f"{persona.id}.{lang}"
            assert not_your_fault[lang] in line.lower(), f"{persona.id}.{lang}"


def test_a_persona_without_an_abuse_disclosure_line_is_refused() -> None:
    import yaml

    from server.personas import PersonaError, parse_persona

    path = PERSONAS_DIR / "reading-buddy.yaml"
    data = yaml.safe_load(path.read_text("utf-8"))
    del data["redirects"]["en"]["abuse_disclosure"]
    with pytest.raises(PersonaError, match="abuse_disclosure"):
        parse_persona(yaml.safe_dump(data, allow_unicode=True), "reading-buddy.yaml")
