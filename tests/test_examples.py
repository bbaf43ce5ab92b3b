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
    # the health figures: per kind, and the stream's state (localhost: no stream)
    assert status["queued"] == {"impressions": 0, "events": 0}
    assert status["post_failures"] == {"impressions": 0, "events": 0}
    assert status["last_delivery"] == {"impressions": None, "events": None}
    assert status["streaming"]["enabled"] is False


def test_prometheus_example() -> None:
    """The Prometheus endpoint answers the figures in the text format over a real socket."""
    out = _run("metrics_prometheus.py")
    assert 'splitio_ready{service="checkout"} 1.0' in out
    assert 'splitio_records_waiting{kind="impressions",service="checkout"} 1.0' in out
    assert "# TYPE splitio_posts_failed_total counter" in out
