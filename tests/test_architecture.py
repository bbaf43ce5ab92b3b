"""The layering rules of DESIGN.md and STYLE.md §2, checked on the source (AST) so they hold in
CI: the evaluation engine stays pure, network libraries stay at the edge, actors depend on ports,
the shim stays a facade, and no task is spawned unowned."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import splitio_async
import splitio_sync_shim
from tests.conftest import REPO

PACKAGE = REPO / "splitio_async"
SHIM = REPO / "splitio_sync_shim"
IO_AND_CONCURRENCY = ("anyio", "sniffio", "trio", "asyncio", "httpx", "httpx_sse", "redis")
PURE = [
    "models", "engine", "localhost", "storage/snapshot.py", "lifecycle.py", "errors.py",
    "config.py", "validation.py", "properties.py", "key.py", "manager.py",
    "runtime/intake.py", "core", "redis/settings.py", "redis/keys.py",
    "storage/consumer_view.py", "storage/reads.py", "redis/commands.py",
    "storage/segment_keys.py", "limits.py", "bounded_json.py",
    "inflate.py", "redaction.py", "_flag_spec.py", "runtime/push_status.py",
]
# what the pure modules may take from the actors' building blocks (both pure themselves)
PURE_RUNTIME = ("splitio_async.runtime.intake", "splitio_async.runtime.push_status")
NETWORK = ("httpx", "httpx_sse", "httpcore", "redis", "socket", "ssl")
# outside transport/, the Redis package's two edge modules (they build redis-py clients)
EDGE_MODULES = ("redis/resp.py", "redis/connection.py")
ACTORS = ("actors", "runtime")  # the actors and what they are built from
PORTS = ("splitio_async.transport.protocols", "splitio_async.transport.errors")
ABOVE_ACTORS = ("splitio_async.factory", "splitio_async.client", "splitio_async.manager",
                "splitio_async.testing", "splitio_async.lowlevel", "splitio_sync_shim")


# modules of splitio_async the shim may import besides the package's own public names
PUBLIC_MODULES = ("splitio_async.lowlevel", "splitio_async.exceptions", "splitio_async.prefork")


def _modules(root: Path, entry: str) -> list[Path]:
    path = root / entry
    return sorted(path.rglob("*.py")) if path.is_dir() else [path]


def _imports(path: Path, package: str) -> set[str]:
    """Absolute names of everything a module imports (relative imports resolved)."""
    tree = ast.parse(path.read_text())
    parts = path.relative_to(REPO).with_suffix("").parts
    module_package = parts[:-1]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module_package[: len(module_package) - node.level + 1]
                prefix = ".".join(base)
                module = f"{prefix}.{node.module}" if node.module else prefix
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_pure_layers_import_no_io_or_concurrency() -> None:
    """Models, engine, parsers, snapshot and the evaluation core never import anyio & co."""
    for entry in PURE:
        for path in _modules(PACKAGE, entry):
            for name in _imports(path, "splitio_async"):
                root = name.split(".")[0]
                assert root not in IO_AND_CONCURRENCY, f"{path} imports {name}"
                assert not name.startswith(("splitio_async.factory", "splitio_async.client",
                                            "splitio_async.transport")), f"{path}: {name}"
                assert not name.startswith("splitio_async.actors"), f"{path}: {name}"
                if name.startswith("splitio_async.runtime"):
                    assert name.startswith(PURE_RUNTIME), f"{path}: {name}"


def test_network_libraries_only_at_the_edge() -> None:
    """httpx, httpx-sse, redis-py and sockets are imported by ``transport/`` (and the Redis
    package's edge modules) only: everything else reaches the network through them."""
    for root, package in ((PACKAGE, "splitio_async"), (SHIM, "splitio_sync_shim")):
        for path in sorted(root.rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            if root is PACKAGE and (relative.startswith("transport/")
                                    or relative in EDGE_MODULES):
                continue
            for name in _imports(path, package):
                assert name.split(".")[0] not in NETWORK, f"{path} imports {name}"


def test_actors_depend_on_ports() -> None:
    """Actors (and their building blocks) take the transport through ``transport.protocols``
    (and its errors), never an HTTP, SSE or Redis implementation, and know nothing above them."""
    for entry in ACTORS:
        for path in _modules(PACKAGE, entry):
            for name in _imports(path, "splitio_async"):
                if name.startswith("splitio_async.transport."):
                    assert name.startswith(PORTS), f"{path} imports {name}"
                assert not name.startswith(ABOVE_ACTORS), f"{path} imports {name}"


def test_the_edge_knows_nothing_above_it() -> None:
    """``transport/`` turns bytes into models and back: it never imports an actor, the
    evaluation engine or the composition layer."""
    above = ("splitio_async.actors", "splitio_async.engine", *ABOVE_ACTORS)
    for path in _modules(PACKAGE, "transport"):
        for name in _imports(path, "splitio_async"):
            assert not name.startswith(above), f"{path} imports {name}"


def test_actors_take_time_from_their_clock() -> None:
    """Actors sleep, set deadlines and read the time through the ``Clock`` they are given, so
    a test drives them with a fake clock (``sleep_forever`` and CPU slicing are not time)."""
    real_time = re.compile(
        r"\b(time\.(time|monotonic)\(|anyio\.(sleep|current_time|move_on_after|fail_after)\("
        r"|(move_on_after|fail_after)\()"
    )
    for path in _modules(PACKAGE, "actors"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert not real_time.search(line), f"{path}:{number}: {line.strip()}"


def test_shim_only_uses_public_names_and_lowlevel() -> None:
    for path in _modules(SHIM, "."):
        for name in _imports(path, "splitio_sync_shim"):
            if name.startswith("splitio_async"):
                allowed = name == "splitio_async" or name.startswith(PUBLIC_MODULES) or (
                    name.count(".") == 1 and name.split(".")[1] in splitio_async.__all__
                )
                assert allowed, f"{path} reaches into {name}"


def test_results_and_steps_are_told_apart_in_one_place() -> None:
    """A core call's answer is a result or the steps of a read that needs I/O; only the
    ``Driver`` (``core/steps.py``: ``resolve`` and ``resolve_blocking``) tells them apart, so no
    facade, integration or mode repeats the test."""
    where = {
        path.relative_to(REPO).as_posix()
        for root in (PACKAGE, SHIM) for path in root.rglob("*.py")
        if "GeneratorType" in path.read_text() or "is_steps" in path.read_text()
    }
    assert where == {"splitio_async/core/steps.py"}


def test_the_shims_shared_methods_are_the_async_ones() -> None:
    """The blocking client's and manager's public methods are written once, in the async
    modules: ``scripts/unasync.py`` writes their blocking copy, which must be current."""
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "unasync.py"), "--check"],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr


# What a user may call on a factory: the official API plus ours (status, changes, delivery
# counts, last error, bootstrap source). The cores, the driver, the state, the events hub, the
# task and the fork transitions are for the shim and the integrations: ``lowlevel.internals``.
FACTORY_API = {
    "add_hook", "block_until_ready", "bootstrapped_from", "changes", "client", "delivery_counts",
    "destroy", "destroyed", "hooks", "last_error", "manager", "ready", "status",
}


def test_the_factorys_public_attributes_are_its_api() -> None:
    public = {name for name in dir(splitio_async.SplitFactory) if not name.startswith("_")}
    assert public == FACTORY_API
    shim = {name for name in dir(splitio_sync_shim.SyncSplitFactory) if not name.startswith("_")}
    assert shim == FACTORY_API - {"changes"} | {"async_factory", "resume", "subscribe",
                                                "waiting_for_fork"}


def test_no_unowned_tasks() -> None:
    """Only the documented host (``_host.py``) starts a task outside a task group."""
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        if path.name != "_host.py":
            assert "create_task(" not in text and "spawn_system_task" not in text, path
            assert "threading.Thread(" not in text, path


def test_public_names_are_exported() -> None:
    """Every name in ``__all__`` resolves, and the lazy loader knows exactly those names."""
    for module in (splitio_async, splitio_sync_shim):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"
        assert len(set(module.__all__)) == len(module.__all__)
        assert set(module.__all__) == {"__version__", *module._WHERE}
        assert set(module.__all__) <= set(dir(module))


# the testing kit and its pytest plugin; nothing else may know them
TESTING_KIT = ("testing.py", "pytest_plugin.py")


def test_no_production_module_knows_the_testing_kit() -> None:
    """Test data is a data source passed in the config: no production module imports the
    testing kit or compares an sdk key with ``"testing"``."""
    for path in [*PACKAGE.rglob("*.py"), *SHIM.rglob("*.py")]:
        if path.parent == PACKAGE and path.name in TESTING_KIT:
            continue
        package = "splitio_async" if path.is_relative_to(PACKAGE) else "splitio_sync_shim"
        assert not any(name.startswith("splitio_async.testing")
                       for name in _imports(path, package)), f"{path} imports the testing kit"
        tree = ast.parse(path.read_text())
        aliases = {  # module-level names for the literal, e.g. TESTING = "testing"
            target.id for node in tree.body if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant) and node.value.value == "testing"
            for target in node.targets if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                for operand in (node.left, *node.comparators):
                    literal = isinstance(operand, ast.Constant) and operand.value == "testing"
                    alias = isinstance(operand, ast.Name) and operand.id in aliases
                    assert not (literal or alias), f"{path}:{node.lineno} tests for 'testing'"


LIFECYCLE_STATES = {"NOT_INITIALIZED", "READY", "DESTROYED", "WAITING_FORK"}


def test_one_owner_of_the_lifecycle_and_one_fork_hook() -> None:
    """Only ``lifecycle.py`` writes a factory's status (each transition a method there), and
    only ``prefork.py`` registers an at-fork hook (``prefork.forks``, the one fork registry)."""
    for path in [*PACKAGE.rglob("*.py"), *SHIM.rglob("*.py")]:
        tree = ast.parse(path.read_text())
        if path != PACKAGE / "prefork.py":
            assert "register_at_fork" not in {
                node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
            }, f"{path} registers its own fork hook: use prefork.forks"
        if path == PACKAGE / "lifecycle.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                value = node.value
                named = value.id if isinstance(value, ast.Name) else (
                    value.attr if isinstance(value, ast.Attribute) else None)
                assert not (
                    any(isinstance(t, ast.Attribute) and t.attr == "status" for t in targets)
                    and named in LIFECYCLE_STATES
                ), f"{path}:{node.lineno} writes the lifecycle status"
