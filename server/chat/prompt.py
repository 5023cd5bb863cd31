"""What the model is asked: a persona's system prompt, speaker names and sampling settings around the
turns of a conversation. One function, called by the chat service for every turn and by the training
module for every example (training/kids_sft.py), so the fine-tune learns exactly what it is served."""

from __future__ import annotations

from collections.abc import Sequence

from server.llm.base import ChatMessage, GenerationRequest
from server.personas import Persona

# How an educator's golden answer is put before the model for one turn (server.chat.reference).
REFERENCE_LINE = {
    "ko": "아이의 이 질문에 선생님들이 미리 써 둔 좋은 대답: {answer}",
    "en": "A good answer that educators wrote for this question: {answer}",
}


def persona_request(
    persona: Persona,
    lang: str,
    turns: Sequence[ChatMessage],
    max_tokens: int | None = None,
    reference: str | None = None,
) -> GenerationRequest:
    """The request for the persona's next reply in `lang`: system prompt (and an educator's reference
    answer for this turn, when one matched), then `turns` (user/assistant)."""
    lang = persona.language_for(lang)
    gen = persona.generation
    labels = persona.labels(lang)
    system = persona.system_prompt[lang]
    if reference:
        system += "\n" + REFERENCE_LINE.get(lang, REFERENCE_LINE["en"]).format(answer=" ".join(reference.split()))
    return GenerationRequest(
        messages=(ChatMessage("system", system), *turns),
        language=lang,
        assistant_label=labels.persona,
        user_label=labels.child,
        max_tokens=gen.max_tokens if max_tokens is None else min(gen.max_tokens, max_tokens),
        temperature=gen.temperature,
        top_p=gen.top_p,
        repeat_penalty=gen.repeat_penalty,
    )
