"""What production refuses to start without: TLS, so that every cookie kidchat sets is `Secure`.

kidchat either speaks https itself (`KIDCHAT_SSL_CERTFILE` and `KIDCHAT_SSL_KEYFILE`) or sits behind a TLS
proxy whose forwarded headers it trusts by setting (`KIDCHAT_FORWARDED_ALLOW_IPS`). In production every
cookie carries `Secure` whatever the request looked like (`server.pages.common.is_secure`), so a proxy that
forwards plain http fails closed: the browser keeps no session. The secret key's own rules are in
`server.auth.secret`.
"""

from __future__ import annotations

from server.config import Settings


class DeploymentError(RuntimeError):
    """Production settings that would send secrets over plain http; the message says what to set."""


def check_deployment(settings: Settings) -> None:
    if not settings.production:
        return
    if settings.cookie_secure == "never":
        raise DeploymentError("KIDCHAT_COOKIE_SECURE=never is refused in production: cookies need Secure.")
    tls_here = settings.ssl_certfile is not None and settings.ssl_keyfile is not None
    if (settings.ssl_certfile is None) != (settings.ssl_keyfile is None):
        raise DeploymentError("Set both KIDCHAT_SSL_CERTFILE and KIDCHAT_SSL_KEYFILE, or neither.")
    if not tls_here and not settings.forwarded_allow_ips:
        raise DeploymentError(
            "Production needs TLS: set KIDCHAT_SSL_CERTFILE and KIDCHAT_SSL_KEYFILE, or run behind a TLS proxy "
            "and set KIDCHAT_FORWARDED_ALLOW_IPS to its address (its X-Forwarded-Proto is then trusted)."
        )
    if settings.public_url and not settings.public_url.startswith("https://"):
        raise DeploymentError("KIDCHAT_PUBLIC_URL must be an https:// address in production.")
