"""Evaluation of the served fine-tune (report in docs/model.md), base vs tuned, through the server's path.

    kidchat train eval-kids                         # every held-out probe, base and tuned, both languages
    kidchat train eval-kids --limit 40 --out var/eval-kids/quick.json

Probes, none of them ever trained on (training/kids_sft.py trains only the "train" split):
- turns: each child turn of a held-out dialogue (training.corpus.heldout), with the turns before it;
- facts: held-out fact pairs (``expected`` answer keys) asked after the persona's greeting;
- memory: training/eval/memory.jsonl: the child tells a detail, says one more thing, then asks for it back.

Each probe runs like a served turn: the child's message goes through the safety stage (a stopped message
gets the persona's redirect and no model turn), the request is built by ``persona_request`` (the server's),
and the reply streams through ``server.chat.stream.stream_checked_reply`` (sentence gate + safety check of
every sentence; a stopped reply counts as stopped). Figures per language and persona: the reply's
language, echo (the reply repeats most of the child's words), asks back, stopped by safety, sentences,
soeun-mom's 반말, facts right, memory right; and tokens per second of each engine in the same run.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from server.chat.lang import detect_language
from server.llm.base import ChatMessage

MEMORY = Path(__file__).parent / "eval" / "memory.jsonl"
MAX_TOKENS = 100  # per reply (the personas allow 150-200; a reply that needs more is too long for a child anyway)
_WORD = re.compile(r"[\w']+", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?。…]+(?:\s|$)|\n")
# 존댓말 endings a mother would not use with her 7-year-old ("-요", "-니다", "-세요").
_POLITE = re.compile(r"(요|니다|니까|세요)\s*[.?!~…]*\s*$")


@dataclass
class Probe:
    kind: str  # turn | fact | memory
    id: str
    persona: str
    language: str
    age: int
    turns: tuple[ChatMessage, ...]  # ends with the child's message
    expected: tuple[str, ...] = ()
    memory: dict | None = None  # memory probes: the detail, the filler and the question


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def is_echo(child: str, reply: str) -> bool:
    """The reply repeats most of the child's words (at least 3 of them) and adds little."""
    cw, rw = _words(child), _words(reply)
    if len(cw) < 3 or not rw:
        return False
    shared = sum(1 for w in set(cw) if w in set(rw))
    return shared / len(set(cw)) >= 0.7 and len(rw) <= 2 * len(cw)


def sentence_count(text: str) -> int:
    return max(1, len([s for s in _SENTENCE_END.split(text.strip()) if s and s.strip()])) if text.strip() else 0


def banmal(text: str) -> bool:
    sentences = [s for s in re.split(r"(?<=[.?!])\s+", text.strip()) if s.strip()]
    return bool(sentences) and not any(_POLITE.search(s) for s in sentences)


def has_expected(reply: str, expected: tuple[str, ...]) -> bool:
    low = reply.lower()
    return any(e.lower() in low for e in expected)


def build_probes(limit: int | None = None, personas=None, turn_limit: int | None = None) -> list[Probe]:
    from training import corpus
    from training.kids_sft import (
        STARTER_DIR,
        _greeting,
        _read_jsonl,
        dialogue_turns,
        load_personas_for_training,
    )

    personas = personas or load_personas_for_training()
    probes: list[Probe] = []
    dialogues = corpus.load("dialogues") + _read_jsonl(STARTER_DIR / "dialogues.jsonl")
    for row in dialogues:
        if not corpus.heldout(row["id"]):
            continue
        turns = dialogue_turns(row, personas[row["persona"]])
        for i, turn in enumerate(turns):
            if turn.role == "user":
                probes.append(Probe("turn", f"{row['id']}#{i}", row["persona"], row["language"], row["age"], turns[: i + 1]))
    for row in corpus.load("golden"):
        if row.get("expected") and corpus.pair_heldout(row):
            persona = personas[row["persona"]]
            turns = (_greeting(persona, row["language"]), ChatMessage("user", row["question"]))
            probes.append(Probe("fact", row["id"], row["persona"], row["language"], row["age"], turns, tuple(row["expected"])))
    for row in _read_jsonl(MEMORY):
        persona = personas[row["persona"]]
        turns = (_greeting(persona, row["language"]), ChatMessage("user", row["detail"]))
        probes.append(Probe("memory", row["id"], row["persona"], row["language"], 7, turns, tuple(row["expected"]), row))
    by_kind: dict[str, list[Probe]] = {}
    for p in probes:
        by_kind.setdefault(f"{p.kind}/{p.language}", []).append(p)
    out = []
    for key, group in by_kind.items():
        # turns: a deterministic spread over dialogues and personas (ordered by a hash of the probe id)
        if key.startswith("turn/"):
            group = sorted(group, key=lambda p: hashlib.sha256(p.id.encode()).hexdigest())
            if turn_limit:
                group = group[:turn_limit]
        out += group[:limit] if limit else group
    return out


@dataclass
class Turn:
    text: str
    status: str  # complete | blocked | redirected (child side) | interrupted
    tokens: int = 0
    seconds: float = 0.0


@dataclass
class Runner:
    engine: object
    safety: object
    personas: dict
    references: object | None = None  # server.chat.reference.References: educators' answers per turn
    worker: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1))

    def turn(self, probe_persona: str, lang: str, age: int, turns: tuple[ChatMessage, ...]) -> Turn:
        from server.chat.prompt import persona_request
        from server.chat.stream import stream_checked_reply

        persona = self.personas[probe_persona]
        child = turns[-1].content
        history = tuple(t.content for t in turns[:-1] if t.role == "user")
        verdict = self.safety.check(child, "child", age=age, history=history)
        if not verdict.allowed:
            return Turn(persona.redirect(verdict.category, lang), "redirected")
        reference = self.references.lookup(child, lang, probe_persona) if self.references is not None else None
        request = persona_request(persona, lang, turns, MAX_TOKENS, reference)
        frames: list[dict] = []

        async def send(frame: dict) -> None:
            frames.append(frame)

        async def go():
            return await stream_checked_reply(
                self.engine, self.worker, self.safety, persona, lang, request, send, threading.Event(),
                time.perf_counter(), age=age, label="eval",
            )  # fmt: skip

        start = time.perf_counter()
        streamed = asyncio.run(go())
        return Turn(streamed.shown_text.strip(), streamed.status, streamed.stats.completion_tokens, time.perf_counter() - start)


def run_probe(runner: Runner, probe: Probe) -> dict:
    row = {"kind": probe.kind, "id": probe.id, "persona": probe.persona, "language": probe.language}
    if probe.kind == "memory":
        memory = probe.memory or {}
        first = runner.turn(probe.persona, probe.language, probe.age, probe.turns)
        turns = (*probe.turns, ChatMessage("assistant", first.text), ChatMessage("user", memory["filler"]))
        second = runner.turn(probe.persona, probe.language, probe.age, turns)
        turns = (*turns, ChatMessage("assistant", second.text), ChatMessage("user", memory["question"]))
        reply = runner.turn(probe.persona, probe.language, probe.age, turns)
        row.update(child=memory["question"], reply=reply.text, status=reply.status, right=has_expected(reply.text, probe.expected))
        row.update(tokens=first.tokens + second.tokens + reply.tokens, seconds=first.seconds + second.seconds + reply.seconds)
        return row
    reply = runner.turn(probe.persona, probe.language, probe.age, probe.turns)
    child = probe.turns[-1].content
    row.update(child=child, reply=reply.text, status=reply.status, tokens=reply.tokens, seconds=reply.seconds)
    if reply.status in ("complete", "interrupted", "blocked"):
        row.update(
            language_ok=detect_language(reply.text) == probe.language if reply.status != "blocked" else None,
            echo=is_echo(child, reply.text) if reply.status != "blocked" else None,
            asks_back="?" in reply.text if reply.status != "blocked" else None,
            sentences=sentence_count(reply.text) if reply.status != "blocked" else None,
            banmal=banmal(reply.text) if probe.persona == "soeun-mom" and reply.status != "blocked" else None,
        )
    if probe.kind == "fact":
        row["right"] = reply.status != "redirected" and has_expected(reply.text, probe.expected)
    return row


def _share(rows: list[dict], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return round(sum(map(bool, values)) / len(values), 3) if values else None


def summarize(rows: list[dict]) -> dict:
    turns = [r for r in rows if r["kind"] == "turn"]
    model_turns = [r for r in turns if r["status"] != "redirected"]
    out = {
        "turns": len(turns),
        "child_redirected": _share([{"x": r["status"] == "redirected"} for r in turns], "x"),
        "language_ok": _share(model_turns, "language_ok"),
        "echo": _share(model_turns, "echo"),
        "asks_back": _share(model_turns, "asks_back"),
        "safety_passed": _share([{"x": r["status"] != "blocked"} for r in model_turns], "x"),
        "sentences_mean": round(sum(r["sentences"] or 0 for r in model_turns if r.get("sentences") is not None)
                                / max(1, sum(r.get("sentences") is not None for r in model_turns)), 2),
        "banmal": _share(model_turns, "banmal"),
        "facts": _share([r for r in rows if r["kind"] == "fact"], "right"),
        "facts_n": sum(r["kind"] == "fact" for r in rows),
        "memory": _share([r for r in rows if r["kind"] == "memory"], "right"),
        "memory_n": sum(r["kind"] == "memory" for r in rows),
    }  # fmt: skip
    tokens = sum(r.get("tokens", 0) for r in rows)
    seconds = sum(r.get("seconds", 0.0) for r in rows)
    out["tokens_per_s"] = round(tokens / seconds, 1) if seconds else None
    return out


def report(rows: list[dict]) -> dict:
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["language"], []).append(r)
        groups.setdefault(f"{r['language']}/{r['persona']}", []).append(r)
    return {key: summarize(group) for key, group in sorted(groups.items())} | {"all": summarize(rows)}


def evaluate(engines: dict[str, tuple], probes: list[Probe], safety, personas, progress: bool = True) -> dict:
    """{name: {"rows": [...], "summary": {...}}}: each entry of ``engines`` is (engine, references or None,
    a probe filter or None), all over the same probes in one run."""
    out = {}
    for name, (engine, references, keep) in engines.items():
        runner = Runner(engine, safety, personas, references)
        mine = [p for p in probes if keep is None or keep(p)]
        rows = []
        for i, probe in enumerate(mine, 1):
            rows.append(run_probe(runner, probe))
            if progress and i % 50 == 0:
                print(f"  {name}: {i}/{len(mine)}", flush=True)
        runner.worker.shutdown()
        out[name] = {"summary": report(rows), "rows": rows}
    return out
