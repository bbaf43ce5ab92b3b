"""Install the built wheel the way users do and check that it works, one fresh venv per case.

The sdist and wheel are built once and checked (twine check --strict; the wheel holds both
packages with py.typed and the LICENSE, nothing else). For each case (no extras and each extra
alone on the project's Python; no extras on the oldest and newest Python the project claims), in
a folder outside the checkout: import both packages, run examples/quickstart.py, run ``python -m
splitio_async --help``, run pytest on a test file that does not use the SDK (the pytest11 plugin
loads and must import nothing), and exercise the extra (or, without it, check that the mode that
needs it names the extra). Dependencies resolve through scripts/constraints.txt, so a fresh
machine installs what the project was tested with.

Usage: python scripts/check_install.py [--wheel PATH] [--case NAME ...] [--jobs N]
Exit status 1 if any case failed. Needs only the standard library.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "scripts" / "constraints.txt"
PROJECT_PYTHON = "3.11"
OLDEST, NEWEST = "3.10", "3.13"

# What each extra must make work, run with the case's python in a folder outside the checkout.
EXTRA_CHECKS = {
    "": """
        import splitio_async, splitio_sync_shim
        from splitio_sync_shim import get_factory
        try:
            get_factory("sdk-key", config={"redisHost": "127.0.0.1"})
        except ImportError as exc:
            assert "pip install 'splitio_async[redis]'" in str(exc), exc
        else:
            raise AssertionError("Redis mode without redis-py must say which extra to install")
        try:
            get_factory("sdk-key", config={"httpAuthenticateScheme": "KERBEROS_PROXY"},
                        sdk_api_base_url="http://127.0.0.1:9")
        except ImportError as exc:
            assert "pip install 'splitio_async[kerberos]'" in str(exc), exc
        else:
            raise AssertionError("Kerberos without its extra must say which extra to install")
        for module in ("splitio_async.openfeature", "splitio_sync_shim.django"):
            try:
                __import__(module)
            except ImportError as exc:
                assert "pip install 'splitio_async[" in str(exc), exc
            else:
                raise AssertionError(module + " imported without its extra")
    """,
    "redis": """
        from splitio_async.redis.connection import RedisConnection
        from splitio_sync_shim import get_factory
        factory = get_factory("sdk-key", config={"redisHost": "127.0.0.1", "redisPort": 9})
        assert factory is not None and not factory.ready
        factory.destroy()
    """,
    "trio": """
        from pathlib import Path
        from splitio_sync_shim import get_factory
        flags = Path(QUICKSTART).with_name("flags.yaml")
        factory = get_factory("localhost", config={"splitFile": str(flags)}, async_backend="trio")
        factory.block_until_ready(5)
        assert factory.client().get_treatment("alice", "new_checkout") == "on"
        factory.destroy()
    """,
    "openfeature": """
        from splitio_async.openfeature import SplitProvider
    """,
    "django": """
        import splitio_sync_shim.django
    """,
    "kerberos": """
        from splitio_async.transport.kerberos import load_spnego
        load_spnego("KERBEROS_PROXY")
    """,
    "opentelemetry": """
        from pathlib import Path
        from splitio_async.hooks import Hook
        from splitio_async.opentelemetry import instrument
        from splitio_sync_shim import get_factory
        flags = Path(QUICKSTART).with_name("flags.yaml")
        factory = get_factory("localhost", config={"splitFile": str(flags)})
        factory.block_until_ready(5)
        instrument(factory, spans=True)  # the API alone: no-op tracer and meter
        assert factory.client().get_treatment("alice", "new_checkout") == "on"
        assert factory.status().hooks["errors"] == 0
        factory.destroy()
    """,
    "prometheus": """
        from pathlib import Path
        from prometheus_client import CollectorRegistry, generate_latest
        from splitio_async.prometheus import StatusCollector
        from splitio_sync_shim import get_factory
        flags = Path(QUICKSTART).with_name("flags.yaml")
        factory = get_factory("localhost", config={"splitFile": str(flags)})
        factory.block_until_ready(5)
        registry = CollectorRegistry()
        registry.register(StatusCollector(factory))
        assert b"splitio_ready 1.0" in generate_latest(registry)
        factory.destroy()
    """,
}

NO_SDK_TEST = """
    import sys

    def test_arithmetic_still_works(pytestconfig):
        assert pytestconfig.pluginmanager.has_plugin("splitio_async")
        # anyio's own pytest plugin imports anyio; ours must import nothing of the SDK
        loaded = sorted(m for m in sys.modules if m.startswith(("splitio_", "httpx", "yaml")))
        assert loaded == ["splitio_async", "splitio_async._version",
                          "splitio_async.pytest_plugin"], loaded
"""


def find_python(version: str) -> str | None:
    """An interpreter of ``version``: on PATH, else under pyenv's root."""
    candidates = [shutil.which(f"python{version}") or ""]
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(glob.glob(f"{root}/versions/{version}.*/bin/python{version}"))
    for candidate in candidates:
        if not candidate:
            continue
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


def build_wheel(out: Path) -> Path:
    """Build the sdist and the wheel, check them with twine and check what the wheel holds."""
    env = {**os.environ, "PIP_CONSTRAINT": str(CONSTRAINTS)}
    result = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), str(ROOT)],
        env=env, capture_output=True, text=True, check=False,
    )
    if result.returncode:
        sys.exit(f"check_install: building failed:\n{result.stdout}{result.stderr}")
    (wheel,) = out.glob("splitio_async-*.whl")
    (sdist,) = out.glob("splitio_async-*.tar.gz")
    twine = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(wheel),
                            str(sdist)], capture_output=True, text=True, check=False)
    if twine.returncode:
        sys.exit(f"check_install: twine check failed:\n{twine.stdout}{twine.stderr}")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    tops = {name.split("/", 1)[0] for name in names if not name.startswith("splitio_async-")}
    problems = [f"unexpected top-level entries {sorted(tops)}"] if tops != {
        "splitio_async", "splitio_sync_shim"} else []
    problems += [f"no {package}/py.typed" for package in ("splitio_async", "splitio_sync_shim")
                 if f"{package}/py.typed" not in names]
    if not any(name.endswith(".dist-info/licenses/LICENSE") for name in names):
        problems.append("no LICENSE in the wheel")
    if problems:
        sys.exit(f"check_install: the wheel is wrong: {'; '.join(problems)}")
    print(f"{wheel.name} and {sdist.name}: twine check passed; {len(names)} files, py.typed "
          "in both packages, LICENSE, no tests or benchmarks", flush=True)
    return wheel


def run_case(name: str, python: str, extra: str, wheel: Path, work: Path) -> list[str]:
    """Every check of one case; returns what failed."""
    venv = work / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_CONSTRAINT"] = str(CONSTRAINTS)
    requirement = f"{wheel}[{extra}]" if extra else str(wheel)
    install = subprocess.run(
        [py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", requirement,
         "pytest"], env=env, capture_output=True, text=True, check=False,
    )
    if install.returncode:
        return [f"pip install {requirement}: {install.stderr.strip()[-2000:]}"]
    failures = []
    quickstart = ROOT / "examples" / "quickstart.py"
    (work / "test_no_sdk.py").write_text(textwrap.dedent(NO_SDK_TEST))
    checks = {
        "import": [py, "-c", "import splitio_async, splitio_sync_shim"],
        "quickstart": [py, str(quickstart)],
        "cli --help": [py, "-m", "splitio_async", "--help"],
        "pytest without the SDK": [py, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                   "-W", "error", "test_no_sdk.py"],
        f"extra {extra or 'none'}": [py, "-c", f"QUICKSTART = {str(quickstart)!r}\n"
                                     + textwrap.dedent(EXTRA_CHECKS[extra])],
    }
    for check, command in checks.items():
        result = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True,
                                timeout=120, check=False)
        if result.returncode:
            output = (result.stdout + result.stderr).strip()[-2000:]
            failures.append(f"{check}: exit {result.returncode}\n{output}")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="a built wheel (default: build one)")
    parser.add_argument("--case", action="append", help="run only these cases")
    parser.add_argument("--jobs", type=int, default=3, help="cases installed at once")
    args = parser.parse_args()
    cases = [(f"py{PROJECT_PYTHON}-{extra or 'no-extras'}", PROJECT_PYTHON, extra)
             for extra in EXTRA_CHECKS]
    cases += [(f"py{OLDEST}-no-extras", OLDEST, ""), (f"py{NEWEST}-no-extras", NEWEST, "")]
    if args.case:
        cases = [case for case in cases if case[0] in args.case]
    failed = []
    with tempfile.TemporaryDirectory(prefix="splitio-install-") as tmp:
        wheel = args.wheel or build_wheel(Path(tmp) / "dist")

        def one(name: str, version: str, extra: str) -> tuple[str, float, list[str]]:
            started = time.monotonic()
            python = find_python(version)
            if python is None:
                return name, 0.0, [f"no Python {version} on this machine"]
            work = Path(tmp) / name
            work.mkdir()
            failures = run_case(name, python, extra, wheel, work)
            return name, time.monotonic() - started, failures

        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            for done in concurrent.futures.as_completed([pool.submit(one, *c) for c in cases]):
                name, took, failures = done.result()
                if failures:
                    failed.append(name)
                    print(f"{name}: FAILED ({took:.0f} s)", flush=True)
                    for failure in failures:
                        print(textwrap.indent(failure, "    "), flush=True)
                else:
                    print(f"{name}: passed ({took:.0f} s)", flush=True)
    if failed:
        print(f"check_install: FAILED: {', '.join(failed)}")
        return 1
    print(f"check_install: all {len(cases)} cases passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
