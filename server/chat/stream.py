"""The token path of a turn: run the model off the event loop, hold text back until a sentence ends,
check each sentence (alone and with the reply so far), store it, and only then send it; on a stopped
sentence, stop the model and end with the persona's redirect instead.

What is sent is exactly what is stored: `persist` gets the whole checked reply so far before any piece of
a new sentence goes out, so a crash keeps everything the child saw. Whitespace between sentences (a
paragraph break) goes out with the sentence after it, and a break with nothing after it goes nowhere."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from server.chat.gate import SentenceGate
from server.chat.protocol import ERRORS
from server.llm.base import Engine, GenerationRequest, GenerationStats
from server.personas import Persona
from server.safety.verdict import SafetyChecker, Verdict

log = logging.getLogger("kidchat.chat")

Send = Callable[[dict], Awaitable[None]]
Persist = Callable[[str], Awaitable[None]]  # the checked reply so far -> stored (raises when it cannot be)


@dataclass
class Streamed:
    """How a reply ended. The frames that end it (`ending_frames`) are the caller's to send, after it
    stored this: the redirect, or the kind words for a failure."""

    status: str  # complete | interrupted | blocked
    shown_text: str  # what the child saw (the redirect, when blocked)
    withheld: str | None  # what the model said, when the safety stage stopped it (for parents only)
    blocked: Verdict | None
    stats: GenerationStats
    ttft_ms: int | None
    duration_ms: int
    lang: str = "en"
    failed: bool = False  # the model crashed mid-reply
    store_failed: bool = False  # a sentence could not be stored, so it was not sent and the model stopped

    def ending_frames(self) -> list[dict]:
        if self.blocked is not None:
            return [{"type": "redirect", "text": self.shown_text, "category": self.blocked.category}]
        if self.failed or self.store_failed:
            return [{"type": "error", "code": "internal", "message": _internal_words(self.lang)}]
        return []


_END = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _internal_words(lang: str) -> str:
    return ERRORS["internal"].get(lang, ERRORS["internal"]["en"])


async def stream_checked_reply(
    engine: Engine,
    model_worker: Executor,
    safety: SafetyChecker,
    persona: Persona,
    lang: str,
    request: GenerationRequest,
    send: Send,
    stop: threading.Event,
    started_at: float,
    *,
    age: int | None = None,
    label: str = "",
    persist: Persist | None = None,
) -> Streamed:
    """Run the model; check each sentence, `persist` the reply with it, then send it. Sends deltas only:
    the caller sends `ending_frames()` once it has stored the outcome."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()
    stats = GenerationStats()

    def post(item: object) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the event loop is gone (shutdown); nothing is listening
            stop.set()

    def worker() -> None:
        try:
            if stop.is_set():  # the turn waited in the queue and its socket dropped (or it was stopped)
                return
            for piece in engine.stream(request, stop, stats):
                post(piece)
        except BaseException as exc:  # noqa: BLE001 - reported to the turn, never to the child
            post(_Failure(exc))
        finally:
            post(_END)

    job = loop.run_in_executor(model_worker, worker)
    gate = SentenceGate()
    shown = ""  # checked text the child has seen (and that is stored)
    gap: list[str] = []  # whitespace after the last sentence: sent with the next one, if one comes
    raw = ""  # everything the model said
    ttft_ms: int | None = None
    blocked: Verdict | None = None
    failed = False
    store_failed = False

    def judge(shown: str, sentence: str) -> Verdict:
        """The sentence alone, then with what the child has already read."""
        verdict = safety.check(sentence, "assistant", age=age)
        if verdict.allowed and shown.strip():
            verdict = safety.check(shown + sentence, "assistant", age=age)
        return verdict

    async def release(pieces: list[str]) -> bool:
        nonlocal shown, blocked, store_failed
        if not shown:  # a reply starts at its first visible character
            while pieces and not pieces[0].strip():
                pieces = pieces[1:]
            if pieces:
                pieces = [pieces[0].lstrip(), *pieces[1:]]
        if not "".join(pieces).strip():  # a line break between sentences: it goes out with the next one
            gap.extend(p for p in pieces if p)
            return True
        pieces = [*gap, *pieces]
        gap.clear()
        sentence = "".join(pieces)
        # off the event loop: a sentence the n-grams are unsure about gets the encoder's look (~10 ms)
        verdict = await asyncio.to_thread(judge, shown, sentence)
        if not verdict.allowed:
            blocked = verdict
            stop.set()
            return False
        if persist is not None:
            try:
                await persist(shown + sentence)  # stored before any of it is sent: a crash keeps it
            except Exception as exc:  # noqa: BLE001 - logged by type; the caller tells the child kindly
                log.error("storing the reply failed in conversation %s (%s)", label, type(exc).__name__)
                store_failed = True
                stop.set()
                return False
        for piece in pieces:
            await send({"type": "delta", "text": piece})
        shown += sentence
        return True

    while True:
        item = await queue.get()
        if item is _END:
            break
        if isinstance(item, _Failure):
            failed = True
            log.error("generation failed in conversation %s: %s", label, type(item.exc).__name__)
            continue
        if blocked is not None or stop.is_set():
            continue  # drain: the worker stops within a token
        assert isinstance(item, str)
        if ttft_ms is None:
            ttft_ms = int((time.perf_counter() - started_at) * 1000)
        raw += item
        for sentence in gate.feed(item):
            if not await release(sentence):
                break
    await job

    if blocked is None and not stop.is_set():  # also after a crash: what the model said is checked
        rest = gate.flush()
        if rest:
            await release(rest)

    if blocked is not None:
        status = "blocked"
        shown_text, withheld = persona.redirect(blocked.category, lang), raw
    else:
        status = "interrupted" if (stop.is_set() or failed) else "complete"
        shown_text, withheld = shown, None

    duration_ms = int((time.perf_counter() - started_at) * 1000)
    return Streamed(
        status, shown_text, withheld, blocked, stats, ttft_ms, duration_ms,
        lang=lang, failed=failed, store_failed=store_failed,
    )

