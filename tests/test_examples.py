"""The shipped examples run and print what their flags say (they are the README's demo)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO


def _run(name: str) -> str:
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / name)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    return done.stdout


def test_quickstart() -> None:
    out = _run("quickstart.py")
    assert 'alice: new_checkout = on (config {"button_color": "green"})' in out
    assert "carol: new_checkout = off (config None)" in out
    assert "unknown flag: control" in out
    assert "track: True" in out


@pytest.mark.parametrize("name", ["async_app.py", "trio_app.py"])
def test_async_examples(name: str) -> None:
    out = _run(name)
    assert "alice" in out and "on" in out


def test_health_wsgi_example() -> None:
    """The WSGI health endpoint answers 200 with the status as JSON over a real socket."""
    import json  # noqa: PLC0415

    out = _run("health_wsgi.py")
    lines = out.splitlines()
    assert lines[0] == "status: 200"
    status = json.loads(lines[1])
    assert status["ready"] is True and status["mode"] == "localhost"
