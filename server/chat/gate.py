"""Hold streamed text back until a sentence ends, so each sentence is checked before the child sees it.

Written by hand because the splitting has to work on a live token stream (pieces that cut words and
sentences anywhere) and keep the pieces, so the checked text can still go out token by token; sentence
splitters in libraries (pysbd, nltk) take finished text.
"""

from __future__ import annotations

import re

# A sentence ends at . ! ? … (and CJK forms), optionally followed by closing quotes/brackets or emoji,
# when whitespace follows; or at a newline. The lookahead for whitespace keeps "3.14" and "e.g" whole
# until more text shows where the sentence really ends.
_END = re.compile(r"(?:[.!?…。！？]+[\"'”’)\]]*|~+)(?=\s)|\n+")


class SentenceGate:
    """Feed pieces in; get back completed sentences, each as the list of pieces that make it up.

    At most one sentence is ever held back: a sentence is released as soon as its end is seen.
    `max_chars` bounds the hold-back for text that never ends a sentence (it is cut at a space).
    """

    def __init__(self, max_chars: int = 300) -> None:
        self.max_chars = max_chars
        self._pieces: list[str] = []
        self._buffer = ""

    @property
    def pending(self) -> str:
        return self._buffer

    def feed(self, piece: str) -> list[list[str]]:
        self._pieces.append(piece)
        self._buffer += piece
        released: list[list[str]] = []
        while True:
            cut = self._find_cut()
            if cut is None:
                break
            released.append(self._take(cut))
        return released

    def flush(self) -> list[str]:
        """The rest, at the end of the stream (a last sentence without final punctuation)."""
        rest = self._pieces
        self._pieces, self._buffer = [], ""
        return [p for p in rest if p]

    def _find_cut(self) -> int | None:
        match = _END.search(self._buffer)
        if match:
            end = match.end()
            # Keep the whitespace after the sentence with it, so the next sentence starts clean.
            while end < len(self._buffer) and self._buffer[end] in " \t":
                end += 1
            return end
        if len(self._buffer) > self.max_chars:
            space = self._buffer.rfind(" ", 0, self.max_chars)
            return space + 1 if space > 0 else self.max_chars
        return None

    def _take(self, cut: int) -> list[str]:
        taken: list[str] = []
        remaining = cut
        while remaining > 0 and self._pieces:
            piece = self._pieces[0]
            if len(piece) <= remaining:
                taken.append(piece)
                self._pieces.pop(0)
                remaining -= len(piece)
            else:
                taken.append(piece[:remaining])
                self._pieces[0] = piece[remaining:]
                remaining = 0
        self._buffer = self._buffer[cut:]
        return taken
