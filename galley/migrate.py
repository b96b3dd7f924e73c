"""Schema migrations: apply them, and tell whether a database is behind."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from galley.config import Settings
from galley.db import create_engine, ensure_sqlite_dir


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", "galley:migrations")
    url = settings.database_url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    # Migrations that seal existing personal data need the data keys.
    config.attributes["settings"] = settings
    return config


def upgrade(settings: Settings) -> None:
    if settings.is_sqlite:
        ensure_sqlite_dir(settings.database_url)
    command.upgrade(alembic_config(settings), "head")


def head(settings: Settings) -> str | None:
    return ScriptDirectory.from_config(alembic_config(settings)).get_current_head()


async def current(settings: Settings) -> str | None:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_current)
    finally:
        await engine.dispose()


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()
