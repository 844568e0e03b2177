"""The ingest fast path refuses, clearly, a database vendor it was not written for."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from workflows import fastsql


def test_an_unknown_vendor_is_refused_with_the_supported_ones_named() -> None:
    mysql = SimpleNamespace(vendor="mysql", alias="default")
    with pytest.raises(ImproperlyConfigured, match=r"mysql.*sqlite and postgresql"):
        fastsql.check_vendor(mysql)  # type: ignore[arg-type]


def test_the_configured_database_is_supported() -> None:
    fastsql.check_vendor(connection)  # start-up runs this too (WorkflowsConfig.ready)
