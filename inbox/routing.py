"""Websocket routes; the live consumer arrives with the live-updates work."""

from __future__ import annotations

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
