"""Cases found by running real replies (bench/samples.py) through the stage."""

import pytest

from server.safety import build_checker


@pytest.fixture(scope="module")
def checker():
    return build_checker()


@pytest.mark.parametrize("text", ["애미 미쳤어", "에미 애비도 없냐"])
def test_insults_about_a_mother_are_blocked_in_the_assistants_reply(checker, text):
    # Gemma 270M said "애미 미쳤어" to a child; the classifier scored it 0.83, under the assistant's 0.9 bar.
    v = checker.check(text, "assistant", age=7)
    assert not v.allowed and v.category == "profanity"


@pytest.mark.parametrize("text", ["에미상 받았대", "에미넴 노래 좋아", "에미레이트 비행기 타 봤어"])
def test_words_that_start_like_it_pass(checker, text):
    assert checker.check(text, "child", age=7).allowed
