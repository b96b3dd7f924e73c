"""What `galley` says as it starts: the database it uses (never its password), the names
of settings it does not know, and a database it cannot use, each in one line."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import URL, make_url
from typer.testing import CliRunner

from galley.cli import app
from tests.live import free_port
from tests.services import POSTGRES_URL, blocking, fresh_postgres_database, require

runner = CliRunner()
PASSWORD = "hunter2-secret"


@pytest.fixture
def postgres() -> URL:
    """The PostgreSQL server of the tests, with a password in its URL, which the server
    (trusting local connections) does not ask for and nothing may show."""
    import asyncpg

    async def ping() -> None:
        await (await asyncpg.connect(POSTGRES_URL, timeout=5)).close()

    try:
        blocking(ping)
    except (OSError, asyncpg.PostgresError) as exc:
        require("PostgreSQL", f"{POSTGRES_URL}: {exc}")
    return make_url(POSTGRES_URL).set(password=PASSWORD)


@pytest.fixture
def postgres_database(postgres: URL) -> Iterator[URL]:
    with fresh_postgres_database() as url:
        yield make_url(url).set(drivername="postgresql", password=PASSWORD)


def _env(url: URL, **more: str) -> dict[str, str]:
    return {"GALLEY_DATABASE_URL": url.render_as_string(hide_password=False), **more}


def test_migrate_says_which_sqlite_file_it_migrates(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    result = runner.invoke(app, ["migrate"], env={"GALLEY_DATABASE_URL": f"sqlite:///{path}"})
    assert result.exit_code == 0, result.output
    assert f"galley: migrating database {path} (sqlite+aiosqlite)" in result.stdout


@pytest.mark.postgres
def test_migrate_and_serve_say_which_database_they_use_never_its_password(
    postgres_database: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres_database
    named = f"{url.database} on {url.host}:{url.port} (postgresql+asyncpg, user {url.username})"
    migrated = runner.invoke(app, ["migrate"], env=_env(url))
    assert migrated.exit_code == 0, migrated.output
    assert f"galley: migrating database {named}\n" in migrated.stdout
    apps: list[str] = []
    monkeypatch.setattr("galley.cli.uvicorn.run", lambda app, **_: apps.append(app))
    served = runner.invoke(app, ["serve"], env=_env(url))
    assert served.exit_code == 0, served.output
    assert apps == ["galley.app:served_app"]  # memory settled once the app is built
    assert served.stdout == f"galley: serving database {named}\n"
    assert PASSWORD not in migrated.output + served.output


def _missing_database(server: URL) -> tuple[URL, str]:
    name = f"galley_missing_{uuid.uuid4().hex[:8]}"
    return server.set(database=name), f'database "{name}" does not exist'


def _missing_role(server: URL) -> tuple[URL, str]:
    role = f"nobody_{uuid.uuid4().hex[:8]}"
    return server.set(username=role), f'role "{role}" does not exist'


def _nobody_listening(server: URL) -> tuple[URL, str]:
    return server.set(port=free_port()), "it does not answer (ConnectionRefusedError"


@pytest.mark.postgres
@pytest.mark.parametrize(
    "command", [["migrate"], ["serve"], ["worker"], ["demo"], ["events", "dead-letters"]]
)
@pytest.mark.parametrize("wrong", [_missing_database, _missing_role, _nobody_listening])
def test_a_database_that_cannot_be_used_is_one_line_naming_it_and_why(
    postgres: URL, command: list[str], wrong: object
) -> None:
    url, cause = wrong(postgres)  # type: ignore[operator]
    result = runner.invoke(app, command, env=_env(url))
    # An exit of the command's own, not an error that escaped it.
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), result.exception
    [line] = result.stderr.splitlines()
    assert line.startswith(
        f"galley: cannot use database {url.database} on {url.host}:{url.port} "
        f"(postgresql+asyncpg, user {url.username}): "
    ), line
    assert cause in line
    assert PASSWORD not in result.output


@pytest.mark.parametrize("command", [["migrate"], ["serve"], ["worker"]])
def test_a_setting_name_with_a_typo_is_warned_of_with_the_name_meant(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("GALLEY_LOG_LEVLE=DEBUG\n")
    env = {
        "GALLEY_DATABASE_URL": f"sqlite:///{tmp_path}/shop.db",
        "GALLEY_DATABSE_URL": "postgresql://db.internal/shop",
        "GALLEY_LOG_FORMAT": "json",
    }
    result = runner.invoke(app, command, env=env)
    logged = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    warned = {
        (line["setting"], line["source"], line["did_you_mean"])
        for line in logged
        if line["event"] == "settings.unknown" and line["level"] == "warning"
    }
    assert {
        ("GALLEY_DATABSE_URL", "environment", "GALLEY_DATABASE_URL"),
        ("GALLEY_LOG_LEVLE", ".env", "GALLEY_LOG_LEVEL"),
    } <= warned


def test_a_server_process_keeps_what_start_up_allocated_out_of_every_collection(
    tmp_path: Path,
) -> None:
    """`served_app`, which `galley serve` builds each process's app with: a full collection
    walking start-up's objects paused every request of an API process for 100 to 330 ms."""
    import os
    import subprocess
    import sys

    from tests.auth import TEST_DATA_KEYS, TEST_JWT_KEYS

    code = (
        "import gc; from galley.app import served_app; served_app(); "
        "print(gc.get_freeze_count(), *gc.get_threshold())"
    )
    env = os.environ | {
        "GALLEY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'galley.db'}",
        "GALLEY_JWT_KEYS": TEST_JWT_KEYS,
        "GALLEY_DATA_KEYS": TEST_DATA_KEYS,
    }
    ran = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    frozen, *threshold = map(int, ran.stdout.split())
    assert frozen > 50_000  # the modules, mappers and schemas of a built app
    assert threshold == [10_000, 50, 100]
