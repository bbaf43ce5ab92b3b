"""``python -m splitio_async``: evaluate, explain and dump flags from a file, from Split's API or
from the Split Synchronizer's Redis cache.

The command starts a factory (localhost mode for ``--file``, standalone polling mode for
``--sdk-key``), waits until it is ready, takes its immutable snapshot and closes it; for
``--redis`` it reads the cache once (every flag and rule-based segment, and the segments they
reference) into a snapshot of the same kind, with the SDK's key layout. Evaluating,
explaining and dumping then run on that snapshot with the SDK's own evaluator, so no impression
is recorded or sent. User errors give one line on stderr and a non-zero exit code, never a
traceback: 2 for bad usage (unknown flag, malformed ``--attr``), 1 for a source that cannot be
read (a bad file, an unreachable server).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

import anyio

from ._optional import require
from ._threads import to_worker_thread
from ._version import __version__
from .core.steps import drive_sync
from .engine.evaluator import Evaluator
from .engine.explain import explain
from .errors import MissingDependencyError, SplitError, TimeoutException
from .factory import open_factory
from .lowlevel import internals
from .redis.commands import RedisReader
from .redis.keys import RedisKeys
from .storage.consumer_view import read_snapshot
from .storage.snapshot import Snapshot

USAGE_ERROR = 2
SOURCE_ERROR = 1
MAX_KEY_LENGTH = 250

_EPILOG = """\
sources:
  --file PATH       localhost mode: a YAML (.yaml/.yml), JSON (splitChanges, with --segments
                    DIR holding <segment>.json files) or legacy "name treatment" file
  --sdk-key KEY     standalone mode: polls Split's API (or a Split Proxy with --sdk-url ...),
                    streaming off
  --redis URL       consumer mode: the Split Synchronizer's cache, e.g. redis://127.0.0.1:6379/0
                    (with --redis-prefix P when the Synchronizer uses a key prefix)

examples:
  python -m splitio_async evaluate new_checkout --key alice --file examples/flags.yaml
  python -m splitio_async explain new_checkout --key alice --attr plan=premium --attr age=30 \\
      --file flags.json --segments segments/
  python -m splitio_async dump --sdk-key $SPLIT_SDK_KEY --json
  python -m splitio_async evaluate new_checkout --key alice --redis redis://127.0.0.1:6379/0
"""


class CliError(Exception):
    """A user error: printed as one line, exits with ``code``."""

    def __init__(self, message: str, code: int = SOURCE_ERROR) -> None:
        super().__init__(message)
        self.code = code


def _source_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("source (one of --file, --sdk-key, --redis)")
    choice = group.add_mutually_exclusive_group(required=True)
    choice.add_argument("--file", metavar="PATH", help="localhost mode: a flags file")
    choice.add_argument("--sdk-key", metavar="KEY", help="standalone mode: a server-side SDK key")
    choice.add_argument("--redis", metavar="URL",
                        help="consumer mode: the Synchronizer's Redis (redis:// or rediss://)")
    group.add_argument("--redis-prefix", metavar="PREFIX",
                       help="the key prefix the Synchronizer uses (its redisPrefix)")
    group.add_argument("--segments", metavar="DIR",
                       help="localhost JSON: the directory of <segment>.json files")
    group.add_argument("--sdk-url", metavar="URL", help="SDK API base URL (Split Proxy, tests)")
    group.add_argument("--events-url", metavar="URL", help="events API base URL")
    group.add_argument("--telemetry-url", metavar="URL", help="telemetry API base URL")
    group.add_argument("--auth-url", metavar="URL", help="auth API base URL")
    group.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                       help="how long to wait for the data (default 10)")
    parent.add_argument("--json", action="store_true", help="print JSON")
    parent.add_argument("-v", "--verbose", action="store_true", help="log the SDK's activity")
    return parent


def _evaluation_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("flag", help="the feature flag name")
    parent.add_argument("--key", required=True, help="the matching key")
    parent.add_argument("--bucketing-key", metavar="BK", help="the bucketing key")
    parent.add_argument(
        "--attr", action="append", default=[], metavar="NAME=VALUE",
        help="an attribute (repeatable); VALUE is read as JSON when it parses (30, true, "
             '["a","b"]), else as a string',
    )
    parent.add_argument("--attributes", metavar="JSON", help="attributes as a JSON object")
    return parent


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m splitio_async",
        description="Evaluate, explain and inspect Split feature flags with splitio_async.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"splitio_async {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    source, evaluation = _source_options(), _evaluation_options()
    for name, text in (
        ("evaluate", "print the treatment, config and label of a flag for a key"),
        ("explain", "show which condition matched, each matcher's result and the buckets"),
    ):
        commands.add_parser(name, parents=[evaluation, source], help=text, description=text,
                            epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    text = "list the flags, segments and change numbers the SDK holds"
    commands.add_parser("dump", parents=[source], help=text, description=text, epilog=_EPILOG,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    return parser


# ---------------------------------------------------------------------------- input


def parse_attributes(pairs: Sequence[str], document: str | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if document is not None:
        try:
            loaded = json.loads(document)
        except ValueError as exc:
            raise CliError(f"--attributes is not valid JSON: {exc}", USAGE_ERROR) from None
        if not isinstance(loaded, dict):
            raise CliError("--attributes must be a JSON object", USAGE_ERROR)
        attributes.update(loaded)
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name.strip():
            raise CliError(f"malformed --attr {pair!r}: expected NAME=VALUE", USAGE_ERROR)
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        attributes[name.strip()] = value
    return attributes


def _check_url(option: str, url: str | None) -> None:
    if url is not None and not url.startswith(("http://", "https://")):
        raise CliError(f"{option} must be an http:// or https:// URL, not {url!r}", USAGE_ERROR)


def _check_key(option: str, key: str | None) -> None:
    if key is None:
        return
    if not key.strip():
        raise CliError(f"{option} must not be empty", USAGE_ERROR)
    if len(key) > MAX_KEY_LENGTH:
        raise CliError(f"{option} is longer than {MAX_KEY_LENGTH} characters", USAGE_ERROR)


# ---------------------------------------------------------------------------- data


async def _load(args: argparse.Namespace) -> Snapshot:
    """Start a factory on the chosen source, wait until it is ready and return its snapshot."""
    if args.redis is not None:
        return await to_worker_thread(_redis_snapshot, args.redis, args.redis_prefix,
                                              args.timeout)
    config: dict[str, Any] = {"destroyTimeout": 1, "impressionsMode": "none"}
    urls: dict[str, str | None] = {}
    if args.file is not None:
        sdk_key = "localhost"
        config["splitFile"] = args.file
        if args.segments is not None:
            config["segmentDirectory"] = args.segments
    else:
        sdk_key = args.sdk_key
        config["streamingEnabled"] = False
        urls = {"sdk_api_base_url": args.sdk_url, "events_api_base_url": args.events_url,
                "telemetry_api_base_url": args.telemetry_url, "auth_api_base_url": args.auth_url}
    async with open_factory(sdk_key, config, **urls) as factory:
        try:
            await factory.block_until_ready(args.timeout)
        except TimeoutException:
            where = args.sdk_url or "Split's API"
            detail = f": {factory.last_error}" if factory.last_error else \
                " (is the server reachable and the SDK key right?)"
            raise CliError(
                f"timed out after {args.timeout:g} s waiting for flags and segments from "
                f"{where}{detail}"
            ) from None
        return internals(factory).state.snapshot


def _redis_snapshot(url: str, prefix: str | None, timeout: float) -> Snapshot:
    """Everything the cache holds for evaluation, read once with the blocking client."""
    try:
        redis = require("redis", "--redis")
    except MissingDependencyError as exc:
        raise CliError(str(exc), USAGE_ERROR) from None
    from .redis.connection import BlockingRedis  # noqa: PLC0415 - needs redis-py

    try:
        client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=timeout,
                                      socket_connect_timeout=timeout)
    except ValueError as exc:
        raise CliError(f"--redis: {exc}", USAGE_ERROR) from None
    try:
        with client:
            reader = RedisReader(RedisKeys(prefix), _event_loop_only,
                                 BlockingRedis(client).execute)
            snapshot = drive_sync(read_snapshot(), reader.read_blocking)
    except redis.RedisError as exc:
        raise CliError(f"cannot read Redis at {url}: {exc}") from None
    return snapshot


async def _event_loop_only(batch: Any) -> Any:
    raise AssertionError("the command line reads Redis from a worker thread")


def _unknown_flag(flag: str, snapshot: Snapshot) -> CliError:
    known = sorted(snapshot.flags)
    shown = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
    return CliError(f"unknown flag {flag!r}; known flags: {shown or '(none)'}", USAGE_ERROR)


def _evaluate(args: argparse.Namespace, snapshot: Snapshot, out: TextIO) -> None:
    attributes = parse_attributes(args.attr, args.attributes)
    flag = args.flag.strip()
    result = Evaluator().evaluate(args.key, args.bucketing_key, flag, attributes or None,
                                  snapshot)
    if not result.found:
        raise _unknown_flag(flag, snapshot)
    if args.json:
        json.dump({"flag": flag, "key": args.key, "bucketing_key": args.bucketing_key,
                   "treatment": result.treatment, "config": result.config, "label": result.label,
                   "change_number": result.change_number}, out)
        out.write("\n")
    else:
        out.write(f"treatment: {result.treatment}\nconfig: {result.config}\n"
                  f"label: {result.label}\n")


def _explain(args: argparse.Namespace, snapshot: Snapshot, out: TextIO) -> None:
    attributes = parse_attributes(args.attr, args.attributes)
    flag = args.flag.strip()
    explanation = explain(Evaluator(), snapshot, flag, args.key, args.bucketing_key,
                          attributes or None)
    if not explanation.found:
        raise _unknown_flag(flag, snapshot)
    if args.json:
        json.dump(explanation.to_dict(), out)
        out.write("\n")
    else:
        out.write("\n".join(explanation.lines()) + "\n")


def describe_snapshot(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "change_numbers": {
            "flags": snapshot.flags_change_number,
            "rule_based_segments": snapshot.rule_based_segments_change_number,
            "segments": dict(sorted(snapshot.segment_change_numbers.items())),
        },
        "flags": [
            {"name": split.name, "traffic_type": split.traffic_type, "killed": split.killed,
             "default_treatment": split.default_treatment, "treatments": split.treatments,
             "change_number": split.change_number, "sets": sorted(split.sets)}
            for split in sorted(snapshot.flags.values(), key=lambda s: s.name)
        ],
        "rule_based_segments": [
            {"name": rbs.name, "change_number": rbs.change_number}
            for rbs in sorted(snapshot.rule_based_segments.values(), key=lambda r: r.name)
        ],
        "segments": [
            {"name": name, "members": len(members),
             "change_number": snapshot.segment_change_numbers.get(name, -1)}
            for name, members in sorted(snapshot.segments.items())
        ],
    }


def _dump(args: argparse.Namespace, snapshot: Snapshot, out: TextIO) -> None:
    data = describe_snapshot(snapshot)
    if args.json:
        json.dump(data, out)
        out.write("\n")
        return
    numbers = data["change_numbers"]
    lines = [f"flags: {len(data['flags'])} (change number {numbers['flags']})"]
    for flag in data["flags"]:
        lines.append(
            f"  {flag['name']}: {'KILLED ' if flag['killed'] else ''}treatments "
            f"{', '.join(flag['treatments']) or '-'}; default {flag['default_treatment']}; "
            f"change number {flag['change_number']}; sets {', '.join(flag['sets']) or '-'}"
        )
    lines.append(f"rule-based segments: {len(data['rule_based_segments'])} "
                 f"(change number {numbers['rule_based_segments']})")
    lines.extend(f"  {r['name']}: change number {r['change_number']}"
                 for r in data["rule_based_segments"])
    lines.append(f"segments: {len(data['segments'])}")
    lines.extend(f"  {s['name']}: {s['members']} members, change number {s['change_number']}"
                 for s in data["segments"])
    out.write("\n".join(lines) + "\n")


_COMMANDS = {"evaluate": _evaluate, "explain": _explain, "dump": _dump}


@contextmanager
def _logging_to(stream: TextIO, verbose: bool) -> Iterator[None]:
    """The SDK's log lines on stderr for the duration of the command (warnings and up unless
    ``--verbose``), removed afterwards so an in-process caller's logging is left as it was."""
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG if verbose else logging.WARNING)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    loggers = [logging.getLogger("splitio"), logging.getLogger("splitio_async")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        if verbose:
            logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors (already printed)
        return exc.code if isinstance(exc.code, int) else USAGE_ERROR
    out, err = sys.stdout, sys.stderr
    try:
        for option in ("sdk_url", "events_url", "telemetry_url", "auth_url"):
            _check_url("--" + option.replace("_", "-"), getattr(args, option))
        _check_key("--key", getattr(args, "key", None))
        _check_key("--bucketing-key", getattr(args, "bucketing_key", None))
        _check_key("--sdk-key", args.sdk_key)
        if getattr(args, "attr", None) is not None:  # fail before any I/O
            parse_attributes(args.attr, args.attributes)
        if args.segments is not None and args.file is None:
            raise CliError("--segments only goes with --file", USAGE_ERROR)
        if args.redis_prefix is not None and args.redis is None:
            raise CliError("--redis-prefix only goes with --redis", USAGE_ERROR)
        with _logging_to(err, args.verbose):
            snapshot = anyio.run(_load, args)
        _COMMANDS[args.command](args, snapshot, out)
    except CliError as exc:
        err.write(f"error: {exc}\n")
        return exc.code
    except SplitError as exc:  # LocalhostFileError: the file is missing or malformed
        err.write(f"error: {exc}\n")
        return SOURCE_ERROR
    except KeyboardInterrupt:
        return 130
    return 0
