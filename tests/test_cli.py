from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from galley.cli import app
from tests.live import free_port

runner = CliRunner()


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["serve"],
        ["migrate"],
        ["demo"],
        ["worker"],
        ["keys", "rotate"],
        ["events", "dead-letters"],
        ["events", "retry"],
    ],
)
def test_every_command_explains_itself(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_serve_refuses_a_database_with_pending_migrations(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/new.db"
    result = runner.invoke(app, ["serve"], env={"GALLEY_DATABASE_URL": url})
    assert result.exit_code == 1
    assert "run `galley migrate`" in result.output


def test_serve_says_in_one_line_that_the_database_does_not_answer() -> None:
    port = free_port()
    url = f"postgresql+asyncpg://galley@127.0.0.1:{port}/galley"
    result = runner.invoke(app, ["serve"], env={"GALLEY_DATABASE_URL": url})
    assert result.exit_code == 1
    [line] = result.output.splitlines()
    assert line.startswith(
        f"galley: cannot use database galley on 127.0.0.1:{port} (postgresql+asyncpg, "
        "user galley): it does not answer (ConnectionRefusedError"
    ), line


def test_migrate_brings_a_new_database_to_the_latest_schema(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/sub/dir/new.db"
    result = runner.invoke(app, ["migrate"], env={"GALLEY_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    assert "database is at migration" in result.output
    assert (tmp_path / "sub" / "dir" / "new.db").exists()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GALLEY_LOG_FORMAT", "xml"),
        ("GALLEY_CURRENCY", "euro"),
        ("GALLEY_DATABASE_URL", "mysql://localhost/galley"),
        ("GALLEY_LOG_LEVEL", "loud"),
        ("GALLEY_TRUSTED_PROXIES", "10.0.0.0/33"),
        ("GALLEY_TRUSTED_PROXIES", "proxy.internal"),
        ("GALLEY_CORS_ORIGINS", "*"),
        ("GALLEY_CORS_ORIGINS", "https://shop.example.com/app"),
        ("GALLEY_BROKER_URL", "rabbitmq.internal:5672"),
        ("GALLEY_BROKER_URL", "amqp://guest:secret@rabbitmq.internal:port/"),
    ],
)
def test_a_bad_setting_stops_start_up_with_one_line_naming_it(name: str, value: str) -> None:
    result = runner.invoke(app, ["serve"], env={name: value})
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert name in lines[0]


def test_serve_refuses_a_certificate_without_its_key(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", "--ssl-certfile", str(tmp_path / "cert.pem")])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "--ssl-certfile and --ssl-keyfile go together" in lines[0]


def test_serve_refuses_tls_files_it_cannot_load(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("not a certificate")
    key.write_text("not a key")
    result = runner.invoke(app, ["serve", "--ssl-certfile", str(cert), "--ssl-keyfile", str(key)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "cannot serve HTTPS" in lines[0]


def test_demo_refuses_a_database_with_pending_migrations(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/new.db"
    result = runner.invoke(app, ["demo"], env={"GALLEY_DATABASE_URL": url})
    assert result.exit_code == 1
    assert "run `galley migrate`" in result.output
