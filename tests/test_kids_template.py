"""The kids' page template renders with the context the route gives it, safely and in both languages.

The page's behaviour (streaming, stop, IME-safe Enter, resume, reconnect) lives in web/static/kids.js and
needs a browser; these tests cover what can be checked without one: the rendered HTML, the JSON the script
reads, escaping, and that every interface string the template and the script use exists in both languages.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from server.personas import load_personas

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"


@pytest.fixture(scope="module")
def env() -> Environment:
    # autoescape on, as Starlette's Jinja2Templates sets it; StrictUndefined catches a missing variable.
    return Environment(loader=FileSystemLoader(WEB / "templates"), autoescape=True, undefined=StrictUndefined)


@pytest.fixture(scope="module")
def public_personas() -> list[dict]:
    return [p.public() for p in load_personas(ROOT / "personas").values()]


class _Page(HTMLParser):
    """Collects the attributes of every element and the text of the JSON config block."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.config = ""
        self._in_config = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.elements.append((tag, a))
        self._in_config = tag == "script" and a.get("id") == "kidchat-config"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_config = False

    def handle_data(self, data: str) -> None:
        if self._in_config:
            self.config += data

    def find(self, **match: str) -> list[dict[str, str | None]]:
        return [a for _, a in self.elements if all(a.get(k) == v for k, v in match.items())]


def render(env: Environment, personas: list[dict], lang: str = "ko", max_chars: int = 500) -> _Page:
    html = env.get_template("kids.html").render(personas=personas, max_message_chars=max_chars, lang=lang)
    page = _Page()
    page.feed(html)
    page.html = html  # type: ignore[attr-defined]
    return page


def test_a_button_per_persona(env: Environment, public_personas: list[dict]) -> None:
    page = render(env, public_personas)
    ids = [a["data-persona"] for _, a in page.elements if "data-persona" in a]
    assert ids == [p["id"] for p in public_personas]
    assert all(a.get("type") == "button" for a in page.find(**{"class": "persona"}))


@pytest.mark.parametrize(
    ("lang", "teacher", "send"), [("ko", "하나 선생님", "보내기"), ("en", "Teacher Hana", "Send")]
)
def test_interface_language(
    env: Environment, public_personas: list[dict], lang: str, teacher: str, send: str
) -> None:
    page = render(env, public_personas, lang=lang)
    assert page.find(id="send")
    assert f'<html lang="{lang}">' in page.html  # type: ignore[attr-defined]
    assert f">{teacher}</span>" in page.html  # type: ignore[attr-defined]
    assert f">{send}</button>" in page.html  # type: ignore[attr-defined]
    # a persona without a name in this language shows its primary-language name
    assert ">소은이 엄마</span>" in page.html  # type: ignore[attr-defined]


def test_unknown_lang_falls_back_to_korean(env: Environment, public_personas: list[dict]) -> None:
    page = render(env, public_personas, lang="fr")
    assert json.loads(page.config)["lang"] == "ko"


def test_textarea_enforces_the_limit(env: Environment, public_personas: list[dict]) -> None:
    page = render(env, public_personas, max_chars=123)
    (textarea,) = page.find(id="input")
    assert textarea["maxlength"] == "123"
    assert page.find(**{"for": "input"}), "the textarea has a label"
    assert json.loads(page.config)["maxMessageChars"] == 123


def test_message_list_is_a_live_region(env: Environment, public_personas: list[dict]) -> None:
    (messages,) = render(env, public_personas).find(id="messages")
    assert messages["role"] == "log" and messages["aria-live"] == "polite" and messages["aria-label"]


def test_config_json_carries_personas_and_both_dictionaries(
    env: Environment, public_personas: list[dict]
) -> None:
    config = json.loads(render(env, public_personas).config)
    assert config["personas"] == public_personas
    assert set(config["i18n"]) == {"ko", "en"}
    assert set(config["i18n"]["ko"]) == set(config["i18n"]["en"])


def test_hostile_persona_text_is_escaped(env: Environment, public_personas: list[dict]) -> None:
    evil = "</script><script>alert(1)</script><b>"
    hostile = dict(public_personas[0], name={lang: evil for lang in public_personas[0]["name"]})
    page = render(env, [hostile])
    html = page.html  # type: ignore[attr-defined]
    assert "<script>alert(1)" not in html
    assert sum(tag == "script" for tag, _ in page.elements) == 2  # the config block and kids.js, no more
    assert json.loads(page.config)["personas"][0]["name"] == hostile["name"]


def test_every_interface_string_exists(env: Environment, public_personas: list[dict]) -> None:
    """Keys named in the template (data-i18n*) and in kids.js (t("...")) are in both dictionaries."""
    page = render(env, public_personas)
    strings = json.loads(page.config)["i18n"]
    used = {
        v
        for _, a in page.elements
        for k, v in a.items()
        if k in ("data-i18n", "data-i18n-label", "data-i18n-placeholder") and v
    }
    script = (WEB / "static" / "kids.js").read_text(encoding="utf-8")
    for args in re.findall(r"\b(?:t|setStatus)\(([^()]*)\)", script):  # t("x"), setStatus(a ? "x" : "y")
        used |= set(re.findall(r"""["']([a-z_]+)["']""", args))
    used |= set(re.findall(r"""dataset\.i18n = ["']([a-z_]+)["']""", script))
    assert {"send", "stop", "reconnecting", "interrupted", "too_long"} <= used
    for lang in ("ko", "en"):
        missing = used - set(strings[lang])
        assert not missing, f"{lang} lacks {sorted(missing)}"


def test_script_never_writes_html() -> None:
    """Text from the server and the child goes on the page with textContent only."""
    script = (WEB / "static" / "kids.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, sink


def test_static_files_are_local(env: Environment, public_personas: list[dict]) -> None:
    """No CDN: every script and stylesheet the page loads comes from our own /static."""
    page = render(env, public_personas)
    urls = [a["src"] for t, a in page.elements if t == "script" and a.get("src")]
    urls += [a["href"] for t, a in page.elements if t == "link" and a.get("rel") == "stylesheet"]
    assert urls == ["/static/kids.js", "/static/kids.css"] or sorted(urls) == [
        "/static/kids.css",
        "/static/kids.js",
    ]
    for url in urls:
        assert (WEB / url.removeprefix("/")).is_file()
