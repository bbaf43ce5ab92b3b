"""The documentation site: a strict build, an API reference holding every public name of both
packages, and a configuration reference holding every key the SDK knows, with the defaults the
code has."""

from __future__ import annotations

import ast
import importlib
import re
import zlib
from pathlib import Path
from typing import Any

import pytest

from splitio_async.config import Config
from splitio_async.config_keys import KNOWN
from splitio_async.hooks import hooks_from_config
from splitio_async.redis.settings import RedisSettings
from tests.conftest import REPO
from tests.docs.conftest import build_site, mkdocs_or_skip

# The public modules: the API reference must document every name of their __all__ (or, without
# one, every top-level class and function they define). splitio_async.lowlevel is not public.
PUBLIC_MODULES = (
    "splitio_async",
    "splitio_async.exceptions",
    "splitio_async.prefork",
    "splitio_async.testing",
    "splitio_async.openfeature",
    "splitio_async.hooks",
    "splitio_async.opentelemetry",
    "splitio_async.prometheus",
    "splitio_async.pytest_plugin",
    "splitio_sync_shim",
    "splitio_sync_shim.exceptions",
    "splitio_sync_shim.django",
)
NOT_PUBLIC = ("splitio_async.lowlevel",)


def inventory(site: Path, *, rendered_only: bool = False) -> dict[str, str]:
    """objects.inv (Sphinx's format, written by mkdocstrings): identifier -> page URL. Priority
    1 entries are rendered under that name; priority 2 ones are the canonical paths of aliases
    (``splitio_async.factory.SplitFactory`` for ``splitio_async.SplitFactory``)."""
    data = (site / "objects.inv").read_bytes()
    header_lines = 4
    body = zlib.decompress(data.split(b"\n", header_lines)[header_lines]).decode()
    entries = {}
    for line in body.splitlines():
        name, _kind, priority, uri, _display = line.split(" ", 4)
        if priority == "1" or not rendered_only:
            entries.setdefault(name, uri.replace("$", name))
    return entries


def public_names(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    exported = getattr(module, "__all__", None)
    if exported is not None:
        return list(exported)
    source = Path(module.__file__ or "").read_text()
    return [
        node.name for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and not node.name.startswith("_")
    ]


def test_every_public_name_is_in_the_reference(site: Path) -> None:
    documented = inventory(site, rendered_only=True)
    missing = [
        f"{module}.{name}" for module in PUBLIC_MODULES for name in public_names(module)
        if f"{module}.{name}" not in documented
    ]
    assert not missing, f"not in the API reference (docs/reference/): {missing}"
    assert all(module in documented for module in PUBLIC_MODULES)


def test_internal_modules_are_not_in_the_reference(site: Path) -> None:
    documented = inventory(site, rendered_only=True)
    assert not [name for name in documented if name.startswith(NOT_PUBLIC)]


def test_get_factory_async_has_its_reference_entry(site: Path) -> None:
    page = (site / "reference" / "splitio_async" / "index.html").read_text()
    assert 'id="splitio_async.get_factory_async"' in page
    assert 'id="splitio_sync_shim.get_factory"' in (
        site / "reference" / "splitio_sync_shim" / "index.html").read_text()


CONFIG_PAGE = REPO / "docs" / "configuration.md"
_ROW = re.compile(r"^\| `(?P<key>[A-Za-z]+)` \| (?P<default>[^|]*) \|")


def documented_keys() -> dict[str, str]:
    """Each key's row of the configuration reference -> its Default cell."""
    rows: dict[str, str] = {}
    for line in CONFIG_PAGE.read_text().splitlines():
        match = _ROW.match(line)
        if match:
            assert match["key"] not in rows, f"{match['key']} has two rows"
            rows[match["key"]] = match["default"].strip()
    return rows


def test_every_known_config_key_is_in_the_configuration_reference() -> None:
    rows = documented_keys()
    assert sorted(KNOWN - rows.keys()) == [], "add a row to docs/configuration.md"
    assert sorted(rows.keys() - KNOWN) == [], "documented, but the SDK does not know it"


def test_the_built_configuration_reference_shows_every_key(site: Path) -> None:
    page = (site / "configuration" / "index.html").read_text()
    assert [key for key in sorted(KNOWN) if f"<code>{key}</code>" not in page] == []


class _Limits:
    """The limits as ``Config`` builds them from a config dict."""

    @staticmethod
    def from_dict(raw: dict[str, Any]) -> Any:
        return Config.from_dict(raw).limits


class _Hooks:
    """The hook settings as the factory reads them from a config dict."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.hooks, self.budget_ms = hooks_from_config(raw)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> _Hooks:
        return cls(raw)


# key -> (settings object, attribute): the documented default must be the code's
CONFIG_DEFAULTS: dict[str, tuple[Any, str]] = {
    **{key: (Config, attr) for key, attr in {
        "connectionTimeout": "connection_timeout_ms", "streamingEnabled": "streaming_enabled",
        "featuresRefreshRate": "features_refresh_rate",
        "segmentsRefreshRate": "segments_refresh_rate",
        "metricsRefreshRate": "metrics_refresh_rate", "impressionsMode": "impressions_mode",
        "impressionsRefreshRate": "impressions_refresh_rate",
        "impressionsBulkSize": "impressions_bulk_size",
        "impressionsQueueSize": "impressions_queue_size", "eventsPushRate": "events_push_rate",
        "eventsBulkSize": "events_bulk_size", "eventsQueueSize": "events_queue_size",
        "labelsEnabled": "labels_enabled", "IPAddressesEnabled": "ip_addresses_enabled",
        "preforkedInitialization": "preforked_initialization",
        "localhostRefreshEnabled": "localhost_refresh_enabled",
        "destroyTimeout": "destroy_timeout", "syncRetryBackoffBase": "sync_retry_base",
        "syncRetryBackoffMax": "sync_retry_max",
        "streamingReconnectBackoffBase": "streaming_reconnect_base",
        "streamingKeepaliveTimeout": "streaming_keepalive",
        "specRecheckInterval": "spec_recheck_interval", "proxyUrl": "proxy_url",
        "machineName": "machine_name", "machineIp": "machine_ip",
        "impressionListener": "impression_listener", "bootstrapFile": "bootstrap_file",
        "cacheFile": "cache_file", "flagSetsFilter": "flag_sets_filter",
        "proxyFromEnvironment": "proxy_from_environment",
    }.items()},
    **{key: (_Limits, attr) for key, attr in {
        "httpMaxResponseBytes": "http_max_response_bytes",
        "httpRequestTimeout": "http_request_timeout",
        "streamingMaxLineBytes": "streaming_max_line_bytes",
        "streamingMaxEventBytes": "streaming_max_event_bytes",
        "streamingMaxPayloadBytes": "streaming_max_payload_bytes",
        "maxFileBytes": "max_file_bytes", "yamlMaxNodes": "yaml_max_nodes",
        "jsonMaxDepth": "json_max_depth",
    }.items()},
    "hooks": (_Hooks, "hooks"),
    "hookBudgetMs": (_Hooks, "budget_ms"),
    **{key: (RedisSettings, attr) for key, attr in {
        "redisHost": "host", "redisPort": "port", "redisDb": "db",
        "redisUsername": "username", "redisPassword": "password",
        "redisLocalCacheEnabled": "local_cache_enabled", "redisLocalCacheTTL": "local_cache_ttl",
        "redisRetryOnTimeout": "retry_on_timeout", "redisSsl": "ssl",
        "redisEncoding": "encoding", "redisEncodingErrors": "encoding_errors",
        "dataSampling": "data_sampling", "redisMaxConnections": "max_connections",
        "redisSocketTimeout": "socket_timeout", "redisUnixSocketPath": "unix_socket_path",
    }.items()},
}


@pytest.mark.parametrize("key", sorted(CONFIG_DEFAULTS))
def test_documented_defaults_are_the_codes(key: str) -> None:
    settings, attribute = CONFIG_DEFAULTS[key]
    actual = getattr(settings.from_dict({"redisHost": "localhost"} if settings is RedisSettings
                                        else {}), attribute)
    cell = documented_keys()[key]
    literal = re.match(r"`([^`]*)`", cell)
    assert literal, f"{key}: the Default cell {cell!r} starts with no `literal`"
    assert ast.literal_eval(literal[1]) == actual, f"{key}: documented {cell!r}, code {actual!r}"


BROKEN_PAGE = """\
# A page

[the status API](status.md#no-such-heading)
"""


def test_a_broken_link_fails_the_strict_build(tmp_path: Path) -> None:
    """The project's mkdocs.yml, with one page whose link points at a missing anchor."""
    mkdocs_or_skip()
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text(BROKEN_PAGE)
    (docs / "status.md").write_text("# Status\n")
    config = tmp_path / "mkdocs.yml"
    config.write_text(f"INHERIT: {REPO / 'mkdocs.yml'}\ndocs_dir: {docs}\n"
                      "nav: [index.md, status.md]\n")
    done = build_site(tmp_path / "site", config)
    assert done.returncode != 0
    assert "no-such-heading" in done.stderr + done.stdout
