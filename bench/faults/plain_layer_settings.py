"""Settings for the "before" figures of bench/faults: the project's settings with
channels-redis' own layer and pool as they were before live.redis_layer (a pool that only
grows, up to 1,000 connections; connections that may lose a cancellation)."""

from typing import Any

from config.settings import *  # noqa: F403
from config.settings import CHANNEL_LAYERS

_host: dict[str, Any] = CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]  # type: ignore[index]
CHANNEL_LAYERS["default"]["BACKEND"] = "channels_redis.core.RedisChannelLayer"
for _key in ("timeout", "idle_timeout", "min_idle"):
    _host.pop(_key, None)
_host["max_connections"] = 1000
