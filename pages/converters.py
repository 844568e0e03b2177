"""A URL converter for names an engine sends (people, groups): any non-empty string.

Such a name may hold anything: ``/``, ``%``, ``?``, ``#``, spaces, a backslash, Unicode,
or be ``.`` or ``..``. ``to_url`` escapes what would change the path's shape (``%`` and
``/``, and a name that is a dot segment); ``reverse`` then percent-encodes the result as
for any other argument, so those characters travel encoded twice. No browser, proxy or
server turns the link into another path (``%252F`` is not a slash, ``%252E%252E`` is not a
dot segment), the server decodes the path once, and ``to_python`` decodes the rest.
Ordinary names (letters, digits, ``.-_@``) keep their plain URLs.

A name no person or group can have (one holding NUL, which PostgreSQL cannot compare, or
not valid Unicode) does not match: the URL is a 404, as for any unknown name.
"""

from __future__ import annotations

from urllib.parse import unquote

from workflows.jsonvalues import text_problem

_ESCAPES = str.maketrans({"%": "%25", "/": "%2F"})


class AnyNameConverter:
    regex = "[^/]+"

    def to_python(self, value: str) -> str:
        name = unquote(value)
        problem = text_problem(name)
        if problem:
            raise ValueError(problem)  # the resolver's "no match": a 404
        return name

    def to_url(self, value: str) -> str:
        text = str(value)
        if text in (".", ".."):
            return text.replace(".", "%2E")
        return text.translate(_ESCAPES)
