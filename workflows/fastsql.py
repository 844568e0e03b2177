"""Raw SQL for the ingest hot path: reads and multi-row writes without the ORM's per-value work.

``bulk_create`` and ``values_list`` pass every value of every row through its field
(``get_db_prep_save`` on the way in, the converters on the way out); on ingest that was a
third of the time. Here each column gets one converter, chosen once per database
connection from Django's own rules, and rows go out with ``executemany`` or one multi-row
``INSERT``. The SQL is the same on SQLite and PostgreSQL:

- ``insert_returning``: ``INSERT INTO t (a, b) VALUES (%s, %s), (%s, %s) RETURNING ...``
- ``upsert``: ``INSERT INTO t (a, b) VALUES (%s, %s)
  ON CONFLICT (a) DO UPDATE SET b = excluded.b``, through ``executemany``
- ``select_in``: ``SELECT a, b FROM t WHERE a IN (%s, %s)``
- ``count_in``: ``SELECT a, COUNT(*), MIN(b) FROM t WHERE a IN (%s, %s) GROUP BY a``

What differs by vendor is only how values travel: SQLite keeps a UUID as 32 hex characters
and a datetime as naive UTC text (as ``ops.adapt_datetimefield_value`` writes it),
PostgreSQL takes both natively; JSON goes through ``ops.adapt_json_value`` and comes back
as text on both. ``tests/core/test_fastsql.py`` checks on both databases that what is written
here reads back through the ORM unchanged, and the other way round.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import DateTimeField, Field, ForeignKey, JSONField, Model, UUIDField

Converter = Callable[[Any], Any] | None
Row = tuple[Any, ...]

# The databases whose value travel the converters below were written and tested for.
SUPPORTED_VENDORS = ("sqlite", "postgresql")


def check_vendor(connection: BaseDatabaseWrapper) -> None:
    """Refuse, at start-up, a database this module was not written for: its converters
    would otherwise fall through to another vendor's rules and store wrong values."""
    if connection.vendor not in SUPPORTED_VENDORS:
        raise ImproperlyConfigured(
            f"The database {connection.alias!r} is {connection.vendor}; the dashboard's ingest "
            f"path (workflows.fastsql) supports {' and '.join(SUPPORTED_VENDORS)} only."
        )


@functools.lru_cache(maxsize=65536)
def _uuid_from_hex(value: str) -> uuid.UUID:
    return uuid.UUID(hex=value)


def to_db(field: Field, connection: BaseDatabaseWrapper) -> Converter:
    """How a Python value of ``field`` is passed as a query parameter; None: as it is."""
    if isinstance(field, UUIDField):
        if connection.features.has_native_uuid_field:
            return None
        return lambda v: None if v is None else v.hex
    if isinstance(field, DateTimeField):
        if connection.vendor == "postgresql":
            return None  # psycopg adapts aware datetimes itself
        if connection.vendor != "sqlite" or not settings.USE_TZ:
            return connection.ops.adapt_datetimefield_value
        tz = connection.timezone

        def naive_text(v: Any) -> Any:
            # SQLite's adapt_datetimefield_value, minus its per-call look-ups.
            if v is None:
                return None
            if v.utcoffset() is not None:
                v = v.astimezone(tz).replace(tzinfo=None)
            return str(v)

        return naive_text
    if isinstance(field, JSONField):
        adapt, encoder = connection.ops.adapt_json_value, field.encoder
        return lambda v: None if v is None else adapt(v, encoder)
    return None


def from_db(field: Field, connection: BaseDatabaseWrapper) -> Converter:
    """How a column's raw value becomes the field's Python value; None: it already is."""
    if isinstance(field, UUIDField):
        if connection.features.has_native_uuid_field:
            return None
        return lambda v: None if v is None else _uuid_from_hex(v)
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


def _concrete(field: Field) -> Field:
    while isinstance(field, ForeignKey):  # and OneToOneField
        field = field.target_field
    return field


class _Plan:
    """A table's converters and SQL text for one database connection."""

    def __init__(self, table: Table, connection: BaseDatabaseWrapper):
        check_vendor(connection)
        self.encode = _row_converter([to_db(f, connection) for f in table.fields])
        self.decode = _row_converter([from_db(f, connection) for f in table.fields])
        self.quote = connection.ops.quote_name
        self.name = self.quote(table.name)
        self.columns = ", ".join(self.quote(c) for c in table.db_columns)
        self.max_params = connection.features.max_query_params or 65535
        self.sql: dict[Any, str] = {}


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
        self._plans: dict[str, _Plan] = {}

    def plan(self, connection: BaseDatabaseWrapper) -> _Plan:
        plan = self._plans.get(connection.alias)
        if plan is None:
            plan = self._plans[connection.alias] = _Plan(self, connection)
        return plan

    def encoder(self, using: str = DEFAULT_DB_ALIAS) -> Callable[[Sequence[Any]], Row]:
        """A function turning a row of Python values (in column order) into parameters."""
        return self.plan(connections[using]).encode

    def decoder(self, using: str = DEFAULT_DB_ALIAS) -> Callable[[Sequence[Any]], Row]:
        """A function turning a fetched row (in column order) into Python values."""
        return self.plan(connections[using]).decode


@functools.cache
def table_of(model: type[Model], *columns: str) -> Table:
    """One shared ``Table`` per model and column list (it caches its converters and SQL)."""
    return Table(model, columns)


def _row_converter(converters: list[Converter]) -> Callable[[Sequence[Any]], Row]:
    if not any(converters):
        return tuple
    pairs = [(i, c) for i, c in enumerate(converters) if c is not None]
    if len(converters) == 1:
        (only,) = converters
        assert only is not None
        return lambda row: (only(row[0]),)

    def convert(row: Sequence[Any]) -> Row:
        out = list(row)
        for i, c in pairs:
            out[i] = c(out[i])
        return tuple(out)

    return convert


def _chunks(items: Sequence[Any], per_item: int, plan: _Plan) -> Iterable[Sequence[Any]]:
    size = max(1, plan.max_params // max(1, per_item))
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _key(table: Table, column: str, connection: BaseDatabaseWrapper) -> tuple[_Plan, str]:
    """The plan of ``column`` alone (for its converter) and its quoted name."""
    plan = table_of(table.model, column).plan(connection)
    return plan, plan.columns


def insert_returning(
    table: Table,
    rows: Sequence[Sequence[Any]],
    returning: Sequence[str],
    using: str = DEFAULT_DB_ALIAS,
) -> list[Row]:
    """INSERT the rows (Python values, in ``table.columns`` order); return ``returning`` of each.

    The returned rows are decoded but in no promised order (SQLite does not promise one):
    return a unique column alongside the generated one to match them up.
    """
    if not rows:
        return []
    connection = connections[using]
    plan = table.plan(connection)
    ret = table_of(table.model, *returning).plan(connection)
    encode, decode = plan.encode, ret.decode
    out: list[Row] = []
    with connection.cursor() as cursor:
        for chunk in _chunks(rows, len(table.columns), plan):
            sql = plan.sql.get(("insert", ret.columns, len(chunk)))
            if sql is None:
                one = "(" + ", ".join(["%s"] * len(table.columns)) + ")"
                sql = plan.sql[("insert", ret.columns, len(chunk))] = (
                    f"INSERT INTO {plan.name} ({plan.columns}) VALUES "
                    + ", ".join([one] * len(chunk))
                    + f" RETURNING {ret.columns}"
                )
            params = [value for row in chunk for value in encode(row)]
            cursor.execute(sql, params)
            out.extend(map(decode, cursor.fetchall()))
    return out


def upsert(
    table: Table,
    rows: Sequence[Sequence[Any]],
    unique: Sequence[str],
    keep: Sequence[str] = (),
    using: str = DEFAULT_DB_ALIAS,
) -> None:
    """Insert the rows, or overwrite their other columns where ``unique`` matches.

    Columns in ``keep`` are written on insert only and left as they are on update (e.g.
    ``HumanTask.version``, which people's actions own). Columns not in ``table.columns``
    are never written.
    """
    if not rows:
        return
    connection = connections[using]
    plan = table.plan(connection)
    sql = plan.sql.get(("upsert", tuple(unique), tuple(keep)))
    if sql is None:
        by_attname = dict(zip(table.columns, table.db_columns, strict=True))
        untouched = {by_attname[c] for c in (*unique, *keep)}
        quote = plan.quote
        updates = ", ".join(
            f"{quote(c)} = excluded.{quote(c)}" for c in table.db_columns if c not in untouched
        )
        conflict = ", ".join(quote(by_attname[c]) for c in unique)
        sql = plan.sql[("upsert", tuple(unique), tuple(keep))] = (
            f"INSERT INTO {plan.name} ({plan.columns}) "
            f"VALUES ({', '.join(['%s'] * len(table.columns))}) "
            f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
        )
    with connection.cursor() as cursor:
        cursor.executemany(sql, list(map(plan.encode, rows)))


def select_in(
    table: Table,
    column: str,
    values: Iterable[Any],
    using: str = DEFAULT_DB_ALIAS,
) -> list[Row]:
    """``SELECT table.columns FROM table WHERE column IN values``, decoded, in no order."""
    keys = list(values)
    if not keys:
        return []
    connection = connections[using]
    plan = table.plan(connection)
    key, where = _key(table, column, connection)
    encode, decode = key.encode, plan.decode
    out: list[Row] = []
    with connection.cursor() as cursor:
        for chunk in _chunks(keys, 1, plan):
            sql = plan.sql.get(("select", where, len(chunk)))
            if sql is None:
                sql = plan.sql[("select", where, len(chunk))] = (
                    f"SELECT {plan.columns} FROM {plan.name} "
                    f"WHERE {where} IN ({', '.join(['%s'] * len(chunk))})"
                )
            cursor.execute(sql, [encode((k,))[0] for k in chunk])
            out.extend(map(decode, cursor.fetchall()))
    return out


def count_in(
    table: Table,
    column: str,
    values: Iterable[Any],
    first: str,
    using: str = DEFAULT_DB_ALIAS,
) -> dict[Any, tuple[int, Any]]:
    """``{value: (COUNT(*), MIN(first))}`` of the rows whose ``column`` is in ``values``."""
    keys = list(values)
    if not keys:
        return {}
    connection = connections[using]
    key, where = _key(table, column, connection)
    least = table_of(table.model, first).plan(connection).columns
    out: dict[Any, tuple[int, Any]] = {}
    with connection.cursor() as cursor:
        for chunk in _chunks(keys, 1, key):
            sql = key.sql.get(("count", least, len(chunk)))
            if sql is None:
                sql = key.sql[("count", least, len(chunk))] = (
                    f"SELECT {where}, COUNT(*), MIN({least}) FROM {key.name} "
                    f"WHERE {where} IN ({', '.join(['%s'] * len(chunk))}) GROUP BY {where}"
                )
            cursor.execute(sql, [key.encode((k,))[0] for k in chunk])
            for value, count, smallest in cursor.fetchall():
                out[key.decode((value,))[0]] = (count, smallest)
    return out
