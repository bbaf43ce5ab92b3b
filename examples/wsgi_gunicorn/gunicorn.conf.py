"""gunicorn settings for ``app.py``: run ``gunicorn -c examples/wsgi_gunicorn/gunicorn.conf.py``.

Importing ``app`` here creates the factory once, in the master (``preforkedInitialization``: the
data is loaded, no thread is left running). Each worker resumes it after the fork; every process
destroys it on the way out, so a graceful stop (SIGTERM) delivers queued events and impressions.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from app import factory

wsgi_app = "app:application"


def post_fork(server: Any, worker: Any) -> None:
    factory.resume()
    factory.block_until_ready(5)


def worker_exit(server: Any, worker: Any) -> None:
    factory.destroy()  # flush this worker's events and impressions


def on_exit(server: Any) -> None:
    factory.destroy()  # the master's factory never ran: this only marks it destroyed
