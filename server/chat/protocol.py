"""Websocket frames for /ws/chat (docs/protocol.md). Client frames are screened before they are parsed
(size, nesting) and then validated strictly (fields, and text that can be stored)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter

# Code points no text may carry: NUL (PostgreSQL refuses it in text), lone surrogates (sent as JSON
# escapes; they have no UTF-8 form, so no database can store them) and the 66 Unicode non-characters
# (U+FDD0..U+FDEF and the last two code points of every plane: "not for interchange"). A character class,
# so one C-speed scan finds any of them; a pair of surrogate escapes is one character after decoding.
_NONCHARACTERS = "\ufdd0-\ufdef" + "".join(chr(plane | 0xFFFE) + chr(plane | 0xFFFF) for plane in range(0, 0x110000, 0x10000))
_BAD_CHARACTER = re.compile(f"[\x00\ud800-\udfff{_NONCHARACTERS}]")


def _storable(value: str) -> str:
    if _BAD_CHARACTER.search(value):
        raise ValueError("text holds NUL, a lone surrogate or a non-character")
    return value


Text = Annotated[str, AfterValidator(_storable)]

# A client frame is one flat object: one container. A frame with more arrays and objects than this
# (outside strings) is refused unparsed, which bounds how deep it can nest before json.loads, which
# recurses (about a thousand levels raise RecursionError), sees it. A string runs to its closing quote or,
# unclosed, to the end of the frame: every match succeeds, so the scan is linear (a closing quote required
# made the regex retry at every escaped quote of an unclosed string: 0.5 s for 16 KiB of `\"`).
MAX_CONTAINERS = 8
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)


def screen(raw: str, max_bytes: int) -> str | None:
    """The error code for a text frame too big (`too_long`) or nested too much (`bad_frame`) to parse, else
    None. Linear in the frame's length, in C."""
    if len(raw) > max_bytes or len(raw.encode("utf-8", "surrogatepass")) > max_bytes:
        return "too_long"
    structure = _JSON_STRING.sub("", raw)  # brackets inside strings do not nest
    if structure.count("[") + structure.count("{") > MAX_CONTAINERS:
        return "bad_frame"
    return None


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StartNew(_Frame):
    type: Literal["start"]
    persona: Text = Field(min_length=1, max_length=64)


class StartResume(_Frame):
    type: Literal["start"]
    conversation: Text = Field(min_length=1, max_length=64)


class SendMessage(_Frame):
    type: Literal["message"]
    text: Text


class Stop(_Frame):
    type: Literal["stop"]


CLIENT_TYPES = ("start", "message", "stop")

ClientFrame = Annotated[StartNew | StartResume | SendMessage | Stop, Field(union_mode="left_to_right")]
client_frame_adapter: TypeAdapter[StartNew | StartResume | SendMessage | Stop] = TypeAdapter(ClientFrame)

# Error codes and the fixed, child-friendly words that go with them. Raw exception text never goes out.
ERRORS: dict[str, dict[str, str]] = {
    "bad_json": {"en": "Oops, that message got jumbled. Please try again.", "ko": "앗, 메시지가 뒤죽박죽이 됐어요. 다시 보내 줄래요?"},
    "bad_frame": {"en": "Oops, that message got jumbled. Please try again.", "ko": "앗, 메시지가 뒤죽박죽이 됐어요. 다시 보내 줄래요?"},
    "unknown_type": {"en": "I don't know that kind of message.", "ko": "그런 메시지는 잘 모르겠어요."},
    "too_long": {"en": "That message is a bit too long. Can you say it in fewer words?", "ko": "메시지가 조금 길어요. 더 짧게 말해 줄래요?"},
    "empty": {"en": "Type something first, then press send!", "ko": "먼저 하고 싶은 말을 써 주세요!"},
    "not_started": {"en": "Pick a friend to talk to first!", "ko": "먼저 이야기할 친구를 골라 주세요!"},
    "unknown_persona": {"en": "I can't find that friend. Please pick another one.", "ko": "그 친구를 찾을 수 없어요. 다른 친구를 골라 주세요."},
    "unknown_conversation": {"en": "I can't find that chat. Let's start a new one!", "ko": "그 대화를 찾을 수 없어요. 새로 시작해요!"},
    "rate_limited": {"en": "Whoa, that's a lot at once! Let's slow down a little.", "ko": "우와, 한꺼번에 너무 많아요! 조금 천천히 해 봐요."},
    "busy": {"en": "Wait a moment, I'm still answering!", "ko": "잠깐만요, 아직 대답하는 중이에요!"},
    "time_up": {"en": "That's all the chat time for today. See you tomorrow!", "ko": "오늘 이야기 시간이 다 됐어요. 내일 또 만나요!"},
    "quiet_hours": {"en": "It's quiet time now. Let's talk again later!", "ko": "지금은 쉬는 시간이에요. 나중에 또 이야기해요!"},
    "internal": {"en": "Something went wrong on my side. Let's try again.", "ko": "제 쪽에 문제가 생겼어요. 다시 해 봐요."},
}


def error_frame(code: str, lang: str = "en") -> dict[str, str]:
    words = ERRORS.get(code, ERRORS["internal"])
    return {"type": "error", "code": code, "message": words.get(lang, words["en"])}
