"""Search by business data: the text index over instances and tasks, and its queries.

**What is indexed.** Each instance has one document (``InstanceSearch``): its workflow name
and every string and number in its initial data, one value a line. Each task has one
(``TaskSearch``): its step name, title and description, then its instance's document, so a
task is found by its workflow's business key as well as by its own words. Text is
casefolded and its runs of white space made single spaces here, in Python, so both
databases compare the same characters. Keys of the initial data are left out: they are the
same in every instance of a workflow and would make every instance match ``amount``.

**What a query means.** A query is split into terms at white space; ``"two words"`` is one
term (an unbalanced quote runs to the end). A row matches when it contains every term as a
substring, case-insensitively: ``EXP-2026-4916``, ``exp-2026``, ``4916`` and ``2026-49`` all
find ``EXP-2026-4916``. Substrings, not words, because business keys are not words:
a word index (PostgreSQL's ``tsvector``, FTS5's ``unicode61``) splits ``EXP-2026-4916`` into
``exp``, ``2026``, ``4916`` and cannot find ``2026-49`` or ``491``; and the lists searched
``icontains`` before, which is substring search. Nothing in a query is syntax: quotes,
``*``, ``-``, ``AND``, ``NEAR``, ``%`` and ``_`` are characters to find.

**How it is indexed.** SQLite: an FTS5 table with the ``trigram`` tokenizer over each
document table (external content, kept in step by triggers on it; migration 0008), queried
with ``MATCH`` and each term quoted as an FTS5 string (``"`` doubled). A term shorter than
three characters has no trigram, so it is checked with ``LIKE`` on the rows the other terms
found (or on every row, when every term is that short). PostgreSQL: a pg_trgm GIN index on
``body`` (``gin_trgm_ops``), which serves ``LIKE '%term%'`` directly. The assignee's task
lists, which are narrow, check each visible row's document instead (``task_matches``).

**Who writes it.** ``workflows.store.refold`` writes a document whenever the projection
columns it is made of changed, in the same transaction as the rows; ``rebuild_projections``
rebuilds it with them; migration 0008 backfills what existed before. Nothing else writes
these tables.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet
from django.db.models.expressions import RawSQL

from workflows import fastsql
from workflows.models import HumanTask, InstanceSearch, TaskSearch, WorkflowInstance

# The longest query the forms take (their error says so).
MAX_QUERY_LENGTH = 200
# An instance's indexed text stops here: business keys are short, and the instance's text
# is repeated in each of its tasks' documents. Values after this point are not found.
MAX_INSTANCE_TEXT = 20_000
# FTS5's trigram tokenizer cannot find a substring shorter than this.
TRIGRAM = 3

_INSTANCE_SEARCH = fastsql.table_of(InstanceSearch, "instance_id", "body")
_TASK_SEARCH = fastsql.table_of(TaskSearch, "task_id", "instance_id", "body")
_TERM = re.compile(r'"([^"]*)"?|([^\s"]+)')
_HEX_ID = re.compile(r"[0-9a-f]{1,32}")


# --- documents -------------------------------------------------------------------------------


def clean(text: str) -> str:
    """Text as it is indexed and searched: casefolded, white space runs made one space."""
    return " ".join(text.split()).casefold()


def json_values(value: Any) -> Iterator[str]:
    """Every string and number in a JSON value, objects' members in the order of their keys
    (iterative: initial data may nest 64 levels)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int | float):
            yield str(item)
        elif isinstance(item, dict):
            # By key: PostgreSQL's jsonb keeps keys in its own order, the wire in the
            # sender's; the document must not depend on which one it was made from.
            stack.extend(v for _, v in sorted(item.items(), reverse=True))
        elif isinstance(item, list):
            stack.extend(reversed(item))


def _lines(parts: Iterable[str]) -> str:
    return "\n".join(line for line in map(clean, parts) if line)


def instance_text(workflow_name: str, initial_data: Any) -> str:
    """An instance's document: its workflow name and its initial data's values."""
    return _lines([workflow_name, *json_values(initial_data)])[:MAX_INSTANCE_TEXT]


def task_body(step_name: str, title: str, description: str, instance: str) -> str:
    """A task's document: its own words, then its instance's document."""
    return "\n".join(t for t in (_lines([step_name, title, description]), instance) if t)


def write(
    instances: Sequence[tuple[uuid.UUID, str]],
    tasks: Sequence[tuple[uuid.UUID, uuid.UUID, str]],
) -> None:
    """Insert or replace documents: ``(instance_id, text)`` and
    ``(task_id, instance_id, body)`` rows."""
    fastsql.upsert(_INSTANCE_SEARCH, instances, ["instance_id"])
    fastsql.upsert(_TASK_SEARCH, tasks, ["task_id"])


def clear() -> None:
    """Delete every document (``rebuild_projections``, before it folds them again)."""
    TaskSearch.objects.all().delete()
    InstanceSearch.objects.all().delete()


def reindex(batch: int = 2000) -> int:
    """Write every instance's and task's document from the projection rows (the backfill of
    migration 0008, and benchmarks that load rows without folding). Returns the number of
    instances indexed."""
    clear()
    done = 0
    ids = list(WorkflowInstance.objects.order_by("id").values_list("instance_id", flat=True))
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        index_instances(chunk)
        done += len(chunk)
    return done


def index_instances(instance_ids: Sequence[uuid.UUID]) -> None:
    """(Re)write the documents of these instances and all their tasks from their rows."""
    texts: dict[uuid.UUID, str] = {
        iid: instance_text(name, data)
        for iid, name, data in WorkflowInstance.objects.filter(
            instance_id__in=instance_ids
        ).values_list("instance_id", "workflow_name", "initial_data")
    }
    # A task's instance_id is its instance's UUID (the foreign key's to_field).
    rows: Iterable[tuple[Any, ...]] = HumanTask.objects.filter(
        instance_id__in=instance_ids  # type: ignore[misc]
    ).values_list("task_id", "instance_id", "step_name", "title", "description")
    tasks = [
        (tid, iid, task_body(step, title, description, texts.get(iid, "")))
        for tid, iid, step, title, description in rows
    ]
    write(list(texts.items()), tasks)


# --- queries ---------------------------------------------------------------------------------


def terms(query: str) -> list[str]:
    """The terms of a query, cleaned, each once; [] for a query with nothing to find."""
    # Text no column holds is no term: NUL (PostgreSQL refuses it), lone surrogates.
    query = query.replace("\x00", " ").encode("utf-8", "replace").decode("utf-8")
    found: list[str] = []
    for quoted, bare in _TERM.findall(query):
        term = clean(quoted or bare)
        if term and term not in found:
            found.append(term)
    return found


def fts_query(words: Sequence[str]) -> str:
    """An FTS5 query that finds rows holding every one of ``words``, each an FTS5 string:
    nothing in them is read as syntax."""
    return " AND ".join('"' + w.replace('"', '""') + '"' for w in words)


def _matching(model: type[InstanceSearch] | type[TaskSearch], words: Sequence[str]) -> QuerySet:
    qs: QuerySet = model.objects.all()
    rest = list(words)
    if connection.vendor == "sqlite":
        indexed = [w for w in words if len(w) >= TRIGRAM]
        if indexed:
            fts = connection.ops.quote_name(model._meta.db_table + "_fts")
            qs = qs.filter(
                pk__in=RawSQL(
                    f"SELECT rowid FROM {fts} WHERE {fts} MATCH %s", (fts_query(indexed),)
                )
            )
        rest = [w for w in words if len(w) < TRIGRAM]
    for word in rest:
        qs = qs.filter(body__contains=word)
    return qs


def task_ids(query: str) -> QuerySet | None:
    """Ids of the tasks whose document holds every term (a subquery); None: no terms."""
    words = terms(query)
    if not words:
        return None
    return _matching(TaskSearch, words).values("task_id")


def task_matches(query: str) -> Exists | None:
    """Whether the task of the outer query's row (its ``task_id``) has a document holding
    every term; None: no terms.

    For lists that are already narrow (one person's or a few teams' tasks): each visible
    row's document is read by its unique ``task_id`` and compared with ``LIKE``, so the cost
    follows the list, not the number of matches in the whole index. ``task_ids`` (the
    index) serves lists over every task, such as History.
    """
    words = terms(query)
    if not words:
        return None
    docs = TaskSearch.objects.filter(task_id=OuterRef("task_id"))
    for word in words:
        docs = docs.filter(body__contains=word)
    return Exists(docs)


def instance_ids(query: str, *, with_id_prefix: bool = False) -> QuerySet | None:
    """Ids of the instances whose own document, or one of whose tasks' documents, holds
    every term (a subquery); with ``with_id_prefix``, also the instances whose id begins
    with the query when it is one hex string (dashes ignored). None: no terms."""
    words = terms(query)
    if not words:
        return None
    ids = _matching(InstanceSearch, words).values("instance_id")
    ids = ids.union(_matching(TaskSearch, words).values("instance_id"))
    bounds = id_prefix_range(query) if with_id_prefix else None
    if bounds is not None:
        ids = ids.union(
            WorkflowInstance.objects.filter(instance_id__range=bounds)
            .order_by()
            .values("instance_id")
        )
    return ids


def id_prefix_range(query: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """The first and last instance id that begin with ``query``, if it is one hex string
    (an id or its beginning, with or without dashes); a range the unique index serves."""
    digits = query.strip().lower().replace("-", "")
    if not _HEX_ID.fullmatch(digits):
        return None
    return uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))
