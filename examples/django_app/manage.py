"""A single-file Django project using the Split SDK through ``splitio_sync_shim.django``.

    python examples/django_app/manage.py runserver 127.0.0.1:8000
    curl 'http://127.0.0.1:8000/?key=alice'        # {"key": "alice", "flag": "new_checkout", ...}

Settings, the view and the URLconf all live in this module (``ROOT_URLCONF = __name__``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from django.conf import settings
from django.core.management import execute_from_command_line
from django.http import HttpRequest, JsonResponse
from django.urls import path

from splitio_sync_shim.django import get_client

FLAGS = Path(__file__).resolve().parent.parent / "flags.yaml"

if not settings.configured:
    settings.configure(
        DEBUG=True,
        SECRET_KEY="example-only-not-secret",
        ALLOWED_HOSTS=["127.0.0.1", "localhost", "testserver"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=[],
        MIDDLEWARE=[],
        SPLITIO={
            "apiKey": "localhost",
            "config": {"splitFile": str(FLAGS)},
            "timeout": 5,
        },
    )


def treatment(request: HttpRequest) -> JsonResponse:
    """The treatment of ``?flag=`` (default ``new_checkout``) for ``?key=``."""
    key = request.GET.get("key")
    if not key:
        return JsonResponse({"error": "pass ?key=<user key>"}, status=400)
    flag = request.GET.get("flag", "new_checkout")
    client = get_client()
    result, config = client.get_treatment_with_config(key, flag)
    client.track(key, "user", "page_view")
    return JsonResponse({"key": key, "flag": flag, "treatment": result, "config": config})


urlpatterns = [path("", treatment)]

if __name__ == "__main__":
    execute_from_command_line(sys.argv)
