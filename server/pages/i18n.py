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
    # sign-up by e-mail (when kidchat can send e-mail: server/auth/signup.py)
    "signup_by_email_hint": (
        "We will send a link to this address; you choose your password on the page it opens.",
        "이 주소로 링크를 보내 드려요. 링크가 여는 페이지에서 비밀번호를 정해요.",
    ),
    "signup_sent_title": ("Check your e-mail", "이메일을 확인해 주세요"),
    "signup_sent": (
        "We sent an e-mail to the address you gave. Follow it to finish (it works for 24 hours).",
        "적어 주신 주소로 이메일을 보냈어요. 이메일을 따라 마무리해 주세요(24시간 동안 쓸 수 있어요).",
    ),
    "signup_mail_subject": ("your parent account", "부모 계정"),
    "signup_mail_new": (
        "Someone (we hope you) asked for a kidchat parent account with this address. To create it, open this "
        "link within 24 hours and choose a password. If it was not you, ignore this e-mail:",
        "누군가(아마 당신) 이 주소로 키드챗 부모 계정을 만들려고 했어요. 계정을 만들려면 24시간 안에 이 링크를 열고 "
        "비밀번호를 정하세요. 본인이 아니라면 이 이메일은 무시하세요:",
    ),
    "signup_mail_known": (
        "Someone (we hope you) asked for a kidchat parent account with this address, but it already has "
        "one. Log in here; if it was not you, nothing has changed:",
        "누군가(아마 당신) 이 주소로 키드챗 부모 계정을 만들려고 했지만, 이 주소로 된 계정이 이미 있어요. 여기에서 "
        "로그인하세요. 본인이 아니라면 아무것도 바뀌지 않았어요:",
    ),
    "signup_confirm_title": ("Finish your account", "계정 마무리하기"),
    "signup_confirm_text": (
        "The account for {name} ({email}) needs only a password now.",
        "{name}({email}) 님의 계정에 이제 비밀번호만 정하면 돼요.",
    ),
    # the e-mailed sign-in link (server/auth/login_link.py)
    "login_link_button": ("E-mail me a sign-in link", "로그인 링크를 이메일로 받기"),
    "login_link_sent_title": ("Check your e-mail", "이메일을 확인해 주세요"),
    "login_link_sent": (
        "We sent an e-mail to the address you gave. If it has an account, the e-mail holds a sign-in link "
        "that works once, for 15 minutes.",
        "적어 주신 주소로 이메일을 보냈어요. 그 주소로 된 계정이 있으면, 15분 동안 한 번 쓸 수 있는 로그인 링크가 "
        "들어 있어요.",
    ),
    "login_link_mail_subject": ("sign in", "로그인"),
    "login_link_mail": (
        "Someone (we hope you) asked to sign in to kidchat with this address. This link signs you in, once, "
        "within 15 minutes. If it was not you, ignore this e-mail; your password still works:",
        "누군가(아마 당신) 이 주소로 키드챗에 로그인하려고 했어요. 이 링크로 15분 안에 한 번 로그인할 수 있어요. "
        "본인이 아니라면 이 이메일은 무시하세요. 비밀번호는 그대로예요:",
    ),
    "login_link_mail_none": (
        "Someone (we hope you) asked to sign in to kidchat with this address, but it has no account. You "
        "can create one here; if it was not you, nothing has changed:",
        "누군가(아마 당신) 이 주소로 키드챗에 로그인하려고 했지만, 이 주소로 된 계정이 없어요. 여기에서 만들 수 "
        "있어요. 본인이 아니라면 아무것도 바뀌지 않았어요:",
    ),
    "login_link_title": ("Sign in", "로그인"),
    "login_link_text": ("This link signs this browser in, once.", "이 링크로 이 브라우저에서 한 번 로그인할 수 있어요."),
    "login_link_go": ("Sign in", "로그인"),
    "login_link_invalid_title": ("This link does not work", "이 링크는 쓸 수 없어요"),
    "login_link_invalid": (
        "This sign-in link was used already or is too old. Ask for a new one on the login page.",
        "이 로그인 링크는 이미 썼거나 너무 오래되었어요. 로그인 페이지에서 새 링크를 받아 주세요.",
    ),
    "signup_link_invalid_title": ("This link does not work", "이 링크는 쓸 수 없어요"),
    "signup_link_invalid": (
        "This sign-up link is too old or not valid. Sign up again to get a new one.",
        "이 가입 링크는 너무 오래되었거나 쓸 수 없어요. 다시 가입하면 새 링크를 받을 수 있어요.",
    ),
    "err_password_short": ("Use at least 10 characters.", "10자 이상으로 해 주세요."),
    "err_password_long": ("Use at most 256 characters.", "256자 이하로 해 주세요."),
    "err_password_email": ("The password must not be your e-mail address.", "비밀번호가 이메일 주소와 같으면 안 돼요."),
    "err_name": ("Enter a name (up to {max} characters).", "이름을 써 주세요({max}자까지)."),
    "err_age": ("Enter an age from 3 to 14.", "3살부터 14살까지 써 주세요."),
    "err_choice": ("Pick one of the choices.", "보기 중에서 골라 주세요."),
    "err_timezone": ("Enter a time zone like Asia/Seoul or Europe/London.", "Asia/Seoul 같은 시간대를 써 주세요."),
    # parents: children
    "age_years": ("{age} years old", "{age}살"),
    "lang_ko": ("Korean", "한국어"),
    "lang_en": ("English", "영어"),
    "flagged_count": ("{n} flagged", "표시된 대화 {n}개"),
    "no_flags": ("No flags", "표시 없음"),
    "last_chat": ("Last chat", "마지막 대화"),
    "never": ("not yet", "아직 없음"),
    "conversations": ("Conversations", "대화"),
    "settings": ("Settings", "설정"),
    "no_children": ("No child profiles yet. Add one below.", "아직 아이 프로필이 없어요. 아래에서 추가하세요."),
    "add_child": ("Add a child", "아이 추가"),
    "child_name": ("Child's name", "아이 이름"),
    "child_name_hint": ("A first name or nickname is enough.", "이름이나 별명이면 충분해요."),
    "child_age": ("Age", "나이"),
    "child_language": ("Language", "언어"),
    "timezone": ("Time zone", "시간대"),
    "timezone_hint": ("For quiet hours and the daily limit, e.g. Asia/Seoul.", "쉬는 시간과 하루 사용 시간에 써요. 예: Asia/Seoul."),
    "add_child_button": ("Add child", "아이 추가"),
    "child_link_title": ("{name}'s link", "{name}의 링크"),
    "child_added": ("{name} was added.", "{name}을(를) 추가했어요."),
    "child_link_explain": (
        "Open this link on your child's device. It signs that device in as your child, without a password. "
        "Keep it private, like a key.",
        "아이 기기에서 이 링크를 여세요. 비밀번호 없이 그 기기가 아이로 로그인돼요. 열쇠처럼 다른 사람에게 알려 주지 마세요.",
    ),
    "child_link_label": ("{name}'s link", "{name}의 링크"),
    "copy": ("Copy", "복사"),
    "copied": ("Copied", "복사했어요"),
    "open_here": ("Open on this device", "이 기기에서 열기"),
    "child_link_once": (
        "This link is shown only now, and it opens once: the device that opens it stays signed in. You can "
        "make a new one at any time; the old one then stops working.",
        "이 링크는 지금만 보이고, 한 번만 열 수 있어요. 링크를 연 기기는 계속 로그인되어 있어요. 언제든 새 링크를 "
        "만들 수 있고, 그러면 예전 링크는 더 이상 쓸 수 없어요.",
    ),
    "new_link": ("New child link", "새 링크 만들기"),
    "sign_out_devices": ("Sign out child's devices", "아이 기기 로그아웃"),
    "done_signed_out": (
        "Every device of this child is signed out, and an unused link no longer works. Make a new link to "
        "sign a device in again.",
        "이 아이의 모든 기기를 로그아웃했고, 아직 열지 않은 링크도 더 이상 쓸 수 없어요. 기기를 다시 연결하려면 "
        "새 링크를 만드세요.",
    ),
    "done_settings_saved": ("Settings saved.", "설정을 저장했어요."),
    "done_deleted_conversations": ("All conversations were deleted.", "모든 대화를 삭제했어요."),
    "search_label": ("Search in the conversations", "대화에서 찾기"),
    "only_flagged": ("Only flagged", "표시된 대화만"),
    "search_button": ("Search", "찾기"),
    "show_all": ("Show all", "모두 보기"),
    "when": ("When", "언제"),
    "persona": ("Persona", "페르소나"),
    "messages": ("Messages", "메시지"),
    "flags": ("Flags", "표시"),
    "sev_none": ("none", "없음"),
    "sev_low": ("low", "낮음"),
    "sev_medium": ("medium", "중간"),
    "sev_high": ("high", "높음"),
    "blocked_count": ("{n} blocked", "막힘 {n}"),
    "no_conversations": ("No conversations yet.", "아직 대화가 없어요."),
    "no_matches": ("No conversation matches.", "맞는 대화가 없어요."),
    "cat_sexual": ("sexual content", "성적인 내용"),
    "cat_violence": ("violence", "폭력"),
    "cat_self_harm": ("self-harm", "자해"),
    "cat_hate": ("hate", "혐오"),
    "cat_profanity": ("swearing", "욕설"),
    "cat_dangerous": ("dangerous activity", "위험한 행동"),
    "cat_personal_info": ("personal details", "개인 정보"),
    "cat_grooming": ("grooming signs", "그루밍 징후"),
    "cat_jailbreak": ("trying to get around the rules", "규칙 우회 시도"),
    "cat_scary_adult": ("scary or adult topics", "무섭거나 어른용 주제"),
    "cat_unknown": ("other", "기타"),
    # transcript
    "transcript_title": ("{name}'s conversation", "{name}의 대화"),
    "version_n": ("version {n}", "버전 {n}"),
    "started": ("Started", "시작"),
    "language": ("Language", "언어"),
    "model": ("Model", "모델"),
    "export_print": ("Printable page", "인쇄용 페이지"),
    "export_json": ("Download JSON", "JSON 내려받기"),
    "views_title": ("Who opened this transcript", "이 대화를 연 기록"),
    "views_explain": ("Every view, export and mark is recorded here.", "보기, 내보내기, 표시가 모두 여기에 기록돼요."),
    "view_view": ("viewed", "봄"),
    "view_print": ("printable page", "인쇄용 페이지"),
    "view_json": ("JSON export", "JSON 내보내기"),
    "view_marked_good": ("marked as a good example", "좋은 예시로 표시함"),
    "view_unmarked_good": ("good-example mark removed", "좋은 예시 표시를 뺌"),
    # marked as a good example for training
    "good_title": ("Good example for training", "학습에 쓸 좋은 예시"),
    "good_badge": ("Good example", "좋은 예시"),
    "good_explain": (
        "Was this a good conversation? Mark it, and it may be used to teach kidchat's model to talk like "
        "this: the turns up to now, without what the safety check stopped. It leaves kidchat only when "
        "the server's operator exports marked conversations. You can remove the mark at any time.",
        "좋은 대화였나요? 표시하면 키드챗 모델이 이렇게 말하도록 가르치는 데 쓰일 수 있어요. 지금까지의 "
        "대화만, 안전 검사가 막은 부분은 빼고 쓰여요. 서버 운영자가 표시된 대화를 내보낼 때만 키드챗 밖으로 "
        "나가요. 표시는 언제든 뺄 수 있어요.",
    ),
    "good_mark": ("Mark as a good example", "좋은 예시로 표시"),
    "good_marked_on": ("Marked as a good example on {when}.", "{when}에 좋은 예시로 표시했어요."),
    "good_covers": (
        "The mark covers the turns up to when it was made; what the safety check stopped is left out.",
        "표시한 때까지의 대화만 해당되고, 안전 검사가 막은 부분은 빠져요.",
    ),
    "good_newer": (
        "{n} newer message(s) are not part of the mark.", "그 뒤의 메시지 {n}개는 표시에 들어 있지 않아요."
    ),
    "good_mark_again": ("Include the newer messages", "새 메시지도 포함하기"),
    "good_unmark": ("Remove the mark", "표시 빼기"),
    "status_complete": ("complete", "완료"),
    "status_interrupted": ("stopped early", "중간에 멈춤"),
    "status_blocked": ("blocked", "막힘"),
    "status_pending": ("being written", "작성 중"),
    "status_error": ("error", "오류"),
    "blocked_because": ("Stopped by the safety check: {category} ({side})", "안전 검사가 막음: {category} ({side})"),
    "side_child": ("your child's message", "아이의 메시지"),
    "side_assistant": ("the persona's reply", "페르소나의 답"),
    "child_blocked_note": (
        "Your child wrote this; it was not sent to the model.", "아이가 쓴 말이에요. 모델에게는 보내지 않았어요."
    ),
    "redirect_shown": ("Your child saw this kind answer instead:", "아이에게는 대신 이 답을 보여 줬어요:"),
    "withheld_summary": ("What the model wrote (held back, never shown)", "모델이 쓴 말 (보여 주지 않음)"),
    # alerts
    "alert_title": ("Alert:", "알림:"),
    "alert_line": ("{child}: {category}, {when}.", "{child}: {category}, {when}."),
    "alert_open": ("Open the conversation", "대화 열기"),
    "alerts_explain": (
        "Serious moments, such as a child talking about hurting themselves, show up here and at the top of "
        "every page at once.",
        "아이가 스스로를 해치는 이야기를 하는 것처럼 심각한 순간은 여기와 모든 페이지 맨 위에 바로 나타나요.",
    ),
    "mark_all_seen": ("Mark all as seen", "모두 확인함으로 표시"),
    "child": ("Child", "아이"),
    "state": ("State", "상태"),
    "seen": ("seen", "확인함"),
    "new": ("new", "새 알림"),
    "no_alerts": ("No alerts.", "알림이 없어요."),
    "print_hint": ("Use your browser's Print command to print or save as PDF.", "브라우저의 인쇄 기능으로 인쇄하거나 PDF로 저장하세요."),
    # educators
    "new_persona": ("New persona", "새 페르소나"),
    "edit_persona": ("Edit persona {id}", "페르소나 {id} 편집"),
    "ages": ("Ages", "나이"),
    "version": ("Version", "버전"),
    "actions": ("Actions", "할 일"),
    "edit": ("Edit", "편집"),
    "history": ("History", "변경 기록"),
    "history_of": ("History of {id}", "{id} 변경 기록"),
    "export_yaml": ("Export YAML", "YAML 내보내기"),
    "saved_version": ("Saved as version {n}. New conversations use it now.", "버전 {n}(으)로 저장했어요. 새 대화부터 바로 쓰여요."),
    "nothing_changed": ("Nothing changed, so no new version was made.", "바뀐 것이 없어서 새 버전을 만들지 않았어요."),
    "persona_id": ("Persona id", "페르소나 id"),
    "persona_id_hint": ("Lower-case letters, digits and dashes, e.g. story-owl. Cannot be changed later.", "영어 소문자, 숫자, 대시만 써요. 예: story-owl. 나중에 바꿀 수 없어요."),
    "basics": ("Basics", "기본"),
    "persona_languages": ("Languages the persona speaks", "페르소나가 쓰는 언어"),
    "primary_language": ("First language (used when the child's language is not spoken)", "기본 언어 (아이의 언어를 못 쓸 때)"),
    "age_min": ("Youngest age", "가장 어린 나이"),
    "age_max": ("Oldest age", "가장 많은 나이"),
    "avatar": ("Avatar (an emoji)", "아바타 (이모지)"),
    "avatar_hint": ("Shown on the children's persona buttons.", "아이들이 고르는 버튼에 보여요."),
    "texts_in": ("Texts in {language}", "{language} 글"),
    "texts_used_when": ("Used only when this language is ticked above.", "위에서 이 언어를 골랐을 때만 쓰여요."),
    "persona_name": ("Name", "이름"),
    "description": ("Short description", "짧은 설명"),
    "system_prompt": ("System prompt", "시스템 프롬프트"),
    "system_prompt_hint": ("Short and direct works best for small models. Shown to the model only, word for word.", "작은 모델에는 짧고 분명한 말이 좋아요. 모델에게만 그대로 보여요."),
    "greeting": ("Greeting", "첫인사"),
    "redirect_lines": ("Redirect lines (what the persona says when the safety check stops something)", "돌려 말하기 (안전 검사가 막았을 때 하는 말)"),
    "redirects_hint": ("Kind, never shaming, steering to something safe. * required.", "다정하게, 꾸짖지 말고, 안전한 이야기로 이끌어요. * 필수."),
    "redirect_for": ("When: {category}", "이럴 때: {category}"),
    "cat_default": ("anything else", "그 밖의 모든 경우"),
    "speaker_labels": ("Speaker labels (for base models prompted as a transcript)", "화자 이름 (대본 형식 프롬프트용)"),
    "speaker_labels_hint": ("Optional; both or neither, e.g. 엄마 / 소은.", "선택. 둘 다 쓰거나 둘 다 비워요. 예: 엄마 / 소은."),
    "label_persona": ("Persona's label", "페르소나 이름표"),
    "label_child": ("Child's label", "아이 이름표"),
    "generation": ("Generation", "생성 설정"),
    "safety_always_on": ("The safety check always runs on the child's words and on every reply; no persona can turn it off.", "안전 검사는 아이의 말과 모든 답에 언제나 적용돼요. 어떤 페르소나도 끌 수 없어요."),
    "temperature": ("Temperature", "온도"),
    "repeat_penalty": ("Repeat penalty", "반복 억제"),
    "max_tokens": ("Longest reply (tokens)", "가장 긴 답 (토큰)"),
    "change_note": ("What did you change?", "무엇을 바꿨나요?"),
    "change_note_hint": ("Shown in the history.", "변경 기록에 보여요."),
    "save_version": ("Save as a new version", "새 버전으로 저장"),
    "preview": ("Preview", "미리 보기"),
    "preview_hint": ("Talk to the draft above before you save it. The safety check runs as for a child; nothing is stored.", "저장하기 전에 위의 초안과 이야기해 봐요. 안전 검사는 아이와 똑같이 적용되고, 아무것도 저장되지 않아요."),
    "preview_say": ("Say something as a child", "아이처럼 말해 보기"),
    "preview_send": ("Send", "보내기"),
    "preview_reset": ("Start over", "처음부터"),
    "preview_child": ("Child", "아이"),
    "preview_persona": ("Persona", "페르소나"),
    "preview_redirect": ("Persona (redirect)", "페르소나 (돌려 말하기)"),
    "stop": ("Stop", "멈추기"),
    "current": ("current", "현재"),
    "changes": ("Changes", "바뀐 내용"),
    "rollback_to": ("Make version {n} current again", "버전 {n}(으)로 되돌리기"),
    "err_required": ("This is required.", "꼭 써야 해요."),
    "err_too_long": ("Use at most {max} characters.", "{max}자까지 쓸 수 있어요."),
    "err_number": ("Enter a number.", "숫자를 써 주세요."),
    "err_languages": ("Tick at least one language.", "언어를 하나 이상 골라 주세요."),
    "err_age_order": ("Must not be below the youngest age.", "가장 어린 나이보다 작으면 안 돼요."),
    "err_labels_both": ("Fill in both labels or neither.", "이름표는 둘 다 쓰거나 둘 다 비워 주세요."),
    "err_persona_exists": ("A persona with this id exists already.", "이 id의 페르소나가 이미 있어요."),
    "err_conflict": ("Someone saved version {n} while you were editing. Open the history, then edit again.", "편집하는 동안 다른 사람이 버전 {n}을(를) 저장했어요. 변경 기록을 확인하고 다시 편집해 주세요."),
    # admin
    "no_educators": ("No educator accounts yet.", "아직 교육자 계정이 없어요."),
    "add_educator": ("Add an educator", "교육자 추가"),
    "first_password": ("First password (tell them to keep it safe)", "처음 비밀번호 (안전하게 전해 주세요)"),
    "remove": ("Remove", "삭제"),
    "admin_done_created": ("Educator account made.", "교육자 계정을 만들었어요."),
    "admin_done_removed": ("Educator account removed.", "교육자 계정을 삭제했어요."),
    "admin_done_key_revoked": ("API key revoked: it stopped working at once.", "API 키를 폐기했어요. 바로 쓸 수 없게 됐어요."),
    "api_keys": ("Moderation API keys", "검사 API 키"),
    "api_keys_intro": ("Other apps send texts to POST /api/moderate with one of these keys (Authorization: Bearer …).",
                       "다른 앱은 이 키로 POST /api/moderate에 글을 보내요 (Authorization: Bearer …)."),
    "no_api_keys": ("No API keys yet.", "아직 API 키가 없어요."),
    "key_name": ("Name (the app that will use it)", "이름 (이 키를 쓸 앱)"),
    "key_prefix": ("Starts with", "앞부분"),
    "key_created": ("Made", "만든 때"),
    "key_last_used": ("Last used", "마지막 사용"),
    "key_never_used": ("never", "없음"),
    "key_revoked_at": ("revoked {when}", "{when}에 폐기"),
    "key_active": ("active", "사용 중"),
    "revoke": ("Revoke", "폐기"),
    "add_api_key": ("Make an API key", "API 키 만들기"),
    "new_key_title": ("The key for {name}", "{name}의 키"),
    "new_key_text": ("Copy it now: it is shown only this once and kidchat keeps only a fingerprint of it.",
                     "지금 복사해 두세요. 이번 한 번만 보여 주고, 키드챗은 키의 지문만 저장해요."),
    "err_key_name": ("Use 1-{max} letters, digits, spaces or . @ : + - _", "글자, 숫자, 빈칸, . @ : + - _ 로 1-{max}자를 써 주세요."),
    "err_key_name_taken": ("A key with this name exists already.", "이 이름의 키가 이미 있어요."),
    # child settings
    "settings_for": ("Settings for {name}", "{name} 설정"),
    "profile": ("Profile", "프로필"),
    "allowed_personas": ("Who may your child talk to?", "누구와 이야기할 수 있나요?"),
    "allow_all_personas": ("Every persona, including new ones", "모든 페르소나 (새로 생기는 것도)"),
    "allowed_hint": ("Or untick the box above and choose:", "또는 위 칸을 끄고 골라 주세요:"),
    "time": ("Time", "시간"),
    "daily_limit": ("Daily chat time (minutes)", "하루 이야기 시간 (분)"),
    "daily_limit_hint": ("Empty: no limit. The kids' page says kindly when time is up.", "비워 두면 제한이 없어요. 시간이 다 되면 아이 화면에 다정하게 알려 줘요."),
    "minutes_left": ("Left today: {n} minutes.", "오늘 남은 시간: {n}분."),
    "quiet_start": ("Quiet hours from", "쉬는 시간 시작"),
    "quiet_end": ("Quiet hours until", "쉬는 시간 끝"),
    "quiet_hint": ("For example 20:30 to 07:00. Empty: no quiet hours.", "예: 20:30부터 07:00까지. 비워 두면 쉬는 시간이 없어요."),
    "privacy": ("Privacy", "개인 정보"),
    "retention": ("Keep conversations for (days)", "대화 보관 기간 (일)"),
    "retention_hint": ("Older conversations are deleted for good. Empty: keep until you delete them.", "더 오래된 대화는 완전히 삭제돼요. 비워 두면 직접 지울 때까지 보관해요."),
    "err_minutes": ("Enter minutes from 0 to 1440, or leave it empty.", "0부터 1440까지의 분을 쓰거나 비워 두세요."),
    "err_days": ("Enter days from 1 to 3650, or leave it empty.", "1부터 3650까지의 일수를 쓰거나 비워 두세요."),
    "err_time": ("Enter a time like 20:30.", "20:30 같은 시간을 써 주세요."),
    "err_quiet_both": ("Give both the start and the end.", "시작과 끝을 모두 써 주세요."),
    "err_quiet_same": ("The end must differ from the start.", "끝은 시작과 달라야 해요."),
    "delete_heading": ("Delete data", "데이터 삭제"),
    "delete_data": ("Delete this child's data…", "이 아이의 데이터 삭제…"),
    "delete_conversations": ("Delete all conversations", "모든 대화 삭제"),
    "delete_conversations_explain": ("Every conversation of this child, with alerts and view records, is deleted for good. The profile and link stay.", "이 아이의 모든 대화와 알림, 열람 기록이 완전히 삭제돼요. 프로필과 링크는 남아요."),
    "delete_child": ("Delete {name} and all data", "{name}와(과) 모든 데이터 삭제"),
    "delete_child_explain": ("The profile, every conversation and every signed-in device of this child are deleted for good.", "이 아이의 프로필, 모든 대화, 로그인된 기기가 완전히 삭제돼요."),
    "confirm_cannot_undo": ("I understand this cannot be undone.", "되돌릴 수 없다는 것을 이해했어요."),
    "confirm_needed": ("Tick the box to confirm first.", "먼저 확인 칸을 체크해 주세요."),
    "done_deleted_child": ("The child and all their data were deleted.", "아이와 모든 데이터를 삭제했어요."),
    # e-mail
    "email_subject": ("an alert about {child}", "{child} 알림"),
    "email_body": (
        "kidchat raised an alert in {child}'s conversation: {category}. Please open it and talk with your child:",
        "{child}의 대화에서 알림이 있었어요: {category}. 대화를 열어 보고 아이와 이야기해 주세요:",
    ),
    "printed_note": ("Exported from kidchat. Keep it private.", "키드챗에서 내보낸 기록이에요. 소중히 보관하세요."),
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
