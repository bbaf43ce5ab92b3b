"""Find and run the code blocks of Markdown files (README.md and docs/): every block is code a
user may paste, so every block is executed, or at least compiled when it cannot run here.

A fenced block's language says how it is checked:

* ``python``: run in a fresh namespace, from the root of the checkout (where the pages say to run
  them). A block with top-level ``await`` / ``async with`` / ``async for`` is run inside an event
  loop, once on asyncio and once on trio. A block must leave no factory running.
* ``sh``: run with ``bash -e`` from the root of the checkout, with this interpreter's ``bin``
  first on ``PATH`` (so ``python`` is the test environment's).
* ``yaml``, ``json``, ``toml``, ``ini``: parsed.
* ``text``: program output or a diagram, not code; nothing to run.

A block without a language, or with another one, is an error: nothing slips through untested.

An HTML comment right before a block (invisible on GitHub and in the site) changes that:

* ``<!-- snippet: compile-only: REASON -->``: the block needs Split's cloud, a server that cannot
  run here or your own application; it is compiled (``python``) or syntax-checked (``bash -n``).
  The reason is required.
* ``<!-- snippet: continue -->``: the block continues the previous one of the same file (same
  namespace); the chain is one test, reported at the line of the block that failed.
* ``<!-- snippet: file=PATH -->``: the block shows (part of) the file ``PATH`` of the checkout; it
  must be a verbatim slice of it (the file itself is run by its own tests).
"""

from __future__ import annotations

import ast
import configparser
import contextlib
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

LANGUAGES = frozenset({"python", "sh", "yaml", "json", "toml", "ini", "text"})
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_DIRECTIVE = re.compile(r"^\s*<!--\s*snippet:\s*(?P<body>.*?)\s*-->\s*$")
_TOP_LEVEL_AWAIT = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
_CO_COROUTINE = 0x0080


class SnippetError(AssertionError):
    """A block failed; the message names the file and line of the block."""


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    compile_only: str | None = None  # the reason
    continues: bool = False
    shows_file: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class Chain:
    """Blocks run in one namespace: a block and the ``continue`` blocks that follow it."""

    blocks: list[Block] = field(default_factory=list)

    @property
    def first(self) -> Block:
        return self.blocks[0]

    @property
    def is_async(self) -> bool:
        return any(
            b.language == "python" and b.compile_only is None and b.shows_file is None
            and _is_async(b)
            for b in self.blocks
        )

    @property
    def test_id(self) -> str:
        return f"{self.first.path.name}:{self.first.line}"


def parse(path: Path, text: str | None = None) -> list[Block]:
    """Every fenced block of a Markdown file, with the directives that precede it."""
    lines = (path.read_text(encoding="utf-8") if text is None else text).splitlines()
    blocks: list[Block] = []
    directives: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        directive = _DIRECTIVE.match(line)
        if directive:
            directives.append(directive.group("body"))
            index += 1
            continue
        fence = _FENCE.match(line)
        if fence is None:
            if line.strip():
                directives = []  # a directive applies to the very next block only
            index += 1
            continue
        indent, marker = fence.group("indent"), fence.group("fence")
        info = fence.group("info").strip()
        start = index
        body: list[str] = []
        index += 1
        while index < len(lines):
            closing = lines[index].strip()
            if closing.startswith(marker[0] * len(marker)) and not closing.strip(marker[0]):
                break
            body.append(lines[index][len(indent):] if lines[index].startswith(indent) else
                        lines[index].lstrip())
            index += 1
        else:
            raise SnippetError(f"{path}:{start + 1}: code block never closed")
        index += 1
        language = info.split()[0].lstrip(".{") if info else ""
        block = Block(path, start + 1, language, "\n".join(body) + "\n")
        for body_text in directives:
            _apply(block, body_text)
        directives = []
        blocks.append(block)
    return blocks


def _apply(block: Block, directive: str) -> None:
    if directive.startswith("compile-only"):
        reason = directive.removeprefix("compile-only").lstrip(":").strip()
        if not reason:
            raise SnippetError(f"{block.where}: compile-only needs a reason")
        block.compile_only = reason
    elif directive == "continue":
        block.continues = True
    elif directive.startswith("file="):
        block.shows_file = directive.removeprefix("file=").strip()
    else:
        raise SnippetError(f"{block.where}: unknown snippet directive {directive!r}")


def chains(blocks: list[Block]) -> list[Chain]:
    """Group ``continue`` blocks with the block they continue."""
    result: list[Chain] = []
    for block in blocks:
        if block.continues:
            if not result or result[-1].first.path != block.path:
                raise SnippetError(f"{block.where}: 'continue' with no block before it")
            result[-1].blocks.append(block)
        else:
            result.append(Chain([block]))
    return result


def _compile(block: Block) -> Any:
    try:
        return compile(block.code, block.where, "exec", flags=_TOP_LEVEL_AWAIT, dont_inherit=True)
    except SyntaxError as error:
        raise SnippetError(f"{block.where}: does not compile: {error}") from None


def _is_async(block: Block) -> bool:
    return bool(_compile(block).co_flags & _CO_COROUTINE)


def check_static(block: Block, root: Path) -> None:
    """What is checked without running anything: languages, data formats, file excerpts."""
    if block.language not in LANGUAGES:
        raise SnippetError(
            f"{block.where}: code block language {block.language or '(none)'!r}: tag it with "
            f"one of {sorted(LANGUAGES)}"
        )
    if block.shows_file is not None:
        shown = root / block.shows_file
        if not shown.is_file():
            raise SnippetError(f"{block.where}: shows {block.shows_file}, which does not exist")
        if block.code.strip() not in shown.read_text(encoding="utf-8"):
            raise SnippetError(f"{block.where}: is not a verbatim excerpt of {block.shows_file}")
        return  # an excerpt need not compile alone; the file is run by its own tests
    try:
        _parse_data(block)
    except Exception as error:
        raise SnippetError(f"{block.where}: {block.language} does not parse: {error}") from None
    if block.language == "python":
        _compile(block)
    elif block.language == "sh":
        done = subprocess.run(["bash", "-n"], input=block.code, text=True, capture_output=True,
                              check=False)
        if done.returncode:
            raise SnippetError(f"{block.where}: bash -n: {done.stderr.strip()}")


def _parse_data(block: Block) -> None:
    if block.language == "yaml":
        yaml.safe_load(block.code)
    elif block.language == "json":
        json.loads(block.code)
    elif block.language == "toml":
        import tomllib  # noqa: PLC0415 - Python 3.11+

        tomllib.loads(block.code)
    elif block.language == "ini":
        configparser.ConfigParser(strict=False, interpolation=None).read_string(block.code)


def run_chain(chain: Chain, root: Path, backend: str | None) -> dict[str, Any]:
    """Check every block of the chain, then run those that run, from ``root``; returns the
    chain's namespace (the caller checks that nothing was left running)."""
    for block in chain.blocks:
        check_static(block, root)
    runnable = [
        b for b in chain.blocks
        if b.compile_only is None and b.shows_file is None and b.language in {"python", "sh"}
    ]
    namespace: dict[str, Any] = {"__name__": "__snippet__"}
    if not runnable:
        return namespace
    with _cwd(root):
        if chain.is_async:
            import anyio  # noqa: PLC0415

            async def run_all() -> None:
                for block in runnable:
                    await _run_block_async(block, namespace, root)

            anyio.run(run_all, backend=backend or "asyncio")
        else:
            for block in runnable:
                _run_block(block, namespace, root)
    return namespace


def _run_block(block: Block, namespace: dict[str, Any], root: Path) -> None:
    if block.language == "sh":
        _run_shell(block, root)
        return
    code = _compile(block)
    try:
        with _quiet():
            exec(code, namespace)  # running the documentation is the point
    except Exception as error:
        raise SnippetError(f"{block.where}: raised {error!r}") from error


async def _run_block_async(block: Block, namespace: dict[str, Any], root: Path) -> None:
    if block.language == "sh":
        _run_shell(block, root)
        return
    code = _compile(block)
    try:
        with _quiet():
            result = eval(code, namespace)  # running the documentation
            if code.co_flags & _CO_COROUTINE:
                await result
    except Exception as error:
        raise SnippetError(f"{block.where}: raised {error!r}") from error


def _run_shell(block: Block, root: Path) -> None:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(["bash", "-e", "-o", "pipefail"], input=block.code, text=True,
                          capture_output=True, cwd=root, env=env, timeout=120, check=False)
    if done.returncode:
        raise SnippetError(
            f"{block.where}: exit status {done.returncode}\n{done.stdout}\n{done.stderr}"
        )


@contextlib.contextmanager
def _cwd(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """What a block prints is not checked; keep it out of the test report."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield
