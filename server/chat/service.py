"""One chat turn: check the child's words, store them, stream a checked reply, store it.

Order of work in a turn (each step's data is committed before the next starts):
1. the safety stage judges the child's message (personal details are masked here);
2. the child's message is committed;
3. blocked -> the persona's redirect is committed and sent, and the model is never called;
4. else a 'pending' reply row is committed (closing this conversation's earlier replies that a failed turn
   left 'pending'), the turn waits for the model (turns queue in order on the one model worker; a turn
   whose socket dropped, or that was stopped, while it waited is dropped there and the model never runs
   for it: the child's message stays stored, the reply is 'interrupted' and empty), tokens
   stream through the sentence gate, each sentence is checked (alone and with the reply so far), committed
   to the reply row, and only then sent: a crash (even kill -9) keeps everything the child saw;
5. the reply row is updated with its status, tokens and timings (and the flag, when the safety stage
   stopped the reply); only then do the frames that end the reply (a redirect, an error) go out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from anyio import to_thread
from sqlalchemy.orm import Session, sessionmaker

from server.chat.lang import detect_language
from server.chat.limits import rest_reason
from server.chat.prompt import persona_request
from server.chat.reference import References
from server.chat.stream import Send, stream_checked_reply
from server.db import accounts, repo, review
from server.db.models import Message
from server.db.session import transaction
from server.llm.base import ChatMessage, Engine, GenerationRequest, GenerationStats
from server.personas import Persona
from server.personas_store import PersonaStore
from server.safety.verdict import SafetyChecker, Verdict

log = logging.getLogger("kidchat.chat")

ChatInfoLoader = Callable[[str], "ChildInfo | None"]  # child session token -> who is chatting


class ChatError(Exception):
    """A request the service refuses; `code` is one of the protocol's error codes."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class ChildInfo:
    """Who is chatting, from the child's session (never from the client's frames)."""

    id: str
    age: int
    language: str
    allowed_personas: tuple[str, ...] | None = None  # None: every persona

    def may_use(self, persona_id: str) -> bool:
        return self.allowed_personas is None or persona_id in self.allowed_personas


@dataclass
class Started:
    conversation_id: str
    persona: Persona
    language: str
    history: list[dict]


@dataclass
class TurnOutcome:
    message_id: str
    status: str  # complete | interrupted | blocked
    stats: GenerationStats = field(default_factory=GenerationStats)


def history_frame(messages: list[Message]) -> list[dict]:
    return [{"id": m.id, "role": m.role, "text": m.text, "status": m.status} for m in messages]


class ChatService:
    def __init__(
        self,
        *,
        engine: Engine,
        safety: SafetyChecker,
        personas: PersonaStore,
        sessions: sessionmaker[Session],
        max_message_chars: int = 500,
        max_reply_tokens: int = 256,
        on_alerts: Callable[[list[int]], None] | None = None,
        clock: Callable[[], datetime] | None = None,
        references: References | None = None,
    ) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.references = references  # educators' golden answers, matched per turn
        self.engine = engine
        self.on_alerts = on_alerts  # told the ids of new high-severity alerts, after they are committed
        self.safety = safety
        self.personas = personas
        self.sessions = sessions
        self.max_message_chars = max_message_chars
        self.max_reply_tokens = max_reply_tokens
        # The one model runs one generation at a time; a single worker thread is the queue (FIFO).
        self._model_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kidchat-model")
        # Replies this process is writing now; any other 'pending' reply was left by a turn that failed.
        self._writing: set[str] = set()
        self._writing_lock = threading.Lock()

    def close(self) -> None:
        self._model_worker.shutdown(wait=True, cancel_futures=True)

    # -- starting -----------------------------------------------------------------------------
    async def start_new(self, persona_id: str, child: ChildInfo) -> Started:
        if not child.may_use(persona_id):
            raise ChatError("unknown_persona")

        def work() -> Started:
            with transaction(self.sessions) as s:
                ref = self.personas.current(s, persona_id)  # the current version, saved a moment ago or not
                if ref is None:
                    raise ChatError("unknown_persona")
                persona = ref.persona
                lang = persona.language_for(child.language)
                conv = repo.create_conversation(
                    s, persona_id=persona.id, persona_version=ref.version, language=lang, model=self.engine.name,
                    child_id=child.id,
                )
                greeting = repo.add_message(
                    s, conv.id, role="assistant", text=persona.greeting[lang], status="complete"
                )
                return Started(conv.id, persona, lang, history_frame([greeting]))

        return await to_thread.run_sync(work)

    async def resume(self, conversation_id: str, child: ChildInfo) -> Started:
        def work() -> Started:
            with transaction(self.sessions) as s:
                conv = repo.get_conversation(s, conversation_id)
                if conv is None or conv.child_id != child.id:  # another child's id finds nothing
                    raise ChatError("unknown_conversation")
                persona = self.personas.get(s, conv.persona_id, conv.persona_version)
                if persona is None or not child.may_use(conv.persona_id):
                    raise ChatError("unknown_persona")
                return Started(conv.id, persona, conv.language, history_frame(repo.list_messages(s, conv.id)))

        return await to_thread.run_sync(work)

    # -- one turn -----------------------------------------------------------------------------
    def validate(self, text: str) -> str:
        text = text.strip()
        if not text:
            raise ChatError("empty")
        if len(text) > self.max_message_chars:
            raise ChatError("too_long")
        return text

    async def run_turn(
        self, conversation_id: str, text: str, send: Send, stop: threading.Event, child: ChildInfo
    ) -> TurnOutcome:
        started_at = time.perf_counter()
        text = self.validate(text)
        persona, earlier_child = await to_thread.run_sync(self._load_turn_context, conversation_id, child)
        lang = persona.language_for(detect_language(text))
        verdict = await to_thread.run_sync(
            partial(self.safety.check, text, "child", age=child.age, history=tuple(earlier_child))
        )

        if not verdict.allowed:
            redirect = persona.redirect(verdict.category, lang)
            reply_id, alerts = await to_thread.run_sync(self._store_blocked_child, conversation_id, verdict, redirect)
            self._alerted(alerts)
            await send({"type": "redirect", "text": redirect, "category": verdict.category})
            return TurnOutcome(reply_id, "blocked")

        request, reply_id = await to_thread.run_sync(
            self._store_child_and_prepare, conversation_id, persona, lang, verdict
        )
        return await self._generate(
            conversation_id, persona, lang, request, reply_id, send, stop, started_at, age=child.age
        )

    def _load_turn_context(self, conversation_id: str, child: ChildInfo) -> tuple[Persona, list[str]]:
        with transaction(self.sessions) as s:
            conv = repo.get_conversation(s, conversation_id)
            if conv is None or conv.child_id != child.id:
                raise ChatError("unknown_conversation")
            row = accounts.get_child(s, child.id)
            if row is None:
                raise ChatError("unknown_conversation")
            rest = rest_reason(s, row, self.clock())  # quiet hours or the daily limit: no new turn
            if rest is not None:
                raise ChatError(rest)
            persona = self.personas.get(s, conv.persona_id, conv.persona_version)
            if persona is None:
                raise ChatError("unknown_persona")
            earlier = [m.text for m in repo.list_messages(s, conversation_id) if m.role == "child"]
            return persona, earlier

    def _alerted(self, alert_ids: list[int]) -> None:
        if alert_ids and self.on_alerts is not None:
            try:
                self.on_alerts(alert_ids)
            except Exception as exc:  # noqa: BLE001 - a notifier failure never breaks a child's turn
                log.error("alert notifier failed (%s)", type(exc).__name__)

    def _store_blocked_child(self, conversation_id: str, verdict: Verdict, redirect: str) -> tuple[str, list[int]]:
        with transaction(self.sessions) as s:
            conv = repo.get_conversation(s, conversation_id)
            assert conv is not None
            child = repo.add_message(s, conversation_id, role="child", status="blocked", **_safety_fields(verdict, "child"))
            reply = repo.add_message(
                s,
                conversation_id,
                role="assistant",
                text=redirect,
                status="blocked",
                safety_action=verdict.action,
                safety_category=verdict.category,
                safety_side="child",
                safety_severity=verdict.severity,
            )
            flag = repo.raise_flag(
                s, conv, message_id=child.id, category=verdict.category or "unknown", severity=verdict.severity, side="child"
            )
            alert = review.alert_for_flag(s, conv, flag)
            return reply.id, [alert.id] if alert else []

    def _store_child_and_prepare(
        self, conversation_id: str, persona: Persona, lang: str, verdict: Verdict
    ) -> tuple[GenerationRequest, str]:
        with self._writing_lock:
            writing = tuple(self._writing)
        with transaction(self.sessions) as s:
            # A reply whose turn failed to finish (the database went away mid-reply) keeps what the child saw.
            repo.close_pending_replies(s, conversation_id=conversation_id, keep=writing)
            repo.add_message(s, conversation_id, role="child", status="complete", **_safety_fields(verdict, "child"))
            history = repo.list_messages(s, conversation_id)
            reply = repo.add_message(s, conversation_id, role="assistant", text="", status="pending", model=self.engine.name)
            request = self.fit_prompt(persona, lang, history)
        with self._writing_lock:
            self._writing.add(reply.id)
        return request, reply.id

    def fit_prompt(self, persona: Persona, lang: str, history: list[Message]) -> GenerationRequest:
        """System prompt + as much recent history as fits; oldest turns go first, the system prompt never."""
        turns = [
            ChatMessage("user" if m.role == "child" else "assistant", m.text)
            for m in history
            if m.status in ("complete", "interrupted") and m.text
        ]
        max_tokens = min(persona.generation.max_tokens, self.max_reply_tokens)
        reference = None
        if self.references is not None and turns and turns[-1].role == "user":
            reference = self.references.lookup(turns[-1].content, persona.language_for(lang), persona.id)

        def request(turns: list[ChatMessage]) -> GenerationRequest:
            return persona_request(persona, lang, turns, max_tokens, reference)

        budget = self.engine.n_ctx - max_tokens
        # The newest turn is the child's message; keep it even if it alone is too long for the budget.
        while len(turns) > 1 and self.engine.count_tokens(request(turns)) > budget:
            turns.pop(0)
        return request(turns)

    async def _generate(
        self,
        conversation_id: str,
        persona: Persona,
        lang: str,
        request: GenerationRequest,
        reply_id: str,
        send: Send,
        stop: threading.Event,
        started_at: float,
        *,
        age: int | None = None,
    ) -> TurnOutcome:
        async def persist(shown: str) -> None:
            await to_thread.run_sync(self._store_shown, reply_id, shown)

        try:
            r = await stream_checked_reply(
                self.engine, self._model_worker, self.safety, persona, lang, request, send, stop, started_at,
                age=age, label=conversation_id, persist=persist,
            )
            alerts = await to_thread.run_sync(
                self._finish_reply, conversation_id, reply_id, r.status, r.shown_text, r.withheld, r.blocked,
                r.stats, r.ttft_ms, r.duration_ms,
            )
        finally:
            with self._writing_lock:
                self._writing.discard(reply_id)
        self._alerted(alerts)
        for frame in r.ending_frames():  # the redirect (or the kind words) only once the outcome is stored
            await send(frame)
        return TurnOutcome(reply_id, r.status, r.stats)

    def _store_shown(self, reply_id: str, shown: str) -> None:
        with transaction(self.sessions) as s:
            repo.set_reply_text(s, reply_id, shown)

    async def preview(
        self, persona: Persona, turns: list[tuple[str, str]], text: str, send: Send, stop: threading.Event
    ) -> str:
        """A turn with a draft persona for the educators' preview: the same safety pass, prompt and model
        queue as a child's turn, and nothing is stored. `turns` are earlier (role, text) pairs."""
        started_at = time.perf_counter()
        text = self.validate(text)
        lang = persona.language_for(detect_language(text))
        earlier_child = tuple(t for role, t in turns if role == "child")
        verdict = await to_thread.run_sync(partial(self.safety.check, text, "child", history=earlier_child))
        if not verdict.allowed:
            await send({"type": "redirect", "text": persona.redirect(verdict.category, lang), "category": verdict.category})
            return "blocked"
        history = [Message(role=role, text=t, status="complete") for role, t in turns]
        history.append(Message(role="child", text=verdict.text, status="complete"))
        request = self.fit_prompt(persona, lang, history)
        r = await stream_checked_reply(
            self.engine, self._model_worker, self.safety, persona, lang, request, send, stop, started_at,
            age=None, label="preview",
        )
        for frame in r.ending_frames():
            await send(frame)
        return r.status

    def _finish_reply(
        self,
        conversation_id: str,
        reply_id: str,
        status: str,
        text: str,
        withheld: str | None,
        blocked: Verdict | None,
        stats: GenerationStats,
        ttft_ms: int | None,
        duration_ms: int,
    ) -> list[int]:
        with transaction(self.sessions) as s:
            reply = repo.get_message(s, reply_id)
            assert reply is not None
            reply.text = text
            reply.status = status
            reply.model = stats.model or reply.model
            reply.withheld_text = withheld
            reply.prompt_tokens = stats.prompt_tokens
            reply.completion_tokens = stats.completion_tokens
            reply.ttft_ms = ttft_ms
            reply.duration_ms = duration_ms
            if blocked is not None:
                for key, value in _safety_fields(blocked, "assistant").items():
                    if key != "text":
                        setattr(reply, key, value)
                conv = repo.get_conversation(s, conversation_id)
                assert conv is not None
                flag = repo.raise_flag(
                    s, conv, message_id=reply.id, category=blocked.category or "unknown",
                    severity=blocked.severity, side="assistant",
                )
                alert = review.alert_for_flag(s, conv, flag)
                return [alert.id] if alert else []
            return []


def _safety_fields(verdict: Verdict, side: str) -> dict:
    return {
        "text": verdict.text,
        "safety_action": verdict.action,
        "safety_category": verdict.category,
        "safety_side": side if not verdict.allowed else None,
        "safety_severity": verdict.severity,
        "safety_scores": dict(verdict.scores) or None,
    }
