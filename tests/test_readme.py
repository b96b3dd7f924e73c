"""The README walkthrough works as written, against a real server."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.live import running_server

pytestmark = pytest.mark.slow

README = Path(__file__).parent.parent / "README.md"


def walkthrough() -> str:
    text = README.read_text()
    block = text.split("<!-- walkthrough:start -->", 1)[1].split("<!-- walkthrough:end -->", 1)[0]
    match = re.search(r"```sh\n(.*?)```", block, re.DOTALL)
    assert match
    return match.group(1)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_the_readme_walkthrough_works_as_written(sqlite_template: Path, tmp_path: Path) -> None:
    database = tmp_path / "galley.db"
    shutil.copy(sqlite_template, database)
    with running_server(f"sqlite+aiosqlite:///{database}") as base:
        script = walkthrough().replace("http://127.0.0.1:8000", base)
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=README.parent,
            env=os.environ | {"GALLEY_DATABASE_URL": f"sqlite+aiosqlite:///{database}"},
        )

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.lower().count("idempotent-replayed: true") == 1
    assert '"status":"confirmed"' in out
    assert '"status":"awaiting_stock"' in out
    assert '"on_hand":4,"reserved":4,"available":0,"backordered":4' in out
    assert '"status":"completed"' in out
    assert out.rstrip().endswith('"current_status":"completed"}')
