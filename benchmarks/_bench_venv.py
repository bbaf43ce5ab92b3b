"""Create and fill the official SDK's own virtual environment on demand.

The official SDK must not be installed into the project venv: its top-level package `splitio` and
its pinned dependencies would leak into our tests.  So the benchmark keeps it in
benchmarks/.venv-official (git-ignored) and builds it the first time it is needed.  Extras are
added on demand too (`cpphash` for the C murmur hash, `asyncio` for `get_factory_async`, which needs
aiohttp and aiofiles, `redis` for Redis consumer mode, which needs redis-py < 7 — the official
SDK's own pin, independent of the redis-py our project venv uses), so each benchmark only pays for
what it uses.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

OFFICIAL_VERSION = "10.7.0"

_CHECK = (
    "import importlib.metadata as m, importlib.util as u;"
    "print(m.version('splitio_client'), bool(u.find_spec('mmh3cffi')),"
    " bool(u.find_spec('aiohttp') and u.find_spec('aiofiles')),"
    " bool(u.find_spec('redis')))"
)


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _installed(
    venv: Path, need_cffi: bool, need_asyncio: bool = False, need_redis: bool = False
) -> bool:
    if not _python(venv).exists():
        return False
    probe = subprocess.run(
        [_python(venv), "-c", _CHECK], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        return False
    version, has_cffi, has_asyncio, has_redis = probe.stdout.split()
    return (
        version == OFFICIAL_VERSION
        and (has_cffi == "True" or not need_cffi)
        and (has_asyncio == "True" or not need_asyncio)
        and (has_redis == "True" or not need_redis)
    )


def ensure_official(
    venv: Path, cpphash: bool = False, asyncio: bool = False, redis: bool = False
) -> Path:
    """Return the venv's python, creating the venv and installing splitio_client if needed.

    `cpphash` / `asyncio` / `redis` require those extras; a venv that lacks one gets it added in
    place (extras installed earlier stay: pip only adds)."""
    if _installed(venv, cpphash, asyncio, redis):
        return _python(venv)
    wanted = (("cpphash", cpphash), ("asyncio", asyncio), ("redis", redis))
    extras = [name for name, want in wanted if want]
    extra = f"[{','.join(extras)}]" if extras else ""
    requirement = f"splitio_client{extra}=={OFFICIAL_VERSION}"
    print(f"setting up {venv} with {requirement} (first run only) ...", flush=True)
    if not _python(venv).exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [
        str(_python(venv)),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
        requirement,
    ]
    done = subprocess.run(pip, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not _installed(venv, cpphash, asyncio, redis):
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
        raise RuntimeError(f"installing {requirement} into {venv} failed:\n{tail}")
    return _python(venv)
