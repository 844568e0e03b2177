"""JSON values the database can store and every page can show, whatever door they came in by.

``loads`` parses JSON text without letting deep nesting blow the stack; ``problem`` walks
a parsed value (iteratively, so any depth is safe) and names the first place that is not
storable: text that is not valid Unicode (a lone surrogate such as ``"\\ud800"``, which
UTF-8 cannot encode, so a page or CSV export holding it fails), NUL characters (PostgreSQL
``text`` and ``jsonb`` cannot hold ``\\u0000``), numbers that are not finite (``NaN``,
``Infinity``, ``1e400``), and nesting deeper than ``MAX_DEPTH``. Keys are checked like
values. Ingest (``workflows.wire``) and people's actions (``workflows.actions``) both use it,
so SQLite and PostgreSQL refuse the same things.
"""

from __future__ import annotations

import json
import math
import threading
from typing import Any

# Containers within containers: an event object, its form_schema, a property's schema...
# 64 is far beyond any real payload and well inside every recursive reader's stack.
MAX_DEPTH = 64


def loads(text: str | bytes) -> Any:
    """``json.loads`` that raises ValueError (never RecursionError) for any bad text.

    Bytes must be UTF-8. NaN, Infinity and numbers too large for a float parse (as NaN or
    infinity) so that the walk below can refuse them with the field they are in.
    """
    # JSON text is UTF-8 (RFC 8259); json.loads would let encoded surrogates through.
    decoded = text.decode("utf-8") if isinstance(text, bytes) else text
    try:
        return json.loads(decoded)
    except RecursionError:
        pass
    # The parser's nesting counts against this thread's stack, already deep under a server's
    # middleware: parse again on a thread of its own, so a body nested a few hundred levels
    # still parses and ``problem`` names the field past MAX_DEPTH. Deeper than the
    # interpreter's recursion limit is refused here without a field.
    outcome: dict[str, Any] = {}

    def parse() -> None:
        try:
            outcome["value"] = json.loads(decoded)
        except RecursionError:
            outcome["deep"] = True
        except ValueError as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=parse, name="json-deep-parse")
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    if "value" not in outcome:
        raise ValueError(f"nested too deeply (the limit is {MAX_DEPTH} levels)")
    return outcome["value"]


def text_problem(text: str) -> str:
    """Why ``text`` cannot be stored, or ""."""
    if "\x00" in text:
        return "text must not contain NUL (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "text is not valid Unicode (a lone surrogate such as \\ud800)"
    return ""


def printable(text: str) -> str:
    """``text`` made safe to echo in an error message (surrogates and NUL escaped)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\u0000")


def surely_storable(value: Any, *, depth: int = 1) -> bool:
    """True when ``value`` is certainly storable JSON, decided in C for the common case; False
    when it may not be (then :func:`problem` walks it and names the place, or finds none).

    One ``json.dumps`` refuses non-finite numbers (``allow_nan=False``) and non-JSON types;
    NUL comes out escaped as ``\\u0000`` and a lone surrogate fails to encode as UTF-8;
    nesting past MAX_DEPTH needs more brackets than MAX_DEPTH in the text; a key that is not
    text does not read back the same. Each test errs only towards the walk (a bracket or an
    escaped ``\\u0000`` inside a string counts too).
    """
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, check_circular=False)
    except (ValueError, TypeError, RecursionError):
        return False
    if text.count("{") + text.count("[") + depth - 1 > MAX_DEPTH or "\\u0000" in text:
        return False
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return False
    # json.dumps writes keys 1, 1.5, True, None as strings and tuples as lists: what comes
    # back must be what went in (never the case for NaN, so no false alarm there: refused).
    return bool(json.loads(text) == value)


def problem(value: Any, *, path: str = "", depth: int = 1) -> tuple[str, str] | None:
    """The first (path, message) at which ``value`` is not storable JSON, or None.

    ``depth`` is the level ``value`` itself sits at when it is a container (an event's
    field is at level 2: the event object is level 1). Paths read ``a.b[3].c``.
    """
    stack: list[tuple[Any, str, int]] = [(value, path, depth)]
    while stack:
        node, where, level = stack.pop()
        if isinstance(node, str):
            message = text_problem(node)
            if message:
                return where, message
        elif node is None or isinstance(node, bool | int):
            continue
        elif isinstance(node, float):
            if not math.isfinite(node):
                return where, "expected a finite number (not NaN, Infinity or beyond 1.8e308)"
        elif isinstance(node, dict | list):
            if level > MAX_DEPTH:
                return where, f"nested too deeply (the limit is {MAX_DEPTH} levels)"
            if isinstance(node, dict):
                children = []
                for key, child in node.items():
                    if not isinstance(key, str):
                        return where, f"object keys must be strings, not {type(key).__name__}"
                    child_path = f"{where}.{printable(key)}" if where else printable(key)
                    message = text_problem(key)
                    if message:
                        return child_path, f"key: {message}"
                    children.append((child, child_path, level + 1))
            else:
                children = [(child, f"{where}[{i}]", level + 1) for i, child in enumerate(node)]
            stack.extend(reversed(children))  # depth first, in document order
        else:
            return where, f"not a JSON value: {type(node).__name__}"
    return None
