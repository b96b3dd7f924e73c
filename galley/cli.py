"""The `galley` command."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
import uvicorn

from galley import migrate as migrations
from galley.config import Settings, SettingsError, load_settings

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
    _migrated_settings()
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


def main() -> None:
    app()
