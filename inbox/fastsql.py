"""Raw SQL for the ingest hot path: reads and multi-row writes without the ORM's per-value work.

``bulk_create`` and ``values_list`` pass every value of every row through its field
(``get_db_prep_save`` on the way in, the converters on the way out); on ingest that was a
third of the time. Here each column gets one converter, chosen once per database from
Django's own adapters (``connection.ops``), and rows go out with ``executemany`` or one
multi-row ``INSERT``. The SQL is the same on SQLite and PostgreSQL:

- ``insert_returning``: ``INSERT INTO t (a, b) VALUES (%s, %s), (%s, %s) RETURNING ...``
- ``upsert``: ``INSERT INTO t (a, b) VALUES (%s, %s)
  ON CONFLICT (a) DO UPDATE SET b = excluded.b`` through ``executemany``
- ``select_in``: ``SELECT a, b FROM t WHERE a IN (%s, %s)``

What differs by vendor is only how values travel: SQLite keeps a UUID as 32 hex characters
and a datetime as naive UTC text (``ops.adapt_datetimefield_value``), PostgreSQL takes both
natively; JSON goes through ``ops.adapt_json_value`` and comes back as text on both.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import connection as default_connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import DateTimeField, Field, ForeignKey, JSONField, Model, UUIDField

Converter = Callable[[Any], Any] | None
ConnectionT = BaseDatabaseWrapper


def to_db(field: Field, connection: ConnectionT) -> Converter:
    """How a Python value of ``field`` is passed as a query parameter; None: as it is."""
    if isinstance(field, UUIDField):
        if connection.features.has_native_uuid_field:
            return None
        return lambda v: None if v is None else v.hex
    if isinstance(field, DateTimeField):
        if connection.vendor == "postgresql":
            return None  # psycopg adapts aware datetimes itself
        return connection.ops.adapt_datetimefield_value
    if isinstance(field, JSONField):
        adapt, encoder = connection.ops.adapt_json_value, field.encoder
        return lambda v: None if v is None else adapt(v, encoder)
    return None


def from_db(field: Field, connection: ConnectionT) -> Converter:
    """How a column's raw value becomes the field's Python value; None: it already is."""
    if isinstance(field, UUIDField):
        if connection.features.has_native_uuid_field:
            return None
        return lambda v: None if v is None else uuid.UUID(hex=v)
    if isinstance(field, DateTimeField):
        if connection.vendor == "postgresql":
            return None  # aware, in the connection's time zone (UTC)
        # SQLite: Django's "datetime" decltype converter has made it a naive UTC datetime.
        tz = connection.timezone

        def aware(v: Any) -> Any:
            if v is None:
                return None
            if not isinstance(v, datetime):
                v = datetime.fromisoformat(v)
            return v if v.tzinfo is not None else v.replace(tzinfo=tz)

        return aware
    if isinstance(field, JSONField):
        loads, decoder = json.loads, field.decoder
        if decoder is None:
            return lambda v: None if v is None else loads(v)
        return lambda v: None if v is None else loads(v, cls=decoder)
    return None


class Table:
    """A model's table with a fixed list of columns (by attname), e.g. ``instance_id``."""

    def __init__(self, model: type[Model], columns: Sequence[str]):
        by_attname = {f.attname: f for f in model._meta.concrete_fields}
        self.model = model
        self.name = model._meta.db_table
        self.columns = tuple(columns)
        self.db_columns: tuple[str, ...] = tuple(str(by_attname[c].column) for c in self.columns)
        # A foreign key's value travels as the field it points at (instance_id: a UUID).
        self.fields = tuple(_concrete(by_attname[c]) for c in self.columns)
        self._plans: dict[str, tuple[list[Converter], list[Converter]]] = {}

    def _plan(self, connection: ConnectionT) -> tuple[list[Converter], list[Converter]]:
        plan = self._plans.get(connection.alias)
        if plan is None:
            plan = (
                [to_db(f, connection) for f in self.fields],
                [from_db(f, connection) for f in self.fields],
            )
            self._plans[connection.alias] = plan
        return plan

    def encoder(
        self, connection: ConnectionT = default_connection
    ) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
        """A function turning a row of Python values (in column order) into parameters."""
        return _row_converter(self._plan(connection)[0])

    def decoder(
        self, connection: ConnectionT = default_connection
    ) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
        """A function turning a fetched row (in column order) into Python values."""
        return _row_converter(self._plan(connection)[1])

    def column_encoder(
        self, column: str, connection: ConnectionT = default_connection
    ) -> Callable[[Any], Any]:
        conv = self._plan(connection)[0][self.columns.index(column)]
        return conv or _identity


def _concrete(field: Field) -> Field:
    while isinstance(field, ForeignKey):  # and OneToOneField
        field = field.target_field
    return field


@functools.cache
def table_of(model: type[Model], *columns: str) -> Table:
    """One shared ``Table`` per model and column list (it caches its converters)."""
    return Table(model, columns)


def _identity(value: Any) -> Any:
    return value


def _row_converter(converters: list[Converter]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    if not any(converters):
        return tuple
    pairs = [(i, c) for i, c in enumerate(converters) if c is not None]

    def convert(row: Sequence[Any]) -> tuple[Any, ...]:
        out = list(row)
        for i, c in pairs:
            out[i] = c(out[i])
        return tuple(out)

    return convert


def _quote(connection: ConnectionT, names: Iterable[str]) -> str:
    return ", ".join(connection.ops.quote_name(n) for n in names)


def _chunks(rows: Sequence[Any], per_row: int, connection: ConnectionT) -> Iterable[Sequence[Any]]:
    limit = connection.features.max_query_params or 65535
    size = max(1, limit // max(1, per_row))
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def insert_returning(
    table: Table,
    rows: Sequence[Sequence[Any]],
    returning: Sequence[str],
    connection: ConnectionT = default_connection,
) -> list[tuple[Any, ...]]:
    """INSERT the rows (Python values, in ``table.columns`` order); return ``returning`` of each.

    The returned rows are decoded but in no promised order (SQLite does not promise one):
    return a unique column alongside the generated one to match them up.
    """
    if not rows:
        return []
    encode = table.encoder(connection)
    ret = table_of(table.model, *returning)
    decode = ret.decoder(connection)
    one = "(" + ", ".join(["%s"] * len(table.columns)) + ")"
    out: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        for chunk in _chunks(rows, len(table.columns), connection):
            sql = (
                f"INSERT INTO {connection.ops.quote_name(table.name)} "
                f"({_quote(connection, table.db_columns)}) VALUES "
                + ", ".join([one] * len(chunk))
                + f" RETURNING {_quote(connection, ret.db_columns)}"
            )
            params = [value for row in chunk for value in encode(row)]
            cursor.execute(sql, params)
            out.extend(decode(r) for r in cursor.fetchall())
    return out


def upsert(
    table: Table,
    rows: Sequence[Sequence[Any]],
    unique: Sequence[str],
    keep: Sequence[str] = (),
    connection: ConnectionT = default_connection,
) -> None:
    """Insert the rows, or overwrite their other columns where ``unique`` matches.

    Columns in ``keep`` are written on insert only and left as they are on update (e.g.
    ``HumanTask.version``, which people's actions own). Columns not in ``table.columns``
    are never written.
    """
    if not rows:
        return
    encode = table.encoder(connection)
    by_attname = dict(zip(table.columns, table.db_columns, strict=True))
    untouched = {by_attname[c] for c in (*unique, *keep)}
    conflict = [by_attname[c] for c in unique]
    quote = connection.ops.quote_name
    updates = ", ".join(
        f"{quote(c)} = excluded.{quote(c)}" for c in table.db_columns if c not in untouched
    )
    sql = (
        f"INSERT INTO {quote(table.name)} ({_quote(connection, table.db_columns)}) "
        f"VALUES ({', '.join(['%s'] * len(table.columns))}) "
        f"ON CONFLICT ({_quote(connection, conflict)}) DO UPDATE SET {updates}"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, [encode(row) for row in rows])


def select_in(
    table: Table,
    column: str,
    values: Iterable[Any],
    connection: ConnectionT = default_connection,
) -> list[tuple[Any, ...]]:
    """``SELECT table.columns FROM table WHERE column IN values``, decoded, in no order."""
    keys = list(values)
    if not keys:
        return []
    key = table_of(table.model, column)
    encode = key.column_encoder(column, connection)
    where = connection.ops.quote_name(key.db_columns[0])
    decode = table.decoder(connection)
    out: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        for chunk in _chunks(keys, 1, connection):
            sql = (
                f"SELECT {_quote(connection, table.db_columns)} "
                f"FROM {connection.ops.quote_name(table.name)} "
                f"WHERE {where} IN ({', '.join(['%s'] * len(chunk))})"
            )
            cursor.execute(sql, [encode(k) for k in chunk])
            out.extend(map(decode, cursor.fetchall()))
    return out


def count_in(
    table: Table,
    column: str,
    values: Iterable[Any],
    first: str,
    connection: ConnectionT = default_connection,
) -> dict[Any, tuple[int, Any]]:
    """``{value: (COUNT(*), MIN(first))}`` of the rows whose ``column`` is in ``values``."""
    keys = list(values)
    if not keys:
        return {}
    key = table_of(table.model, column)
    encode, decode = key.column_encoder(column, connection), key.decoder(connection)
    where = connection.ops.quote_name(key.db_columns[0])
    least = connection.ops.quote_name(table_of(table.model, first).db_columns[0])
    out: dict[Any, tuple[int, Any]] = {}
    with connection.cursor() as cursor:
        for chunk in _chunks(keys, 1, connection):
            cursor.execute(
                f"SELECT {where}, COUNT(*), MIN({least}) "
                f"FROM {connection.ops.quote_name(table.name)} "
                f"WHERE {where} IN ({', '.join(['%s'] * len(chunk))}) GROUP BY {where}",
                [encode(k) for k in chunk],
            )
            for value, count, smallest in cursor.fetchall():
                out[decode((value,))[0]] = (count, smallest)
    return out
