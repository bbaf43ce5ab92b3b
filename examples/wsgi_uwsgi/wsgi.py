"""The gunicorn example's WSGI app (``../wsgi_gunicorn/app.py``) under uWSGI (see ``uwsgi.ini``).

uWSGI imports this file once, in the master: ``app`` creates the factory there with
``preforkedInitialization`` (data loaded, no thread left running). Each forked worker resumes it
in ``@postfork``, and every process destroys it in ``uwsgi.atexit``, so a graceful stop delivers
what its workers queued. ``uwsgi``/``uwsgidecorators`` exist only inside a uWSGI process.
"""

from __future__ import annotations

import sys
from pathlib import Path

import uwsgi
from uwsgidecorators import postfork

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "wsgi_gunicorn"))

from app import application, factory


@postfork
def resume() -> None:
    factory.resume()
    factory.block_until_ready(5)


uwsgi.atexit = factory.destroy  # master: only marks it destroyed; worker: flushes, then stops

__all__ = ["application"]
