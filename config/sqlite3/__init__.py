"""The project's SQLite backend: Django's, plus the ``PRAGMA optimize`` SQLite recommends."""
