"""Chat templates: the GGUF's own, or a fallback chosen by architecture when the GGUF carries none.

Without this, llama-cpp-python falls back to a Llama-2 prompt format, which e.g. Gemma 3 answers with
garbage. The fallbacks are the models' published formats.
"""

from __future__ import annotations

from pathlib import Path

from server.llm.base import ChatMessage

# Gemma has no system role: the system text opens the first user turn (as Google's own template does).
GEMMA = (
    "{{ bos_token }}"
    "{% if messages[0]['role'] == 'system' %}"
    "{% set first_user_prefix = messages[0]['content'] + '\n\n' %}{% set loop_messages = messages[1:] %}"
    "{% else %}{% set first_user_prefix = '' %}{% set loop_messages = messages %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else 'user' %}"
    "<start_of_turn>{{ role }}\n{{ (first_user_prefix if loop.first else '') + message['content'] | trim }}"
    "<end_of_turn>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)

CHATML = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

FALLBACKS = {"gemma": GEMMA, "gemma2": GEMMA, "gemma3": GEMMA, "gemma3n": GEMMA}


def pick_template(metadata: dict[str, str], override: str | None = None) -> tuple[str, str]:
    """Return (template, where it came from). `override` is template text or a path to a file."""
    if override:
        path = Path(override)
        if len(override) < 4096 and path.is_file():
            return path.read_text(encoding="utf-8"), f"file:{path.name}"
        return override, "setting"
    own = metadata.get("tokenizer.chat_template")
    if own:
        return own, "gguf"
    arch = metadata.get("general.architecture", "")
    return FALLBACKS.get(arch, CHATML), f"fallback:{arch or 'unknown'}"


def transcript_parts(
    messages: tuple[ChatMessage, ...] | list[ChatMessage], assistant_label: str, user_label: str
) -> list[tuple[str, bool]]:
    """A conversation as a base model reads it, in pieces: (text, is_reply). Concatenated, the pieces are
    the transcript; a reply piece is what the model writes after its label, its closing newline included
    (the newline is where the server stops). The server's prompt (``render_transcript``) and the
    fine-tune's training text (training/kids_sft.py) are both made here, so they cannot drift apart."""
    parts: list[tuple[str, bool]] = []
    preface = ""
    for m in messages:
        if m.role == "system":
            preface = m.content.strip()
    if preface:
        parts.append((preface + "\n\n", False))
    for m in messages:
        text = " ".join(m.content.split())  # one turn per line
        if m.role == "assistant":
            parts.append((f"{assistant_label}:", False))
            parts.append((f" {text}\n", True))
        elif m.role != "system":
            parts.append((f"{user_label}: {text}\n", False))
    return parts


def render_transcript(messages: tuple[ChatMessage, ...], assistant_label: str, user_label: str) -> str:
    """A base model's prompt: the system text as a preface, then one line per turn, ending with the
    persona's label so the model writes the persona's next line."""
    return "".join(text for text, _ in transcript_parts(messages, assistant_label, user_label)) + f"{assistant_label}:"
