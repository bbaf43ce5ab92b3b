"""Every code block of README.md and docs/ runs (or, where marked, compiles): see snippets.py.

``SPLITIO_SNIPPET_FILES`` (paths separated by ``os.pathsep``) replaces the set of files, which is
how ``test_a_broken_snippet_fails_the_suite`` proves that a broken block fails this module.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from splitio_async.lifecycle import live_factories
from tests.conftest import REPO
from tests.docs import snippets


def _files() -> list[Path]:
    override = os.environ.get("SPLITIO_SNIPPET_FILES")
    if override:
        return [Path(p) for p in override.split(os.pathsep)]
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def _items() -> list[Any]:
    items = []
    for path in _files():
        for chain in snippets.chains(snippets.parse(path)):
            backends = ["asyncio", "trio"] if chain.is_async else [None]
            for backend in backends:
                test_id = chain.test_id if backend is None else f"{chain.test_id}[{backend}]"
                items.append(pytest.param(chain, backend, id=test_id))
    return items


@pytest.mark.parametrize(("chain", "backend"), _items())
def test_snippet(chain: snippets.Chain, backend: str | None) -> None:
    namespace = snippets.run_chain(chain, REPO, backend)
    running, _ = live_factories.totals()
    if running:
        for value in list(namespace.values()):  # stop them, so no thread outlives the test
            destroy = getattr(value, "destroy", None)
            if type(value).__name__ == "SyncSplitFactory" and not value.destroyed:
                destroy()
        pytest.fail(f"{chain.first.where}: leaves {running} factory(ies) running: destroy them")


def test_every_markdown_file_has_blocks() -> None:
    """The collector sees the files (a path or parser mistake would silently test nothing)."""
    counts = {path.name: len(snippets.parse(path)) for path in _files()}
    assert counts["README.md"] >= 5
    assert sum(counts.values()) >= 45, counts


BROKEN = """\
# A page

```python
print("fine")
```

<!-- snippet: compile-only: needs Split's cloud -->
```python
factory = get_factory("SDK_KEY")
```

```python
from splitio_sync_shim import get_factory
factory = get_factory("localhost", config={"splitFile": "examples/no_such_file.yaml"})
```
"""


def test_a_broken_snippet_fails_the_suite(tmp_path: Path) -> None:
    """This module run on a page with one broken block: that block, and only it, fails."""
    page = tmp_path / "page.md"
    page.write_text(BROKEN)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"{REPO / 'tests' / 'docs' / 'test_snippets.py'}::test_snippet"],
        capture_output=True, text=True, cwd=REPO, timeout=120, check=False,
        env={**os.environ, "SPLITIO_SNIPPET_FILES": str(page)},
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 2 passed" in done.stdout, done.stdout
    assert f"{page}:12" in done.stdout  # the failing block, by file and line


@pytest.mark.parametrize(
    ("markdown", "message"),
    [
        ("```\nx = 1\n```\n", "language '(none)'"),
        ("```pyhton\nx = 1\n```\n", "language 'pyhton'"),
        ("```python\nx = (\n```\n", "does not compile"),
        ("```sh\nif then\n```\n", "bash -n"),
        ("```yaml\na: [\n```\n", "yaml does not parse"),
        ("```json\n{'a': 1}\n```\n", "json does not parse"),
        ("<!-- snippet: compile-only -->\n```python\nx = 1\n```\n", "needs a reason"),
        ("<!-- snippet: file=README.md -->\n```python\nx = 'no such README line'\n```\n",
         "verbatim"),
        ("```python\nraise RuntimeError('boom')\n```\n", "RuntimeError('boom')"),
        ("```python\nawait undefined_name()\n```\n", "NameError"),
        ("```sh\nfalse\n```\n", "exit status 1"),
    ],
)
def test_the_collector_rejects(tmp_path: Path, markdown: str, message: str) -> None:
    page = tmp_path / "page.md"
    page.write_text(markdown)
    with pytest.raises(snippets.SnippetError, match=re.escape(message)):
        for chain in snippets.chains(snippets.parse(page)):
            snippets.run_chain(chain, REPO, "asyncio" if chain.is_async else None)


def test_continue_shares_the_namespace_and_reports_the_failing_block(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```python\nx = 1\n```\n\n<!-- snippet: continue -->\n```python\n"
                    "assert x == 2\n```\n")
    [chain] = snippets.chains(snippets.parse(page))
    with pytest.raises(snippets.SnippetError, match=f"{page}:6: raised AssertionError"):
        snippets.run_chain(chain, REPO, None)
