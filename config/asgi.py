"""ASGI entry point (``make serve``, ``make serve-prod``): HTTP through Django's synchronous
WSGI handler, websockets through Channels, in one uvicorn process.

HTTP goes to ``config.wsgi``'s handler through a2wsgi, which runs each request whole in one
thread of a pool of ``WEB_THREADS``. Django's own ASGI handler ran the same request as ~30
hops between the event loop and threads (every sync-only middleware, then the view) and a new
thread, hence a new database connection, per request; bench/serving.py measures both
(bench/README.md). The pool's threads keep their connections (CONN_MAX_AGE), opened and
closed by the WSGI handler's request_started / request_finished as under any WSGI server.

The server's event loop is recorded on every call (``live.broadcast.use_server_loop``): a
broadcast made in a request's thread is sent on it, where the consumers live.
"""

from __future__ import annotations

import asyncio
from typing import Any

from a2wsgi import WSGIMiddleware
from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from django.conf import settings

# Loads Django (and the app registry) before anything imports models.
from config.wsgi import application as wsgi_application
from live import broadcast
from live.origin import SameOriginValidator
from live.routing import websocket_urlpatterns


def terminated_input(environ: dict[str, Any], start_response: Any) -> Any:
    """a2wsgi's input ends with the request's last body message: say so (config/wsgi.py)."""
    environ["wsgi.input_terminated"] = True
    return wsgi_application(environ, start_response)


http_application = WSGIMiddleware(terminated_input, workers=settings.WEB_THREADS)  # type: ignore[arg-type]

router = ProtocolTypeRouter(
    {
        "http": http_application,
        # The site's own origin only (scheme, host and port), and the trusted ones.
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    broadcast.use_server_loop(asyncio.get_running_loop())
    await router(scope, receive, send)
