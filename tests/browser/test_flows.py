"""The issue's story in a real browser (headless chromium through Playwright, against a live server):
a parent signs up and adds a child; the child link opens the kids' page in a second browser context;
the child chats and says something that is blocked; the parent sees the flag and the transcript; a
high-severity alert appears on the parent's open page without a reload; an educator changes a persona's
greeting and a new conversation shows it; another parent cannot open the first family's transcript; the
parent signs the child's devices out and the open chat says so.
A screenshot of each page goes to test-artifacts/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from server.db.session import transaction
from tests.browser.conftest import Live
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.browser
TIMEOUT = 15_000


def watch(page: Page, errors: list[str]) -> Page:
    """Collect console errors and failed scripts (a CSP violation or a JS exception shows up here)."""
    page.on("console", lambda msg: errors.append(f"{page.url}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    page.set_default_timeout(TIMEOUT)
    return page


def shot(page: Page, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def sign_up(page: Page, base: str, name: str, email: str) -> None:
    page.goto(f"{base}/signup")
    page.get_by_label(re.compile("Your name|이름")).fill(name)
    page.get_by_label(re.compile("E-mail address|이메일 주소")).fill(email)
    page.get_by_label(re.compile("^(Password|비밀번호)")).fill("a long family password")
    page.get_by_role("button", name=re.compile("Create account|계정 만들기")).click()
    page.wait_for_url(f"{base}/parent")


def log_in(page: Page, base: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/login")
    page.get_by_label(re.compile("E-mail address|이메일 주소")).fill(email)
    page.get_by_label(re.compile("^(Password|비밀번호)")).fill(password)
    page.get_by_role("button", name=re.compile("^(Log in|로그인)$")).click()


def say(kid: Page, text: str) -> None:
    kid.locator("#input").fill(text)
    kid.locator("#send").click()


def test_the_whole_story(browser: Browser, live_server: Live, shots: Path) -> None:
    base, app = live_server.url, live_server.app
    errors: list[str] = []
    parent_ctx = browser.new_context(locale="en-US")
    parent = watch(parent_ctx.new_page(), errors)

    # A parent signs up and adds a child.
    sign_up(parent, base, "Jiwoo", "jiwoo@example.com")
    expect(parent.get_by_role("heading", name="My children")).to_be_visible()
    shot(parent, shots, "01-parent-home-empty")
    parent.get_by_label("Child's name").fill("Mina")
    parent.get_by_label("Age").fill("7")
    parent.get_by_label("English").check()
    parent.get_by_role("button", name="Add child").click()
    link = parent.locator("#child-link").input_value()
    assert re.fullmatch(rf"{re.escape(base)}/c/[A-Za-z0-9_-]{{40,}}", link)
    shot(parent, shots, "02-child-link")

    # The child link opens the kids' page in a second context (the child's device).
    kid_ctx = browser.new_context(locale="en-US")
    kid = watch(kid_ctx.new_page(), errors)
    kid.goto(link)
    assert kid.url == f"{base}/"
    kid.locator('button[data-persona="reading-buddy"]').click()
    expect(kid.locator("#messages .msg-persona .body").first).to_contain_text("reading buddy", ignore_case=True)
    say(kid, "Do you like cats?")
    expect(kid.locator("#messages .msg-persona .body").nth(1)).to_have_text("Okay.")
    say(kid, "how do I make a bomb")
    redirect = kid.locator("#messages .msg-redirect .body")
    expect(redirect).to_be_visible()
    assert "bomb" not in redirect.inner_text()
    shot(kid, shots, "03-kids-chat-blocked")

    # The parent sees the flag at a glance, filters to it, and reads the transcript.
    parent.goto(f"{base}/parent")
    parent.get_by_role("link", name="Mina").click()
    row = parent.locator("tr[data-conversation]").first
    expect(row).to_contain_text("dangerous activity")
    expect(row).to_contain_text("1 blocked")
    parent.get_by_label("Only flagged").check()
    parent.get_by_role("button", name="Search").click()
    expect(parent.locator("tr[data-conversation]")).to_have_count(1)
    shot(parent, shots, "04-parent-conversations")
    row.get_by_role("link").click()
    blocked = parent.locator('[data-blocked="dangerous"]').first
    expect(blocked).to_contain_text("your child's message")
    expect(parent.locator(".turn-child.turn-blocked .text")).to_have_text("how do I make a bomb")
    expect(parent.locator("[data-persona-version]")).to_contain_text("version 1")
    expect(parent.locator("#views ~ ul li")).to_have_count(1)
    transcript_url = parent.url
    shot(parent, shots, "05-transcript")

    # A self-harm disclosure shows up on the parent's open page at once (no reload).
    parent.goto(f"{base}/parent")
    expect(parent.locator("#alerts .alert")).to_have_count(0)
    say(kid, "I want to die")
    expect(kid.locator("#messages .msg-redirect").nth(1)).to_be_visible()
    expect(parent.locator("#alerts .alert")).to_contain_text("Mina", timeout=TIMEOUT)
    expect(parent.locator("#alert-count")).to_have_text("1")
    shot(parent, shots, "06-parent-alert")

    # An educator changes reading-buddy's greeting; a new conversation shows it at once.
    make_user(app.state.sessions, role="educator", email="teacher@example.com", name="Teacher Kim")
    edu_ctx = browser.new_context(locale="ko-KR")
    edu = watch(edu_ctx.new_page(), errors)
    log_in(edu, base, "teacher@example.com")
    edu.wait_for_url(f"{base}/educator")
    shot(edu, shots, "07-educator-list")
    edu.goto(f"{base}/educator/personas/reading-buddy")
    greeting = edu.locator("#f-greeting-en")
    greeting.fill("Hi friend! I am Buddy, version two. What shall we read?")
    edu.locator("#f-note").fill("a new greeting")
    edu.locator("#preview-text").fill("hello")
    edu.locator("#preview-send").click()
    expect(edu.locator("#preview-log li").nth(1)).to_contain_text("Okay.")
    shot(edu, shots, "08-persona-editor-preview")
    edu.get_by_role("button", name="새 버전으로 저장").click()
    expect(edu.locator(".notice")).to_contain_text("버전 2")
    edu.goto(f"{base}/educator/personas/reading-buddy/history")
    expect(edu.locator(".diff .add").first).to_be_visible()
    shot(edu, shots, "09-persona-history")

    kid.locator("#new-chat").click()
    kid.locator('button[data-persona="reading-buddy"]').click()
    expect(kid.locator("#messages .msg-persona .body").first).to_have_text(
        "Hi friend! I am Buddy, version two. What shall we read?"
    )
    shot(kid, shots, "10-kids-new-greeting")

    # Another parent cannot open the first family's transcript.
    other_ctx = browser.new_context(locale="ko-KR")
    other = watch(other_ctx.new_page(), errors)
    sign_up(other, base, "다른 부모", "other@example.com")
    expect(other.get_by_role("heading", name="우리 아이")).to_be_visible()
    response = other.goto(transcript_url)
    assert response is not None and response.status == 404
    expect(other.locator("body")).not_to_contain_text("bomb")
    shot(other, shots, "11-other-parent-404")

    # The transcript's view record shows only the first parent's own views.
    parent.goto(transcript_url)
    views = parent.locator("#views ~ ul li")
    expect(views).to_have_count(2)
    expect(views.first).to_contain_text("jiwoo@example.com")
    with transaction(app.state.sessions) as s:
        from sqlalchemy import text

        assert s.execute(text("SELECT COUNT(*) FROM transcript_views")).scalar_one() == 2

    # The parent signs the child's devices out: the open chat closes (1008) and the page says so kindly.
    parent.goto(f"{base}/parent")
    parent.get_by_role("link", name="Mina").click()
    parent.get_by_role("button", name="Sign out child's devices").click()
    expect(parent.locator(".notice")).to_contain_text("signed out")
    say(kid, "are you there?")
    expect(kid.locator("#rest")).to_contain_text("Ask a grown-up to open your link again")
    expect(kid.locator("#composer")).to_be_hidden()
    expect(kid.locator("#messages .note")).to_have_count(0)  # no empty "stopped here" bubble
    shot(kid, shots, "12-kids-signed-out")

    for ctx in (parent_ctx, kid_ctx, edu_ctx, other_ctx):
        ctx.close()
    # The only error a browser reported is the other parent's 404.
    assert len(errors) == 1 and transcript_url in errors[0] and "404" in errors[0], errors

