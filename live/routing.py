"""Websocket routes: one live socket per page."""

from __future__ import annotations

from django.urls import URLPattern, path

from live.consumers import LiveConsumer

websocket_urlpatterns: list[URLPattern] = [
    path("ws/live/", LiveConsumer.as_asgi(), name="live"),
]
