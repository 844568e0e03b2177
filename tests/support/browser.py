"""Debian's Chromium as the browser tests and docs/screenshots.py launch it (Playwright
cannot download browsers here). Plain standard library, importable outside pytest."""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
