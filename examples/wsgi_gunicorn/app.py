"""A tiny WSGI app over the blocking shim, for gunicorn (see ``gunicorn.conf.py``).

``GET /flag?key=K[&name=F]`` answers the treatment of flag ``F`` (default ``$SPLIT_FLAG`` or
``new_checkout``) for key ``K`` as plain text; ``GET /track?key=K[&event=E]`` tracks event ``E``
(default ``page_view``, traffic type ``user``) and answers ``True``/``False``. Every answer
names the worker process in an ``X-Worker-Pid`` header.

The factory is created once, at import, with ``preforkedInitialization``: gunicorn's master
imports this module through the config file, loads the data, and each forked worker resumes it in
``post_fork``. Configuration comes from the environment:

- ``SPLIT_SDK_KEY`` (default ``localhost``) and ``SPLIT_FILE`` (localhost mode; default the
  repository's ``examples/flags.yaml``);
- ``SPLIT_SDK_URL``, ``SPLIT_EVENTS_URL``, ``SPLIT_AUTH_URL``, ``SPLIT_STREAMING_URL``,
  ``SPLIT_TELEMETRY_URL``: endpoint overrides (unset = the Split cloud);
- ``SPLIT_CONFIG_JSON``: optional extra SDK config keys as a JSON object.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from splitio_sync_shim import SyncSplitFactory, get_factory

StartResponse = Callable[[str, list[tuple[str, str]]], Any]

_URL_VARIABLES = {
    "sdk_api_base_url": "SPLIT_SDK_URL",
    "events_api_base_url": "SPLIT_EVENTS_URL",
    "auth_api_base_url": "SPLIT_AUTH_URL",
    "streaming_api_base_url": "SPLIT_STREAMING_URL",
    "telemetry_api_base_url": "SPLIT_TELEMETRY_URL",
}
DEFAULT_FLAG = os.environ.get("SPLIT_FLAG", "new_checkout")


def create_factory() -> SyncSplitFactory:
    default_file = Path(__file__).resolve().parent.parent / "flags.yaml"
    config: dict[str, Any] = {
        "preforkedInitialization": True,
        "splitFile": os.environ.get("SPLIT_FILE", str(default_file)),
        **json.loads(os.environ.get("SPLIT_CONFIG_JSON") or "{}"),
    }
    urls = {kw: os.environ[var] for kw, var in _URL_VARIABLES.items() if os.environ.get(var)}
    created = get_factory(os.environ.get("SPLIT_SDK_KEY", "localhost"), config=config, **urls)
    if created is None:
        raise RuntimeError("splitio: the factory could not be created (see the log)")
    return created


factory = create_factory()
client = factory.client()


def _text(start_response: StartResponse, status: str, body: str) -> list[bytes]:
    data = body.encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                            ("Content-Length", str(len(data))),
                            ("X-Worker-Pid", str(os.getpid()))])
    return [data]


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    query = {name: values[0] for name, values in parse_qs(environ.get("QUERY_STRING", "")).items()}
    key = query.get("key")
    path = environ.get("PATH_INFO", "/")
    if path not in ("/flag", "/track"):
        return _text(start_response, "404 Not Found", "not found\n")
    if not key:
        return _text(start_response, "400 Bad Request", "missing ?key=\n")
    if path == "/flag":
        return _text(start_response, "200 OK",
                     client.get_treatment(key, query.get("name", DEFAULT_FLAG)))
    tracked = client.track(key, "user", query.get("event", "page_view"))
    return _text(start_response, "200 OK", str(tracked))
