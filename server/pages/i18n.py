"""Interface text of the grown-ups' pages in English and Korean: a small gettext-like dictionary.

`Translator(lang)(key, **values)` looks a key up and fills `{name}` placeholders with str.format on
kidchat's own strings (values are data, never templates). A missing Korean line falls back to English,
a missing key shows the key, so a gap is visible rather than fatal.
"""

from __future__ import annotations

LANGUAGES = ("ko", "en")

# key: (English, Korean)
MESSAGES: dict[str, tuple[str, str]] = {
    # layout
    "brand": ("kidchat", "키드챗"),
    "skip": ("Skip to content", "본문으로 건너뛰기"),
    "switch_to": ("한국어", "English"),
    "switch_label": ("한국어로 보기 (Switch to Korean)", "Switch to English (영어로 보기)"),
    "nav_children": ("My children", "우리 아이"),
    "nav_alerts": ("Alerts", "알림"),
    "nav_personas": ("Personas", "페르소나"),
    "nav_admin": ("Educators", "교육자 계정"),
    "logout": ("Log out", "로그아웃"),
    "signed_in_as": ("Signed in as {name}", "{name} 님으로 로그인함"),
    "save": ("Save", "저장"),
    "cancel": ("Cancel", "취소"),
    "back": ("Back", "뒤로"),
    "required": ("required", "필수"),
    "form_has_errors": ("Please fix the marked fields.", "표시된 칸을 고쳐 주세요."),
    # welcome / errors
    "welcome_title": ("Welcome to kidchat", "키드챗에 오신 것을 환영해요"),
    "welcome_child": (
        "Are you a child? Ask a grown-up to open your own link on this device.",
        "어린이인가요? 어른에게 이 기기에서 내 링크를 열어 달라고 부탁해요.",
    ),
    "welcome_adult": ("Grown-ups: log in or create a parent account.", "어른: 로그인하거나 부모 계정을 만드세요."),
    "not_found_title": ("Not found", "찾을 수 없어요"),
    "not_found_text": ("There is nothing here, or it is not yours to see.", "여기에는 아무것도 없거나 볼 수 없는 페이지예요."),
    "forbidden_title": ("Not for this account", "이 계정으로는 볼 수 없어요"),
    "forbidden_text": ("This page is for another kind of account.", "이 페이지는 다른 종류의 계정을 위한 곳이에요."),
    "csrf_title": ("Please try again", "다시 해 주세요"),
    "csrf_text": (
        "The form was too old or came from another site. Go back, reload the page and send it again.",
        "양식이 오래되었거나 다른 사이트에서 왔어요. 돌아가서 페이지를 새로 고친 뒤 다시 보내 주세요.",
    ),
    "child_link_invalid_title": ("This link does not work", "이 링크는 쓸 수 없어요"),
    "child_link_invalid": (
        "This child link is not valid any more. Ask your grown-up for a new one.",
        "이 링크는 이제 쓸 수 없어요. 어른에게 새 링크를 부탁해요.",
    ),
    # login / signup
    "login_title": ("Log in", "로그인"),
    "signup_title": ("Create a parent account", "부모 계정 만들기"),
    "email": ("E-mail address", "이메일 주소"),
    "password": ("Password", "비밀번호"),
    "password_hint": ("At least 10 characters.", "10자 이상이에요."),
    "display_name": ("Your name", "이름"),
    "login_button": ("Log in", "로그인"),
    "signup_button": ("Create account", "계정 만들기"),
    "no_account": ("No account yet?", "아직 계정이 없나요?"),
    "have_account": ("Already have an account?", "이미 계정이 있나요?"),
    "err_login": ("That e-mail address and password do not match.", "이메일 주소와 비밀번호가 맞지 않아요."),
    "err_rate_limited": (
        "Too many attempts. Please wait {minutes} minutes and try again.",
        "시도가 너무 많았어요. {minutes}분 뒤에 다시 해 주세요.",
    ),
    "err_email": ("Enter an e-mail address like name@example.com.", "name@example.com 같은 이메일 주소를 써 주세요."),
    "err_email_taken": ("There is already an account with this address.", "이 주소로 된 계정이 이미 있어요."),
    "err_password_short": ("Use at least 10 characters.", "10자 이상으로 해 주세요."),
    "err_password_long": ("Use at most 256 characters.", "256자 이하로 해 주세요."),
    "err_password_email": ("The password must not be your e-mail address.", "비밀번호가 이메일 주소와 같으면 안 돼요."),
    "err_name": ("Enter a name (up to {max} characters).", "이름을 써 주세요({max}자까지)."),
    "err_age": ("Enter an age from 3 to 14.", "3살부터 14살까지 써 주세요."),
    "err_choice": ("Pick one of the choices.", "보기 중에서 골라 주세요."),
}


class Translator:
    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else "en"
        self._index = 1 if self.lang == "ko" else 0

    def __call__(self, key: str, **values: object) -> str:
        entry = MESSAGES.get(key)
        if entry is None:
            return key
        text = entry[self._index] or entry[0]
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        return key in MESSAGES


def best_language(accept_language: str) -> str:
    """The first of ko/en by the Accept-Language header's q-values (RFC 9110), else English."""
    best, best_q = "en", -1.0
    for position, part in enumerate(accept_language.split(",")):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower().split("-")[0]
        q = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        effective = q - position * 1e-6  # equal q: the earlier tag wins
        if tag in LANGUAGES and q > 0 and effective > best_q:
            best, best_q = tag, effective
    return best
