"""The chat socket's limits per child and per client address: open sockets, frames per second and new
conversations per minute (docs/security.md). A frame over a rate limit is answered `rate_limited` and has
no other effect; a socket over the open-socket limit is closed with 1013 (try again later).

Rates are moving windows from the `limits` package (exact: at most N in any window, so a burst across a
window's edge gets no extra room); open sockets are a plain count. Everything runs on the event loop, so a
test and its hit happen together. Counts live in this process's memory (kidchat runs one process).
"""

from __future__ import annotations

from collections import Counter

from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from server.config import Settings


class SocketGuard:
    """One per app (`app.state.socket_guard`), built from the settings."""

    def __init__(self, settings: Settings) -> None:
        self.max_frame_bytes = settings.max_frame_bytes
        self._frames = (
            RateLimitItemPerSecond(settings.ws_frames_per_second, namespace="ws-frames"),
            RateLimitItemPerSecond(settings.ws_frames_per_second_per_ip, namespace="ws-frames"),
        )
        self._conversations = (
            RateLimitItemPerMinute(settings.conversations_per_minute, namespace="ws-conversations"),
            RateLimitItemPerMinute(settings.conversations_per_minute_per_ip, namespace="ws-conversations"),
        )
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._max_sockets = (settings.ws_sockets_per_child, settings.ws_sockets_per_ip)
        self._open: Counter[str] = Counter()

    @staticmethod
    def _keys(child_id: str, address: str) -> tuple[str, str]:
        return f"child:{child_id}", f"ip:{address}"

    def _admit(self, items: tuple[RateLimitItem, RateLimitItem], child_id: str, address: str) -> bool:
        """Count one event against the child's and the address's limits, only when both have room."""
        pairs = list(zip(items, self._keys(child_id, address), strict=True))
        if not all(self._limiter.test(item, key) for item, key in pairs):
            return False
        for item, key in pairs:
            self._limiter.hit(item, key)
        return True

    def frame(self, child_id: str, address: str) -> bool:
        """A frame arrived: True when it may be read."""
        return self._admit(self._frames, child_id, address)

    def new_conversation(self, child_id: str, address: str) -> bool:
        """A `start` of a new conversation: True when one may be made now."""
        return self._admit(self._conversations, child_id, address)

    def open_socket(self, child_id: str, address: str) -> bool:
        """A socket was authenticated: True (and counted) when the child and the address have room."""
        keys = self._keys(child_id, address)
        if any(self._open[key] >= limit for key, limit in zip(keys, self._max_sockets, strict=True)):
            return False
        self._open.update(keys)
        return True

    def close_socket(self, child_id: str, address: str) -> None:
        """A counted socket ended."""
        for key in self._keys(child_id, address):
            self._open[key] -= 1
            if self._open[key] <= 0:  # no key stays behind for a child or an address with no socket
                del self._open[key]

    def open_sockets(self, child_id: str, address: str) -> tuple[int, int]:
        """The child's and the address's open sockets now (for tests)."""
        return tuple(self._open[key] for key in self._keys(child_id, address))  # type: ignore[return-value]
