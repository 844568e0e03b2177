"""Reading the environment, shared by the settings and the launcher (``config/serve.py``,
which must not load Django's settings before its children start)."""

from __future__ import annotations

from collections.abc import Mapping


def env_int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    """``env[name]`` as a whole number of at least ``minimum``; ``default`` when unset or
    blank. ValueError, naming the variable, for anything else."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value}")
    return value
