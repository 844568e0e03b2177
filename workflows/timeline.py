"""Stored events as sentences a person reads, for instance timelines and task pages.

``describe(event)`` turns one ``workflows.models.Event`` into a ``TimelineEntry``;
``timeline_entries(events)`` does it for a sequence and fills the time since the
previous entry. Nothing here queries the database.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from django.utils import timezone

from workflows.events import STEP_EVENT_TYPES, TASK_EVENT_TYPES, fold_order
from workflows.labels import PersonName, fallback_name, split_assignee, step_label, workflow_label
from workflows.models import DASHBOARD_SOURCE, Event, dashboard_actor
from workflows.wire import parse_datetime

Kind = Literal["workflow", "step", "task"]
TIMELINE_KINDS: tuple[Kind, ...] = ("workflow", "step", "task")
TitleMap = Mapping[uuid.UUID, str] | Mapping[str, str]

ENGINE = "engine"
# Who the timeline names behind another person's task event, which the viewer may not see.
HIDDEN_ACTOR = "someone"
# Event.source of a redacted event: no token name, no person.
HIDDEN_SOURCE = "hidden"


def redacted(event: Event) -> Event:
    """Another person's task event as the viewer may see it: "a task at step X" and when.

    A new, unsaved ``Event`` with the same event id, type, instance and times; its payload
    keeps only ``step_name`` (no task id, title, people, comment, reason, due date or form
    data), and neither its source nor its actor names anyone. Whether a viewer sees an event
    whole or redacted is decided in one place, ``workflows.selectors.events_for``.
    """
    copy = Event(
        seq=event.seq,
        event_id=event.event_id,
        event_id_given=event.event_id_given,
        type=event.type,
        instance_id=event.instance_id,
        task_id=None,
        timestamp=event.timestamp,
        payload={"step_name": _str((event.payload or {}).get("step_name"))},
        source=HIDDEN_SOURCE,
        actor="",
        received_at=event.received_at,
    )
    copy.redacted = True  # type: ignore[attr-defined]
    return copy


def is_redacted(event: Event) -> bool:
    return bool(getattr(event, "redacted", False))


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One line of a timeline: what happened, who did it, and when."""

    sentence: str
    actor: str
    kind: Kind
    event: Event
    timestamp: datetime
    type: str
    detail: str = ""
    since_previous: timedelta | None = None
    hidden: bool = False
    # The sentence in pieces, names apart (with their usernames for a hover).
    segments: tuple[Segment, ...] = ()
    actor_name: PersonName | None = None

    @property
    def actor_label(self) -> str:
        return self.actor_name.label if self.actor_name else self.actor

    @property
    def actor_hover(self) -> str:
        return self.actor_name.hover if self.actor_name else ""

    @property
    def since_previous_text(self) -> str:
        if self.since_previous is None:
            return ""
        return format_duration(self.since_previous.total_seconds())

    @property
    def submitted(self) -> Any:
        """The data a person submitted with a completed task (its ``form_data``), or None:
        for another event, an empty form, or an event the viewer sees redacted
        (``workflows.selectors.events_for`` decided that before this entry was made)."""
        if self.hidden or self.type != "HumanTaskCompleted":
            return None
        return (self.event.payload or {}).get("form_data") or None

    @property
    def is_human(self) -> bool:
        return self.event.source.startswith(DASHBOARD_SOURCE)

    @property
    def actor_links(self) -> bool:
        """Whether the pages may link ``actor`` to an activity page (not for a hidden one)."""
        return not self.hidden and bool(self.actor)


def kind_of(event_type: str) -> Kind:
    if event_type in TASK_EVENT_TYPES:
        return "task"
    if event_type in STEP_EVENT_TYPES:
        return "step"
    return "workflow"


def format_duration(seconds: float | None) -> str:
    """A short human duration: "0.4 s", "12 s", "3 min 5 s", "2 h 10 min", "3 d 4 h"."""
    if seconds is None:
        return ""
    sign = "-" if seconds < 0 else ""
    s = abs(seconds)
    if s < 10 and s != int(s):
        return f"{sign}{s:.1f} s"
    s_int = round(s)
    if s_int < 60:
        return f"{sign}{s_int} s"
    minutes, sec = divmod(s_int, 60)
    if minutes < 60:
        return f"{sign}{minutes} min" + (f" {sec} s" if sec else "")
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{sign}{hours} h" + (f" {minutes} min" if minutes else "")
    days, hours = divmod(hours, 24)
    return f"{sign}{days} d" + (f" {hours} h" if hours else "")


def _q(name: Any) -> str:
    return f"'{name}'"


def _step(name: Any) -> str:
    """A step name as people read it, quoted: ``finance_approval`` -> 'Finance approval'."""
    return _q(step_label(name) or "?")


def _str(value: Any) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Ref:
    """A person or team a sentence names, by the raw name the event carries (a username,
    ``user:alice``, ``group:finance``); ``describe`` turns it into a ``PersonName``."""

    raw: str


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of a sentence: plain text, or a name with its username for a hover."""

    text: str
    hover: str = ""


Part = str | Ref
Parts = list[Part]


def _title(p: Mapping[str, Any], titles: TitleMap | None) -> str:
    if p.get("title"):
        return _q(p["title"])
    task_id = p.get("task_id")
    if titles and task_id:
        parsed = _as_uuid(task_id)
        for key in (task_id, parsed, str(parsed)):
            if key is not None and titles.get(key):  # type: ignore[arg-type]
                return _q(titles[key])  # type: ignore[index]
    return f"the task of step {_step(p.get('step_name'))}"


def _as_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _with_reason(parts: Parts, reason: Any) -> Parts:
    return [*parts, f": {reason}"] if reason else parts


def _error(p: Mapping[str, Any]) -> str:
    error = _str(p.get("error"))
    return f"{p['error_type']}: {error}" if p.get("error_type") else error


Describer = Callable[[Mapping[str, Any], str, "TitleMap | None"], tuple[Parts, str]]


def _workflow_started(
    p: Mapping[str, Any], actor: str, titles: TitleMap | None
) -> tuple[Parts, str]:
    label = workflow_label(p.get("workflow_name")) if p.get("workflow_name") else ""
    name = " ".join(x for x in (label, _str(p.get("workflow_version"))) if x) or "unknown"
    who = actor or _str(p.get("user_id"))
    parts: Parts = [f"Workflow {name} started"]
    if who:
        parts += [" by ", Ref(who)]
    if p.get("tenant_id"):
        parts.append(f" for tenant {p['tenant_id']}")
    return parts, who


def _workflow_completed(
    p: Mapping[str, Any], actor: str, titles: TitleMap | None
) -> tuple[Parts, str]:
    sentence = "Workflow completed"
    if p.get("final_step"):
        sentence += f" at step {_step(p['final_step'])}"
    if p.get("duration_seconds") is not None:
        sentence += f" in {format_duration(float(p['duration_seconds']))}"
    status = _str(p.get("status"))
    if status and status.lower() not in ("completed", "succeeded", "success"):
        sentence += f" (status {status})"
    return [sentence], actor


def _workflow_failed(
    p: Mapping[str, Any], actor: str, titles: TitleMap | None
) -> tuple[Parts, str]:
    sentence = "Workflow failed"
    if p.get("failed_step"):
        sentence += f" at step {_step(p['failed_step'])}"
    return [f"{sentence}: {_error(p)}"], actor


def _by(who: str, verb: str, otherwise: str) -> Parts:
    return [Ref(who), f" {verb}"] if who else [otherwise]


def _workflow_canceled(
    p: Mapping[str, Any], actor: str, titles: TitleMap | None
) -> tuple[Parts, str]:
    who = actor or _str(p.get("canceled_by"))
    parts = _by(who, "canceled the workflow", "Workflow canceled")
    if p.get("current_step"):
        parts.append(f" at step {_step(p['current_step'])}")
    return _with_reason(parts, p.get("reason")), who


def _workflow_paused(
    p: Mapping[str, Any], actor: str, titles: TitleMap | None
) -> tuple[Parts, str]:
    who = actor or _str(p.get("paused_by"))
    parts = _by(who, "paused the workflow", "Workflow paused")
    if p.get("paused_at_step"):
        parts.append(f" at step {_step(p['paused_at_step'])}")
    return _with_reason(parts, p.get("reason")), who


def _workflow_resumed(
    p: Mapping[str, Any], actor: str, titles: TitleMap | None
) -> tuple[Parts, str]:
    who = actor or _str(p.get("resumed_by"))
    parts = _by(who, "resumed the workflow", "Workflow resumed")
    if p.get("resuming_at_step"):
        parts.append(f" at step {_step(p['resuming_at_step'])}")
    return parts, who


# How a step's type reads; another type an engine sends reads as sent.
STEP_TYPE_WORDS = {"human": "waits for a person", "machine": "automatic"}


def _step_started(p: Mapping[str, Any], actor: str, titles: TitleMap | None) -> tuple[Parts, str]:
    step_type = _str(p.get("step_type")).lower()
    step_type = STEP_TYPE_WORDS.get(step_type, step_type)
    sentence = f"Step {_step(p.get('step_name'))} started" + (
        f" ({step_type})" if step_type else ""
    )
    return [sentence], actor


def _step_completed(p: Mapping[str, Any], actor: str, titles: TitleMap | None) -> tuple[Parts, str]:
    sentence = f"Step {_step(p.get('step_name'))} completed"
    if p.get("duration_seconds") is not None:
        sentence += f" in {format_duration(float(p['duration_seconds']))}"
    status = _str(p.get("status"))
    if status and status.lower() not in ("completed", "succeeded", "success"):
        sentence += f" (status {status})"
    return [sentence], actor


def _step_failed(p: Mapping[str, Any], actor: str, titles: TitleMap | None) -> tuple[Parts, str]:
    retries = int(p.get("retry_count") or 0)
    sentence = f"Step {_step(p.get('step_name'))} failed"
    if retries:
        sentence += f" after {retries} {'retry' if retries == 1 else 'retries'}"
    return [f"{sentence}: {_error(p)}"], actor


def _step_skipped(p: Mapping[str, Any], actor: str, titles: TitleMap | None) -> tuple[Parts, str]:
    return _with_reason([f"Step {_step(p.get('step_name'))} skipped"], p.get("reason")), actor


def _task_created(p: Mapping[str, Any], actor: str, titles: TitleMap | None) -> tuple[Parts, str]:
    parts: Parts = [f"Task {_title(p, titles)} created"]
    if p.get("assignee"):
        parts += [" for ", Ref(_str(p["assignee"]))]
    else:
        parts.append(" with no assignee")
    if p.get("due_at"):
        try:
            # on the reader's clock (the active zone), named
            due = timezone.localtime(parse_datetime(p["due_at"]))
            parts.append(f", due {due:%Y-%m-%d %H:%M} {timezone.get_current_timezone_name()}")
        except ValueError:
            parts.append(f", due {p['due_at']}")
    return parts, actor


def _task_completed(p: Mapping[str, Any], actor: str, titles: TitleMap | None) -> tuple[Parts, str]:
    who = actor or _str(p.get("completed_by"))
    parts: Parts = [Ref(who) if who else "Someone", f" completed {_title(p, titles)}"]
    return _with_reason(parts, p.get("comment")), who


def names_person(raw: Any, username: str) -> bool:
    """Whether an assignee string (``bob``, ``user:bob``) names the user ``username``."""
    if not raw or not username:
        return False
    kind, name = split_assignee(str(raw))
    return kind != "group" and name == username


def reassignment_kind(
    *, actor: str, from_assignee: Any, to_assignee: Any, to_is_group: bool | None = None
) -> str:
    """What a ``HumanTaskReassigned`` was, read from who did it and from and to whom:
    "claim" (the actor took it for themselves), "release" (the actor gave their own task back
    to a team), else "reassign". ``to_is_group`` says whether ``to_assignee`` is a team when
    it is known; otherwise a ``group:`` prefix says so."""
    if names_person(to_assignee, actor):
        return "claim"
    if to_is_group is None:
        to_is_group = split_assignee(_str(to_assignee))[0] == "group"
    if names_person(from_assignee, actor) and to_is_group:
        return "release"
    return "reassign"


# The reasons the dashboard writes for a claim and a release (``workflows.actions``): the
# sentence already says it, so they are not repeated after it.
RELEASE_REASON = "Released to the queue"
_AUTOMATIC_REASON_PREFIXES = ("Claimed from the ", RELEASE_REASON)


def _own_reason(reason: Any) -> Any:
    text = _str(reason)
    return None if text.startswith(_AUTOMATIC_REASON_PREFIXES) else reason


def _task_reassigned(
    p: Mapping[str, Any], actor: str, titles: TitleMap | None
) -> tuple[Parts, str]:
    who = actor or _str(p.get("reassigned_by"))
    to_raw = _str(p.get("to_assignee"))
    to: Part = Ref(to_raw) if to_raw else "nobody"
    title = _title(p, titles)
    # A release sends the team as the task had it, often without a ``group:`` prefix
    # ("finance"): the dashboard's own reason says it went to a team.
    kind = reassignment_kind(
        actor=who,
        from_assignee=p.get("from_assignee"),
        to_assignee=to_raw,
        to_is_group=True if _str(p.get("reason")) == RELEASE_REASON else None,
    )
    if who and kind == "claim":
        return _with_reason([Ref(who), f" claimed {title}"], _own_reason(p.get("reason"))), who
    if who and kind == "release":
        parts: Parts = [Ref(who), f" released {title} to ", to]
        return _with_reason(parts, _own_reason(p.get("reason"))), who
    route: Parts = (
        [" from ", Ref(_str(p["from_assignee"])), " to ", to]
        if p.get("from_assignee")
        else [" to ", to]
    )
    parts = (
        [Ref(who), f" reassigned {title}", *route] if who else [f"Task {title} reassigned", *route]
    )
    return _with_reason(parts, p.get("reason")), who


_HIDDEN_VERBS = {
    "HumanTaskCreated": "created",
    "HumanTaskCompleted": "completed",
    "HumanTaskReassigned": "reassigned",
}


def _hidden_task(event: Event) -> str:
    step = _str((event.payload or {}).get("step_name"))
    return f"A task at step {_step(step)} was {_HIDDEN_VERBS.get(event.type, 'changed')}"


_DESCRIBERS: dict[str, Describer] = {
    "WorkflowStarted": _workflow_started,
    "WorkflowCompleted": _workflow_completed,
    "WorkflowFailed": _workflow_failed,
    "WorkflowCanceled": _workflow_canceled,
    "WorkflowPaused": _workflow_paused,
    "WorkflowResumed": _workflow_resumed,
    "StepStarted": _step_started,
    "StepCompleted": _step_completed,
    "StepFailed": _step_failed,
    "StepSkipped": _step_skipped,
    "HumanTaskCreated": _task_created,
    "HumanTaskCompleted": _task_completed,
    "HumanTaskReassigned": _task_reassigned,
}

# Payload fields that name a person or a team, for resolving a timeline's names in bulk.
PERSON_FIELDS = (
    "user_id",
    "canceled_by",
    "paused_by",
    "resumed_by",
    "assignee",
    "completed_by",
    "from_assignee",
    "to_assignee",
    "reassigned_by",
)


def named_people(events: Iterable[Event]) -> set[str]:
    """Every raw name the sentences of ``events`` may show (actors, assignees)."""
    names: set[str] = set()
    for event in events:
        if is_redacted(event):
            continue
        actor = dashboard_actor(event.source)
        if actor:
            names.add(actor)
        payload = event.payload or {}
        names.update(_str(payload.get(f)) for f in PERSON_FIELDS if payload.get(f))
    return names


def _segments(parts: Parts, names: Mapping[str, PersonName] | None) -> tuple[Segment, ...]:
    out: list[Segment] = []
    for part in parts:
        if isinstance(part, Ref):
            person = (names or {}).get(part.raw) or fallback_name(part.raw)
            out.append(Segment(person.label or part.raw, person.hover))
        else:
            out.append(Segment(part))
    return tuple(out)


def describe(
    event: Event,
    titles: TitleMap | None = None,
    names: Mapping[str, PersonName] | None = None,
) -> TimelineEntry:
    """One stored event as a sentence; ``titles`` maps task ids to task titles, ``names``
    raw names of people and teams to how they read (``workflows.labels.People``; without it,
    a name reads as the event carries it, less its ``user:``/``group:`` prefix).

    The actor of a dashboard action is the signed-in person named in ``Event.source``;
    otherwise the person the payload names, else "engine".
    """
    if is_redacted(event):
        sentence = _hidden_task(event)
        return TimelineEntry(
            sentence=sentence,
            actor=HIDDEN_ACTOR,
            kind=kind_of(event.type),
            event=event,
            timestamp=event.timestamp,
            type=event.type,
            hidden=True,
            segments=(Segment(sentence),),
        )
    payload: Mapping[str, Any] = event.payload or {}
    describer = _DESCRIBERS.get(event.type)
    actor = dashboard_actor(event.source)
    parts: Parts
    if describer is None:
        parts, who = [f"{event.type} event"], actor
    else:
        parts, who = describer(payload, actor, titles)
    segments = _segments(parts, names)
    actor_name = ((names or {}).get(who) or fallback_name(who)) if who else PersonName(ENGINE)
    return TimelineEntry(
        sentence="".join(s.text for s in segments),
        actor=who or ENGINE,
        kind=kind_of(event.type),
        event=event,
        timestamp=event.timestamp,
        type=event.type,
        detail=_str(payload.get("stack_trace")) if event.type == "WorkflowFailed" else "",
        segments=segments,
        actor_name=actor_name,
    )


def sort_key(event: Event) -> tuple[datetime, int, str]:
    """Fold order (``workflows.events.fold_order``)."""
    return fold_order(event)


def timeline_entries(
    events: Iterable[Event],
    titles: TitleMap | None = None,
    *,
    kinds: Iterable[Kind] | None = None,
    names: Mapping[str, PersonName] | None = None,
) -> list[TimelineEntry]:
    """Entries in fold order, each with the time since the previous entry shown.

    Titles of tasks created among ``events`` are used for later task events; ``kinds``
    keeps only those kinds (the gap is then measured between the entries kept).
    """
    ordered = sorted(events, key=sort_key)
    known: dict[str, str] = {str(k): v for k, v in (titles or {}).items()}
    for ev in ordered:
        if ev.type == "HumanTaskCreated" and (ev.payload or {}).get("title"):
            known.setdefault(str(_as_uuid(ev.payload.get("task_id"))), ev.payload["title"])
    wanted = set(kinds) if kinds is not None else None
    entries: list[TimelineEntry] = []
    previous: datetime | None = None
    for ev in ordered:
        if wanted is not None and kind_of(ev.type) not in wanted:
            continue
        entry = describe(ev, known, names)
        if previous is not None:
            entry = replace(entry, since_previous=entry.timestamp - previous)
        previous = entry.timestamp
        entries.append(entry)
    return entries
