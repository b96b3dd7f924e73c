"""The `galley` command."""

from __future__ import annotations

import asyncio
import base64
import secrets
import sys
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from galley import migrate as migrations
from galley.config import Settings, SettingsError, load_settings
from galley.db import Database
from galley.errors import GalleyError
from galley.identity import service as identity
from galley.identity.rules import ROLES
from galley.identity.schemas import ApiKeyCreate

app = typer.Typer(
    help="Galley: order, inventory and fulfilment backend.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        typer.echo(f"galley: {exc}", err=True)
        raise typer.Exit(2) from None


def _migrated_settings() -> Settings:
    """The settings, once the database they name is known to be fully migrated."""
    settings = _settings()
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
) -> None:
    """Serve the HTTP API. Refuses to start while migrations are pending."""
    settings = _migrated_settings()
    if not settings.signing_keys:
        typer.echo(
            "galley: invalid setting GALLEY_JWT_KEYS: missing; set kid:secret pairs "
            "(`galley dev-keys` writes development keys)",
            err=True,
        )
        raise typer.Exit(2)
    uvicorn.run(
        "galley.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        loop="uvloop",
        http="httptools",
        log_config=None,
        proxy_headers=False,
    )


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    settings = _settings()
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

    settings = _migrated_settings()
    if not asyncio.run(is_empty(settings)):
        typer.echo("galley: the database already has data; demo fills only an empty one.", err=True)
        raise typer.Exit(1)
    asyncio.run(fill(settings, products=products, orders=orders))


@app.command("dev-keys")
def dev_keys(
    path: Annotated[Path, typer.Argument(help="The env file to write.")] = Path("var/dev-keys.env"),
) -> None:
    """Write development signing keys to an env file, unless it exists (`make run` does)."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    path.write_text(f"GALLEY_JWT_KEYS=dev-{secrets.token_hex(4)}:{secret}\n")
    path.chmod(0o600)
    typer.echo(f"galley: generated development keys in {path}; do not use them in production")


admin = typer.Typer(help="Administrator accounts.", no_args_is_help=True)
keys = typer.Typer(help="API keys for integrations and scripts.", no_args_is_help=True)
app.add_typer(admin, name="admin")
app.add_typer(keys, name="api-keys")


@admin.command("create")
def create_admin(
    email: Annotated[str, typer.Option(help="The administrator's e-mail address.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create an administrator account (the first one comes from here)."""
    settings = _migrated_settings()
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
            await identity.create_user(session, email, password, "admin")
    finally:
        await database.dispose()


@keys.command("create")
def create_api_key(
    name: Annotated[str, typer.Option(help="What the key is for.")],
    role: Annotated[str, typer.Option(help="customer, staff, manager or admin.")],
) -> None:
    """Create an API key and print its secret (shown only this once)."""
    settings = _migrated_settings()
    if role not in ROLES:
        typer.echo(f"galley: role must be one of {', '.join(ROLES)}", err=True)
        raise typer.Exit(2)
    typer.echo(asyncio.run(_create_key(settings, name, role)))


async def _create_key(settings: Settings, name: str, role: str) -> str:
    database = Database(settings)
    try:
        async with database.transaction() as session:
            _, secret = await identity.create_api_key(
                session,
                ApiKeyCreate(name=name, role=role),  # type: ignore[arg-type]
            )
    finally:
        await database.dispose()
    return secret


def main() -> None:
    app()
