"""WSGI entry point: Django's synchronous handler, which config/asgi.py serves inside uvicorn
(through a2wsgi) and any WSGI server can serve alone (``gunicorn config.wsgi``: bench/serving.py).

One change to Django's handler: a request body without ``Content-Length`` (an engine that
streams with ``Transfer-Encoding: chunked``) is read to its end when the server says the input
ends by itself (``wsgi.input_terminated``: gunicorn sets it, config/asgi.py sets it for
a2wsgi, whose input is the ASGI body messages up to the last). Django's own ``WSGIRequest``
reads such a body as empty, where its ASGI handler read all of it; size limits still hold
(``DATA_UPLOAD_MAX_MEMORY_SIZE`` for forms, ``INGEST_MAX_BODY_BYTES`` in the API's view).
"""

from __future__ import annotations

import os
from typing import Any

import django
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


class TerminatedInputRequest(WSGIRequest):
    def __init__(self, environ: dict[str, Any]) -> None:
        super().__init__(environ)
        if not environ.get("CONTENT_LENGTH") and environ.get("wsgi.input_terminated"):
            self._stream = environ["wsgi.input"]


class Handler(WSGIHandler):
    request_class = TerminatedInputRequest


django.setup(set_prefix=False)
application = Handler()
