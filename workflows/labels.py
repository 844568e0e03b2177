"""How internal names read to a person: one place for the naming rules.

Engines name workflows and steps in code (``finance_approval``), rank priorities as numbers
and name assignees as ``user:alice`` or ``group:finance``. Pages, banners, timelines and the
exports' human columns show them as people read them:

- a workflow or a step: the engine's title where it sends one (a task's ``title``), else the
  name humanised (``finance_approval`` -> "Finance approval"); ``humanize``;
- a priority: a word (``priority_label``);
- a person: their full name, with their username kept for a hover (``PersonName``); a team:
  its name humanised. ``People`` resolves many names with one query for users and one for
  groups, so a page asks the database once, whatever its number of rows.

The machine values themselves (URLs, filters, the API, the exports' machine columns) are
never rewritten: these are labels only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from workflows import fastsql

_SEPARATORS = re.compile(r"[_\-.\s]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_CODE_VALUE = re.compile(r"[a-z0-9]+(?:[_\-][a-z0-9]+)*")
# Initials that code names write in lower case (``hr_review``, ``it_account_setup``) and
# people write in capitals. A short list on purpose: "it" is also a word, but in a code name
# (``it_account_setup``) it is the department.
ACRONYMS = frozenset(
    {"hr", "it", "id", "qa", "ui", "api", "url", "csv", "pdf", "vat", "kyc", "sla", "vpn"}
)


def humanize(name: Any) -> str:
    """A code name as words: ``finance_approval`` / ``financeApproval`` / ``finance-approval``
    -> "Finance approval". A name already written with spaces and capitals is kept; acronyms
    (``IT_support`` -> "IT support") keep their capitals, and the usual ones written in lower
    case get them (``hr_review`` -> "HR review", ``ACRONYMS``)."""
    text = "" if name is None else str(name).strip()
    if not text:
        return ""
    if " " in text and "_" not in text:
        return text[0].upper() + text[1:]  # already words ("Expense approval")
    words = [w for w in _SEPARATORS.split(_CAMEL.sub(" ", text)) if w]
    if not words:
        return text
    # Title-cased words after the first are lowered ("FinanceApproval" -> "Finance approval");
    # all-capital words are acronyms and stay.
    out = [words[0]] + [w.lower() if w[:1].isupper() and w[1:].islower() else w for w in words[1:]]
    out = [w.upper() if w.lower() in ACRONYMS and (w.islower() or w.istitle()) else w for w in out]
    first = out[0]
    out[0] = first[0].upper() + first[1:]
    return " ".join(out)


def workflow_label(name: Any, title: Any = None) -> str:
    """A workflow as people read it: the engine's title if it sent one, else its name
    humanised; "Unknown workflow" when it has neither."""
    return str(title).strip() if title else (humanize(name) or "Unknown workflow")


def step_label(name: Any, title: Any = None) -> str:
    """A step as people read it: the engine's title if it sent one (a human step's task
    title), else its name humanised."""
    return str(title).strip() if title else humanize(name)


# The engines' scale (docs/engines.md): 0 is the default; higher is more urgent.
PRIORITY_WORDS = {0: "Normal", 1: "High", 2: "Urgent"}


def priority_label(value: Any) -> str:
    """0 "Normal", 1 "High", 2 and above "Urgent", below 0 "Low"."""
    try:
        number = int(value or 0)
    except (TypeError, ValueError):
        return str(value)
    if number < 0:
        return "Low"
    return PRIORITY_WORDS.get(number, "Urgent")


def split_assignee(raw: str) -> tuple[str | None, str]:
    """``user:alice`` -> ("user", "alice"); ``group:finance`` -> ("group", "finance");
    ``alice`` -> (None, "alice"). Routing (``workflows.assignees``) reads them so too."""
    for prefix in ("user:", "group:"):
        if raw.lower().startswith(prefix):
            return prefix[:-1], raw[len(prefix) :].strip()
    return None, raw.strip()


@dataclass(frozen=True, slots=True)
class PersonName:
    """A person or a team as a page shows them: ``label`` in the text, ``hover`` (the
    username) in a title attribute; ``kind`` is "user", "group" or "" (nobody known)."""

    label: str
    hover: str = ""
    kind: str = ""
    username: str = ""

    def __str__(self) -> str:
        return self.label


def user_name(user: Any) -> PersonName:
    """A loaded user: full name (username on hover), or the username alone."""
    return _full_name(user.get_username(), user.first_name, user.last_name)


def _full_name(username: str, first: str, last: str) -> PersonName:
    full = f"{first or ''} {last or ''}".strip()
    return PersonName(full or username, username if full else "", "user", username)


def group_name(group: Any) -> PersonName:
    return PersonName(group_label(group.name), "", "group")


def group_label(name: str) -> str:
    """A team's name as people read it: ``finance`` -> "Finance", ``finance_ops`` ->
    "Finance ops"; a name of two letters reads as initials (``hr`` -> "HR", ``it`` -> "IT")."""
    text = humanize(name) or name
    return text.upper() if len(text) <= 2 else text


def fallback_name(raw: Any) -> PersonName:
    """A name no user or group was found for: the prefix dropped, a team's name humanised."""
    text = "" if raw is None else str(raw)
    kind, name = split_assignee(text)
    if kind == "group":
        return PersonName(group_label(name), "", "group")
    if kind == "user":
        return PersonName(name, "", "", name)
    return PersonName(text)  # exactly as it came: a name may hold spaces at its ends


class People(Mapping[str, PersonName]):
    """Names of people and teams resolved in bulk: usernames and assignee strings
    (``alice``, ``user:alice``, ``group:finance``) -> ``PersonName``.

    ``People.of(names)`` asks for all the users in one query and all the groups in another;
    looking up a name it was not given falls back to ``fallback_name`` (no query). A username
    beats a group name, and an explicit prefix wins, as for routing."""

    def __init__(self, names: Mapping[str, PersonName] | None = None):
        self._names: dict[str, PersonName] = dict(names or {})

    @classmethod
    def of(cls, raws: Iterable[Any]) -> People:
        wanted = {str(r) for r in raws if r}
        if not wanted:
            return cls()
        parsed = {raw: split_assignee(raw) for raw in wanted}
        user_names = {n for k, n in parsed.values() if k != "group" and n}
        group_names = {n for k, n in parsed.values() if k != "user" and n}
        # Plain SQL (``workflows.fastsql``), not a queryset: exports call this while they
        # stream, and it must not load or iterate a queryset of theirs.
        users = {
            username: _full_name(username, first, last)
            for username, first, last in fastsql.select_in(
                fastsql.table_of(get_user_model(), "username", "first_name", "last_name"),
                "username",
                user_names,
            )
        }
        groups = {
            name: PersonName(group_label(name), "", "group")
            for (name,) in fastsql.select_in(fastsql.table_of(Group, "name"), "name", group_names)
        }
        names: dict[str, PersonName] = {}
        for raw, (kind, name) in parsed.items():
            if kind != "group" and name in users:
                names[raw] = users[name]
            elif kind != "user" and name in groups:
                names[raw] = groups[name]
            else:
                names[raw] = fallback_name(raw)
        return cls(names)

    def __getitem__(self, raw: str) -> PersonName:
        return self._names.get(raw) or fallback_name(raw)

    def __iter__(self) -> Any:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def label(self, raw: Any) -> str:
        return self[str(raw)].label if raw else ""


def assignee_name(task: Any, people: Mapping[str, PersonName] | None = None) -> PersonName:
    """Who holds a task, from its loaded ``assignee_user`` / ``assignee_group`` (no query
    when the list selected them), else its raw assignee as the engine sent it."""
    user = getattr(task, "assignee_user", None) if task.assignee_user_id else None
    if user is not None:
        return user_name(user)
    group = getattr(task, "assignee_group", None) if task.assignee_group_id else None
    if group is not None:
        return group_name(group)
    if not task.assignee:
        return PersonName("")
    return (people or People())[task.assignee]


def schema_choices(spec: Mapping[str, Any]) -> list[tuple[Any, str]] | None:
    """A form property's choices as (value, label), or None if it is not a choice.

    ``oneOf`` / ``anyOf`` of ``{"const": v, "title": "Label"}`` give their titles; an
    ``enum`` takes its labels from ``x-enumNames`` (or ``enumNames``) when they are a list of
    the same length; a value without a label reads humanised (``request_changes`` ->
    "Request changes")."""
    for key in ("oneOf", "anyOf"):
        options = spec.get(key)
        if (
            isinstance(options, list)
            and options
            and all(isinstance(o, Mapping) and "const" in o for o in options)
        ):
            return [(o["const"], str(o.get("title") or _value_label(o["const"]))) for o in options]
    values = spec.get("enum")
    if not isinstance(values, list):
        return None
    names = spec.get("x-enumNames", spec.get("enumNames"))
    if isinstance(names, list) and len(names) == len(values):
        return [
            (v, str(n) if n not in (None, "") else _value_label(v))
            for v, n in zip(values, names, strict=True)
        ]
    return [(v, _value_label(v)) for v in values]


def _value_label(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, str) and _CODE_VALUE.fullmatch(value):
        return humanize(value)  # a code: "request_changes", "low"
    return str(value)  # already written for people ("MacBook Pro 14", "CC-100 Operations")


def choice_label(spec: Mapping[str, Any] | None, value: Any) -> str | None:
    """The label a form property's schema gives ``value``, or None if it gives none."""
    if not isinstance(spec, Mapping):
        return None
    for option, label in schema_choices(spec) or []:
        if option == value and type(option) is type(value):
            return label
    return None
