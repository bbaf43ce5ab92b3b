"""The Django integration: a real request through Django's test client reaches a view that
evaluates with ``splitio_sync_shim.django.get_client()``, in localhost mode."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("django")

import django
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, JsonResponse
from django.test import Client as DjangoClient
from django.test import override_settings
from django.urls import path

from splitio_sync_shim.django import destroy_factory, get_client, get_factory
from tests.conftest import REPO

if not settings.configured:
    settings.configure(
        DEBUG=False, SECRET_KEY="test", ALLOWED_HOSTS=["testserver"], ROOT_URLCONF=__name__,
        INSTALLED_APPS=[], MIDDLEWARE=[],
    )
    django.setup()

FLAGS = """\
- new_checkout:
    treatment: "on"
    keys: ["alice"]
- new_checkout:
    treatment: "off"
"""


def treatment_view(request: HttpRequest) -> JsonResponse:
    key = request.GET["key"]
    client = get_client()
    result = client.get_treatment(key, "new_checkout")
    tracked = client.track(key, "user", "page_view")
    return JsonResponse({"treatment": result, "tracked": tracked})


urlpatterns = [path("flag", treatment_view)]


class Listener:
    def __init__(self) -> None:
        self.impressions: list[Any] = []

    def log_impression(self, data: dict[str, Any]) -> None:
        self.impressions.append(data["impression"])


@pytest.fixture(autouse=True)
def _fresh_factory() -> Iterator[None]:
    destroy_factory()
    yield
    destroy_factory()


@pytest.fixture
def flags(tmp_path: Path) -> str:
    path = tmp_path / "flags.yaml"
    path.write_text(FLAGS)
    return str(path)


def test_request_through_django_records_impression_and_event(flags: str) -> None:
    listener = Listener()
    splitio = {"apiKey": "localhost", "timeout": 5, "config": {
        "splitFile": flags, "impressionListener": listener, "impressionsMode": "DEBUG",
    }}
    with override_settings(SPLITIO=splitio):
        web = DjangoClient()
        alice = web.get("/flag", {"key": "alice"})
        carol = web.get("/flag", {"key": "carol"})
        factory = get_factory()
    assert alice.status_code == 200 and alice.json() == {"treatment": "on", "tracked": True}
    assert carol.json() == {"treatment": "off", "tracked": True}
    assert [(i.matching_key, i.feature_name, i.treatment) for i in listener.impressions] == [
        ("alice", "new_checkout", "on"), ("carol", "new_checkout", "off"),
    ]
    destroy_factory()
    assert factory.destroyed
    counts = factory.delivery_counts()
    assert counts["impressions_delivered"] == 2
    assert counts["events_delivered"] == 2


def test_one_factory_per_process_created_lazily_once(flags: str) -> None:
    with override_settings(SPLITIO={"apiKey": "localhost", "config": {"splitFile": flags}}):
        seen: list[object] = []
        threads = [threading.Thread(target=lambda: seen.append(get_factory())) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert len(seen) == 8 and len({id(f) for f in seen}) == 1
        first = seen[0]
        destroy_factory()
        assert get_factory() is not first  # a destroyed factory is replaced on next use


@pytest.mark.parametrize("splitio", [None, {}, {"config": {}}, {"apiKey": "x", "bogus": 1}])
def test_bad_settings_raise_improperly_configured(splitio: Any) -> None:
    with override_settings(SPLITIO=splitio), pytest.raises(ImproperlyConfigured):
        get_factory()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_example_runserver_answers_treatments() -> None:
    """``examples/django_app/manage.py runserver`` serves the flags of examples/flags.yaml."""
    import httpx  # noqa: PLC0415

    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "examples" / "django_app" / "manage.py"), "runserver",
         f"127.0.0.1:{port}", "--noreload"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/", params={"key": "alice"})
                break
            except httpx.TransportError:
                assert proc.poll() is None, "runserver exited"
                assert time.monotonic() < deadline, "runserver did not start"
                time.sleep(0.1)
        assert answer.status_code == 200
        assert json.loads(answer.text)["treatment"] == "on"
        carol = httpx.get(f"http://127.0.0.1:{port}/", params={"key": "carol"}).json()
        assert carol["treatment"] == "off"
    finally:
        proc.terminate()
        proc.wait(10)
