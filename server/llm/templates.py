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


def render_transcript(messages: tuple[ChatMessage, ...], assistant_label: str, user_label: str) -> str:
    """A base model's prompt: the system text as a preface, then one line per turn, ending with the
    persona's label so the model writes the persona's next line."""
    lines: list[str] = []
    preface = ""
    for m in messages:
        text = " ".join(m.content.split())  # one turn per line
        if m.role == "system":
            preface = m.content.strip()
        elif m.role == "assistant":
            lines.append(f"{assistant_label}: {text}")
        else:
            lines.append(f"{user_label}: {text}")
    lines.append(f"{assistant_label}:")
    return (preface + "\n\n" if preface else "") + "\n".join(lines)
