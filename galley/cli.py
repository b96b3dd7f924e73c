"""The `galley` command."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import signal
import ssl
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import structlog
import typer
import uvicorn
from pydantic import ValidationError

from galley import memory
from galley import migrate as migrations
from galley.audit import service as audit
from galley.config import Settings, SettingsError, load_settings, require_keys, unknown_settings
from galley.config_values import database_at
from galley.db import Database
from galley.errors import GalleyError
from galley.identity import service as identity
from galley.identity.rules import KEY_ROLES, SCOPES
from galley.identity.schemas import ApiKeyCreate
from galley.logs import configure_logging
from galley.outages import refusal
from galley.reactions import settled

log = structlog.get_logger("galley.cli")

app = typer.Typer(
    help="Galley: order, inventory and fulfilment backend.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _settings() -> Settings:
    """The settings, with a warning for each `GALLEY_*` name that is no setting."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        typer.echo(f"galley: {exc}", err=True)
        raise typer.Exit(2) from None
    configure_logging(settings.log_level, settings.log_format)
    for unknown in unknown_settings():
        log.warning(
            "settings.unknown",
            setting=unknown.name,
            source=unknown.source,
            did_you_mean=unknown.suggestion,
        )
    return settings


@contextmanager
def _using_database(settings: Settings) -> Iterator[None]:
    """A database that does not answer, does not exist or refuses the role is said in one
    line naming it, not in a trace."""
    try:
        yield
    except Exception as error:
        cause = refusal(error)
        if cause is None:
            raise
        where = database_at(settings.database_url)
        typer.echo(f"galley: cannot use database {where}: {cause}", err=True)
        raise typer.Exit(1) from None


def _migrated_settings(*keys: Literal["jwt_keys", "data_keys"]) -> Settings:
    """The settings, once the database they name is known to be fully migrated and the
    key rings the command needs are set."""
    settings = _settings()
    try:
        require_keys(settings, *keys)
    except SettingsError as exc:
        typer.echo(f"galley: {exc}", err=True)
        raise typer.Exit(2) from None
    with _using_database(settings):
        at, head = asyncio.run(migrations.current(settings)), migrations.head(settings)
    if at != head:
        typer.echo(
            f"galley: the database is at migration {at or 'none'}, the code needs {head}: "
            "run `galley migrate` first.",
            err=True,
        )
        raise typer.Exit(1)
    return settings


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
    ssl_certfile: Annotated[
        Path | None, typer.Option(help="Serve HTTPS with this PEM certificate (chain).")
    ] = None,
    ssl_keyfile: Annotated[
        Path | None, typer.Option(help="The certificate's private key (PEM, unencrypted).")
    ] = None,
    with_worker: Annotated[
        bool, typer.Option(help="Also run the event worker in each process (small setups).")
    ] = False,
) -> None:
    """Serve the HTTP API. Refuses to start while migrations are pending."""
    _check_tls(ssl_certfile, ssl_keyfile)
    settings = _migrated_settings("jwt_keys", "data_keys")
    typer.echo(f"galley: serving database {database_at(settings.database_url)}")
    if with_worker:
        # The app is built by each server process from the environment.
        os.environ["GALLEY_WITH_WORKER"] = "true"
    uvicorn.run(
        "galley.app:served_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        loop="uvloop",
        http="httptools",
        log_config=None,
        # The app itself believes X-Forwarded-* from GALLEY_TRUSTED_PROXIES only.
        proxy_headers=False,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
    )


def _check_tls(certfile: Path | None, keyfile: Path | None) -> None:
    """Both files or neither, and a pair that loads: said in one line now, not in a trace
    from every worker later."""
    if (certfile is None) != (keyfile is None):
        typer.echo("galley: --ssl-certfile and --ssl-keyfile go together; give both", err=True)
        raise typer.Exit(2)
    if certfile is None or keyfile is None:
        return
    try:
        # An encrypted key would make the server ask for a pass phrase; refuse it instead.
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            certfile, keyfile, password=lambda: ""
        )
    except (OSError, ssl.SSLError) as exc:
        typer.echo(f"galley: cannot serve HTTPS with {certfile} and {keyfile}: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def worker() -> None:
    """Publish events and run their consumers until stopped (SIGINT or SIGTERM). Run as
    many as you like: they share the work."""
    settings = _migrated_settings("data_keys")
    asyncio.run(_work(settings))


async def _work(settings: Settings) -> None:
    from galley.worker import run_until_stopped

    memory.settle()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop.set)
    await run_until_stopped(settings, stop)


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    settings = _settings()
    typer.echo(f"galley: migrating database {database_at(settings.database_url)}")
    with _using_database(settings):
        # Asked first through Galley's own engine, with its timeouts and its words for a
        # database that cannot be used.
        asyncio.run(migrations.current(settings))
        migrations.upgrade(settings)
    typer.echo(f"galley: database is at migration {migrations.head(settings)}")


@app.command()
def demo(
    products: Annotated[int, typer.Option(min=1, max=5000, help="How many products.")] = 200,
    orders: Annotated[int, typer.Option(min=0, max=5000, help="How many orders.")] = 40,
) -> None:
    """Fill an empty database with a demo shop: locations, suppliers, products, stock, orders
    and the purchase orders that fill them."""
    from galley.demo import fill, is_empty

    settings = _migrated_settings("data_keys")
    if not asyncio.run(is_empty(settings)):
        typer.echo("galley: the database already has data; demo fills only an empty one.", err=True)
        raise typer.Exit(1)
    asyncio.run(fill(settings, products=products, orders=orders))


@app.command("dev-keys")
def dev_keys(
    path: Annotated[Path, typer.Argument(help="The env file to write.")] = Path("var/dev-keys.env"),
) -> None:
    """Write development token-signing and data keys to an env file, adding any it lacks
    (`make run` does this on every start)."""
    written = path.read_text() if path.exists() else ""
    missing = [
        name for name in ("GALLEY_JWT_KEYS", "GALLEY_DATA_KEYS") if name + "=" not in written
    ]
    if not missing:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{name}=dev-{secrets.token_hex(4)}:{_new_secret()}\n" for name in missing]
    path.write_text(written + "".join(lines))
    path.chmod(0o600)
    typer.echo(
        f"galley: generated development {' and '.join(missing)} in {path}; "
        "do not use them in production"
    )


def _new_secret() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


admin = typer.Typer(help="Administrator accounts.", no_args_is_help=True)
api_keys = typer.Typer(help="API keys for integrations and scripts.", no_args_is_help=True)
data_keys = typer.Typer(help="The keys that seal personal data at rest.", no_args_is_help=True)
app.add_typer(admin, name="admin")
app.add_typer(api_keys, name="api-keys")
app.add_typer(data_keys, name="keys")


@admin.command("create")
def create_admin(
    email: Annotated[str, typer.Option(help="The administrator's e-mail address.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create an administrator account (the first one comes from here)."""
    settings = _migrated_settings("data_keys")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        asyncio.run(_create_admin(settings, email, password))
    except GalleyError as exc:
        typer.echo(f"galley: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"galley: administrator {email} created")


async def _create_admin(settings: Settings, email: str, password: str) -> None:
    database = Database(settings)
    try:
        async with database.transaction() as session:
            keys = settings.sealing_keys
            await settled(
                session,
                identity.create_user(session, email, password, "admin", keys, origin=audit.CLI),
                settings,
            )
    finally:
        await database.dispose()


@api_keys.command("create")
def create_api_key(
    name: Annotated[str, typer.Option(help="What the key is for.")],
    role: Annotated[
        str | None, typer.Option(help="staff, manager or admin; or give --scope instead.")
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(help="A permission the key restricted to scopes has (repeat for more)."),
    ] = None,
) -> None:
    """Create an API key and print its secret (shown only this once). A key has a role or
    scopes: a shop front end's key, for one, needs only --scope catalog:read --scope
    orders:place. A key is never a customer."""
    settings = _migrated_settings()
    try:
        new = ApiKeyCreate.model_validate({"name": name, "role": role, "scopes": scope})
    except ValidationError as exc:
        problems = "; ".join(_key_problem(error) for error in exc.errors())
        typer.echo(f"galley: {problems}", err=True)
        raise typer.Exit(2) from None
    typer.echo(asyncio.run(_create_key(settings, new)))


def _key_problem(error: Any) -> str:
    field = error["loc"][0] if error["loc"] else None
    if field == "role":
        return f"role must be one of {', '.join(KEY_ROLES)} (a key is never a customer)"
    if field == "scopes":
        return f"each scope must be one of {', '.join(SCOPES)}"
    return str(error["msg"]).removeprefix("Value error, ")


async def _create_key(settings: Settings, new: ApiKeyCreate) -> str:
    database = Database(settings)
    try:
        async with database.transaction() as session:
            _, secret = await settled(
                session, identity.create_api_key(session, new, audit.CLI), settings
            )
    finally:
        await database.dispose()
    return secret


@data_keys.command("rotate")
def rotate_data_keys(
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Rows per transaction.")] = 500,
) -> None:
    """Re-seal every row under the first key of GALLEY_DATA_KEYS. Safe to stop and run
    again; once it reports nothing left, older keys can be removed."""
    settings = _migrated_settings("data_keys")
    asyncio.run(_rotate(settings, batch))


async def _rotate(settings: Settings, batch: int) -> None:
    from galley.privacy.keys import data_keys as ring
    from galley.resealing import reseal, rows_to_reseal

    database = Database(settings)
    done = 0
    try:
        total = await rows_to_reseal(database)
        with typer.progressbar(length=total, label="Re-sealing personal data") as bar:
            async for count in reseal(database, batch=batch):
                done += count
                bar.update(count)
        async with database.transaction() as session:
            audit.record(
                session,
                audit.CLI,
                "data_keys.rotated",
                rows=done,
                key=ring(settings.data_keys).current,
            )
    finally:
        await database.dispose()
    typer.echo(f"galley: {done} rows re-sealed; every row is sealed under the current data key")


events = typer.Typer(help="The events consumers gave up on.", no_args_is_help=True)
app.add_typer(events, name="events")


@events.command("dead-letters")
def list_dead_letters(
    consumer: Annotated[str | None, typer.Option(help="Only this consumer's.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many each.")] = 100,
) -> None:
    """List the events consumers gave up on after GALLEY_EVENTS_MAX_ATTEMPTS attempts,
    with the last error; they stay where they are (in RabbitMQ with GALLEY_BROKER_URL,
    in the database without)."""
    from galley.events import dead_letters
    from galley.worker import consumers

    settings = _settings()
    try:
        with _using_database(settings):
            found = asyncio.run(
                dead_letters.listed(settings, consumers(settings), consumer, limit=limit)
            )
    except dead_letters.DeadLettersUnavailable as exc:
        typer.echo(f"galley: {exc}", err=True)
        raise typer.Exit(1) from None
    if not found:
        typer.echo("galley: no dead letters")
        return
    rows = [("EVENT", "TYPE", "CONSUMER", "ATTEMPTS", "LAST ERROR")]
    rows += [(d.event_id, d.type, d.consumer, str(d.attempts), d.error) for d in found]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    for row in rows:
        cells = [row[column].ljust(width) for column, width in enumerate(widths)]
        typer.echo("  ".join([*cells, row[4]]))


@events.command("retry")
def retry_dead_letters(
    consumer: Annotated[str | None, typer.Option(help="Only this consumer's.")] = None,
    id: Annotated[str | None, typer.Option("--id", help="Only this event.")] = None,
) -> None:
    """Give dead letters a fresh set of attempts: back in their consumers' queues with
    GALLEY_BROKER_URL; without, each is acted on again at once."""
    from galley.events import dead_letters
    from galley.worker import consumers

    settings = _settings()
    try:
        with _using_database(settings):
            said = asyncio.run(
                dead_letters.retried(settings, consumers(settings), consumer, event_id=id)
            )
    except dead_letters.DeadLettersUnavailable as exc:
        typer.echo(f"galley: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"galley: {said}")


def main() -> None:
    app()
