"""Fixtures of the documentation's tests: the built site, and no blocking-call detector.

The site is built once per test session with ``mkdocs build --strict`` into a temporary folder,
or taken from ``SPLITIO_DOCS_SITE`` when ``./scripts/docs`` (CI) has just built it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.fixture(autouse=True)
def _blockbuster() -> Iterator[None]:
    """Replaces tests/conftest.py's detector: the documentation's code runs as a user's process
    would (a preforked master reads localhost files inline, on purpose, in its temporary loop)."""
    yield


def mkdocs_or_skip() -> None:
    """The docs tools need Python 3.11+ (Material for MkDocs); there they must be installed."""
    if sys.version_info < (3, 11):
        pytest.skip("the docs tools (the docs extra) need Python 3.11+")
    import mkdocs  # noqa: F401, PLC0415 - a missing docs extra fails here, loudly


def build_site(
    destination: Path, config: Path = REPO / "mkdocs.yml"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
         "--site-dir", str(destination)],
        capture_output=True, text=True, cwd=REPO, timeout=300, check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built site's folder (strict build: any warning fails every test that uses it)."""
    mkdocs_or_skip()
    given = os.environ.get("SPLITIO_DOCS_SITE")
    if given:
        path = Path(given)
        assert (path / "index.html").is_file(), f"SPLITIO_DOCS_SITE={given} holds no built site"
        return path
    path = tmp_path_factory.mktemp("docs") / "site"
    done = build_site(path)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    return path
