"""A plain install (no extras) imports and runs; a feature whose extra is missing says which one
to install; the pytest plugin imports nothing of the SDK. Each check hides the extra's library in
a fresh interpreter (``sys.modules[name] = None`` makes its import fail as if uninstalled)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

EXTRAS = {"redis": "redis", "trio": "trio", "openfeature": "openfeature", "django": "django",
          "opentelemetry": "opentelemetry", "prometheus_client": "prometheus"}


def _python(code: str, hide: str | None = None) -> subprocess.CompletedProcess[str]:
    prelude = f"import sys; sys.modules[{hide!r}] = None\n" if hide else ""
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True,
                          text=True, timeout=60, cwd=REPO, check=False)


@pytest.mark.parametrize("hidden", sorted(EXTRAS))
def test_the_packages_import_and_localhost_runs_without_each_extra(hidden: str) -> None:
    done = _python(
        "import splitio_async, splitio_sync_shim, splitio_async.testing, splitio_async.cli\n"
        "import splitio_async.prefork, splitio_async.pytest_plugin\n"
        "from splitio_sync_shim import get_factory\n"
        "f = get_factory('localhost', config={'splitFile': 'examples/flags.yaml'})\n"
        "f.block_until_ready(5)\n"
        "print(f.client().get_treatment('alice', 'new_checkout'))\n"
        "f.destroy()\n",
        hide=hidden,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["on"]


@pytest.mark.parametrize(
    ("hidden", "code"),
    [
        ("redis", "from splitio_sync_shim import get_factory\n"
                  "get_factory('key', config={'redisHost': '127.0.0.1'})"),
        ("redis", "import anyio\nfrom splitio_async import get_factory_async\n"
                  "anyio.run(get_factory_async, 'key', {'redisHost': '127.0.0.1'})"),
        ("trio", "from splitio_sync_shim import get_factory\n"
                 "get_factory('localhost', config={'splitFile': 'examples/flags.yaml'}, "
                 "async_backend='trio')"),
        ("trio", "from splitio_async.prefork import preload\n"
                 "preload('localhost', {'splitFile': 'examples/flags.yaml'}, backend='trio')"),
        ("openfeature", "import splitio_async.openfeature"),
        ("django", "import splitio_sync_shim.django"),
        ("opentelemetry", "import splitio_async.opentelemetry"),
        ("prometheus_client", "import splitio_async.prometheus"),
    ],
)
def test_a_feature_without_its_extra_names_the_extra(hidden: str, code: str) -> None:
    done = _python(code, hide=hidden)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("splitio_async.errors.MissingDependencyError: ")
    assert f"pip install 'splitio_async[{EXTRAS[hidden]}]'" in last


def test_the_command_line_redis_source_without_redis_py_is_a_usage_error() -> None:
    done = _python("import sys\nfrom splitio_async.cli import main\n"
                   "sys.exit(main(['dump', '--redis', 'redis://127.0.0.1:9/0']))", hide="redis")
    assert done.returncode == 2, done.stderr
    assert "pip install 'splitio_async[redis]'" in done.stderr


def test_the_pytest_plugin_imports_nothing_of_the_sdk() -> None:
    """Loading the plugin (every pytest run in an environment where the package is installed)
    must not import the SDK or its dependencies: nothing there may fail or warn."""
    done = _python(
        "import sys, splitio_async.pytest_plugin\n"
        "print(sorted(m for m in sys.modules if m.startswith(('splitio_', 'httpx', 'yaml', "
        "'anyio', 'mmh3'))))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(
        ["splitio_async", "splitio_async._version", "splitio_async.pytest_plugin"]
    )


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_localhost_without_destroy_ends_quietly(backend: str) -> None:
    """Localhost mode delivers nothing, so an async script that forgets ``destroy()`` has
    nothing to lose and logs nothing about undelivered records."""
    done = _python(
        "import logging, anyio\nlogging.basicConfig(level=logging.WARNING)\n"
        "from splitio_async import get_factory_async\n"
        "async def main():\n"
        "    f = await get_factory_async('localhost', {'splitFile': 'examples/flags.yaml'})\n"
        "    await f.block_until_ready(5)\n"
        "    c = f.client()\n"
        "    print(await c.get_treatment('alice', 'new_checkout'),\n"
        "          await c.track('alice', 'user', 'checkout', 1.0))\n"
        f"anyio.run(main, backend={backend!r})\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["on", "True"]
    assert done.stderr == ""
