"""The dashboard adapter for litestar-workflows 0.3.3 (engine side; no Django here).

Two objects connect a ``LocalExecutionEngine`` to the task-inbox dashboard::

    bus = DashboardEventBus(dashboard_url, token)
    engine = LocalExecutionEngine(registry=registry, event_bus=bus)
    bus.attach(engine)
    commands = DashboardCommands(engine, secret=webhook_secret)
    status, body = await commands.handle(headers, raw_body)   # in the engine's webhook route

``DashboardEventBus`` is the engine's ``event_bus``. The engine only calls
``emit(name, instance_id=..., ...)`` with ``workflow.started``, ``workflow.waiting``,
``workflow.completed``, ``workflow.failed`` and ``workflow.canceled``; the bus reads the rest
(names, versions, step history, human-step titles, forms and assignees) from the engine and
sends the dashboard's event wire objects to ``POST {dashboard_url}/api/events`` in batches,
from a bounded in-memory queue, retrying in the background. Every event id, task id and
timestamp is derived from the engine's state, so a resend is a duplicate, never a new event.

``DashboardCommands`` verifies and applies what the dashboard sends to the engine's webhook
(complete, cancel, ...); see docs/engines.md for the wire contract.

0.3.3's ``LocalExecutionEngine`` never resumes a workflow after ``complete_human_task``: when
``_run_workflow`` reaches a human step it returns early, before the line that removes the
instance from ``engine._running``, and ``complete_human_task`` only starts a new run ``if
instance_id not in self._running``. :func:`complete_human_task` here (which the commands use)
drops the finished run first and makes sure a new one is started.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import enum
import hashlib
import hmac
import itertools
import json
import logging
import math
import random
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import httpx
from litestar_workflows.core.types import StepStatus, StepType, WorkflowStatus
from litestar_workflows.engine.graph import WorkflowGraph

__all__ = [
    "BoundedSeen",
    "DashboardCommands",
    "DashboardEventBus",
    "EngineBusy",
    "SeenStore",
    "complete_human_task",
    "event_id_for",
    "sign",
    "task_id_for",
]

log = logging.getLogger(__name__)

# Fixed namespaces: ids derived from them are the same in every process, forever.
EVENT_NAMESPACE = uuid.UUID("0b6f3d1e-5a7c-4e0b-9a3d-7c1f2e4b8a60")
TASK_NAMESPACE = uuid.UUID("4c9e2a7b-1d3f-4b6a-8e5c-2f0a9d7b3c11")

TERMINAL = frozenset({WorkflowStatus.COMPLETED, WorkflowStatus.FAILED, WorkflowStatus.CANCELED})

# The dashboard refuses longer values (its columns' max_length): shorten rather than lose.
_MAX_LENGTH = {
    "workflow_name": 200,
    "workflow_version": 50,
    "user_id": 200,
    "tenant_id": 200,
    "status": 50,
    "final_step": 200,
    "failed_step": 200,
    "error_type": 200,
    "canceled_by": 200,
    "current_step": 200,
    "step_name": 200,
    "step_type": 50,
    "assignee": 200,
    "title": 500,
    "completed_by": 200,
}


def task_id_for(instance_id: uuid.UUID | str, step_name: str, visit: int) -> uuid.UUID:
    """The task id of the ``visit``-th wait (1-based) of an instance at a human step."""
    return uuid.uuid5(TASK_NAMESPACE, f"{instance_id}:{step_name}:{visit}")


def _visits(history: Iterable[Any], step_name: str) -> int:
    """How many of these step-history entries are of ``step_name``."""
    return sum(1 for h in history if h.step_name == step_name)


def event_id_for(instance_id: uuid.UUID | str, key: str) -> uuid.UUID:
    """The event id of one fact about an instance, e.g. ``key="WorkflowStarted"``."""
    return uuid.uuid5(EVENT_NAMESPACE, f"{instance_id}:{key}")


def _utc(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _iso(value: datetime | None) -> str:
    return _utc(value).isoformat()


def _jsonable(value: Any) -> Any:
    """A JSON-safe copy: UUIDs, datetimes and enums as strings, no NaN, no NUL characters."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    return _jsonable(str(value))


def _object(value: Any) -> dict[str, Any] | None:
    """A JSON object field: a dict made JSON-safe, or None."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return _jsonable(value)  # type: ignore[no-any-return]
    return {"value": _jsonable(value)}


def _text(value: Any) -> str:
    return str(value.value if isinstance(value, enum.Enum) else value)


def _base(instance: Any, timestamp: datetime | None) -> dict[str, Any]:
    return {"instance_id": str(instance.id), "timestamp": _iso(timestamp)}


def _wire(type_name: str, event_id: uuid.UUID, **fields: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"type": type_name, "event_id": str(event_id)}
    for name, value in fields.items():
        if value is None:
            continue
        if isinstance(value, str):
            value = value.replace("\x00", "\ufffd")
            limit = _MAX_LENGTH.get(name)
            if limit is not None and len(value) > limit:
                value = value[: limit - 1] + "…"
        obj[name] = value
    return obj


# --- the event bus ---------------------------------------------------------------------------


class DashboardEventBus:
    """The engine's ``event_bus``: turns its emits into dashboard events and delivers them.

    ``emit`` never blocks on the network and never raises: events wait in a bounded
    in-memory queue (``max_queue``) and a background task posts them in batches of up to
    ``batch_size``, retrying 5xx answers and network errors with exponential backoff and
    jitter (``retry_base`` doubling up to ``retry_max`` seconds). A 422 means the dashboard
    refused events; resending cannot help, so they are logged and dropped (only the events
    it names, when it names them). Events beyond the bound are dropped and logged;
    ``dropped`` counts them, ``refused`` counts events the dashboard refused, ``sent`` counts
    events it stored (or already had).
    """

    def __init__(
        self,
        dashboard_url: str,
        token: str,
        *,
        max_queue: int = 10_000,
        batch_size: int = 100,
        timeout: float = 10.0,
        retry_base: float = 0.5,
        retry_max: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if max_queue < 1 or batch_size < 1:
            raise ValueError("max_queue and batch_size must be at least 1")
        self.dashboard_url = dashboard_url.rstrip("/")
        self.events_url = f"{self.dashboard_url}/api/events"
        self._token = token
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.timeout = timeout
        self.retry_base = retry_base
        self.retry_max = retry_max
        self._transport = transport
        self._client = client
        self._owns_client = client is None
        self._engine: Any = None
        self._queue: collections.deque[dict[str, Any]] = collections.deque()
        self._wakeup: asyncio.Event | None = None
        self._sender: asyncio.Task[None] | None = None
        self._closed = False
        self._history_seen: dict[uuid.UUID, int] = {}
        self._recorded = BoundedSeen(10_000)  # _dashboard_key()s of facts the dashboard has
        self.sent = 0
        self.dropped = 0
        self.refused = 0
        self.failed_attempts = 0
        self.last_error: str | None = None

    # Note: no __len__ on purpose. The engine tests ``if self.event_bus:``; a bus with an
    # empty queue must still be truthy.

    def attach(self, engine: Any) -> None:
        """Let the bus read the engine's instances and workflow definitions."""
        self._engine = engine

    @property
    def pending(self) -> int:
        """Events waiting to be delivered (including a batch being sent)."""
        return len(self._queue)

    # -- the engine side --------------------------------------------------------------------

    async def emit(self, event_type: Any, /, **data: Any) -> None:
        """Called by the engine, e.g. ``emit("workflow.waiting", instance_id=..., step_name=...)``.

        A contract event object (a dataclass such as ``WorkflowStarted``) is accepted too.
        """
        try:
            if isinstance(event_type, str):
                if event_type == "workflow.waiting":
                    self._release_run_when_done(data.get("instance_id"))
                events = await self._translate(event_type, data)
            else:
                events = [self._from_dataclass(event_type)]
            self.enqueue(events)
        except Exception:  # the engine must never fail because of the dashboard
            log.exception("dashboard bus: could not translate %r %r", event_type, data)

    def enqueue(self, events: Iterable[dict[str, Any]]) -> None:
        """Queue dashboard wire objects for delivery (what ``emit`` does after translating)."""
        for event in events:
            if self._closed or len(self._queue) >= self.max_queue:
                self.dropped += 1
                why = "it is closed" if self._closed else f"the queue is full ({len(self._queue)})"
                if self.dropped == 1 or self.dropped % 100 == 0:
                    log.warning(
                        "dashboard bus: dropped %s event for instance %s because %s "
                        "(%d dropped so far)",
                        event.get("type"),
                        event.get("instance_id"),
                        why,
                        self.dropped,
                    )
                continue
            self._queue.append(event)
        if self._queue and not self._closed:
            self._ensure_sender()

    def note_dashboard_event(self, event: Mapping[str, Any]) -> None:
        """The dashboard recorded this fact itself (it sent it with a command): the bus will
        not send its own copy (a second ``HumanTaskCompleted`` / ``WorkflowCanceled``)."""
        key = _record_key(event)
        if key is not None:
            self._recorded.add(key)

    def forget_dashboard_event(self, event: Mapping[str, Any]) -> None:
        key = _record_key(event)
        if key is not None:
            self._recorded.discard(key)

    # -- delivery ---------------------------------------------------------------------------

    async def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued event is delivered (or dropped); False on timeout."""
        if self._queue:
            self._ensure_sender()
        deadline = time.monotonic() + timeout
        while self._queue:  # a batch being sent stays queued until its answer
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def aclose(self, timeout: float = 5.0) -> None:
        """Deliver what can be delivered within ``timeout``, then stop; log what is lost."""
        if self._queue and not self._closed:
            await self.flush(timeout)
        self._closed = True
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sender
            self._sender = None
        if self._queue:
            self.dropped += len(self._queue)
            log.warning(
                "dashboard bus: closed with %d undelivered events (%d dropped in all)",
                len(self._queue),
                self.dropped,
            )
            self._queue.clear()
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None

    def _ensure_sender(self) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: the first emit or flush inside one starts the sender
        if self._wakeup is None:
            self._wakeup = asyncio.Event()
        if self._sender is None or self._sender.done():
            if self._sender is not None and not self._sender.cancelled():
                exc = self._sender.exception()
                if exc is not None:
                    log.error("dashboard bus: the sender stopped (%r); restarting it", exc)
            self._sender = asyncio.create_task(self._send_loop(), name="dashboard-event-bus")
        self._wakeup.set()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self._transport, timeout=self.timeout)
        return self._client

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.retry_max, self.retry_base * 2 ** min(attempt, 30))
        return random.uniform(ceiling / 2, ceiling)

    async def _send_loop(self) -> None:
        assert self._wakeup is not None
        attempt = 0
        size = self.batch_size
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = list(itertools.islice(self._queue, size))
            try:
                verdict = await self._post(batch)
            except Exception as exc:  # a bug here must not stop delivery for good
                log.exception("dashboard bus: unexpected error while sending")
                verdict = ("retry", f"{type(exc).__name__}: {exc}", None)
            outcome, detail, bad = verdict
            if outcome == "ok":
                self._dequeue(batch)
                self.sent += len(batch)
                attempt = 0
                size = self.batch_size
            elif outcome == "refused":
                self._refuse(batch, detail, bad)
                attempt = 0
            elif outcome == "smaller":
                size = max(1, len(batch) // 2)
            else:
                self.failed_attempts += 1
                self.last_error = detail
                delay = self._backoff(attempt)
                attempt += 1
                log.warning(
                    "dashboard bus: %s; %d events queued, retrying in %.1fs",
                    detail,
                    len(self._queue),
                    delay,
                )
                await asyncio.sleep(delay)

    async def _post(self, batch: list[dict[str, Any]]) -> tuple[str, str, dict[int, str] | None]:
        """Send one batch: ("ok"|"refused"|"smaller"|"retry", detail, refused indexes)."""
        try:
            response = await self._http().post(
                self.events_url,
                json={"events": batch},
                headers={"Authorization": f"Bearer {self._token}"},
            )
        except httpx.HTTPError as exc:
            return ("retry", f"cannot reach {self.events_url}: {type(exc).__name__}: {exc}", None)
        status = response.status_code
        if 200 <= status < 300:
            return ("ok", "", None)
        text = response.text[:2000]
        if status == 422:
            return ("refused", text, _refused_indexes(response, len(batch)))
        if status == 413:
            if len(batch) > 1:
                return ("smaller", text, None)
            return ("refused", f"413 for a single event: {text}", None)
        if status in (400, 415):
            return ("refused", f"{status}: {text}", None)
        # 401/403 (a token an operator can fix), 404/405 (a dashboard URL or proxy they can
        # fix), 408, 429, 5xx: keep and retry, so a configuration slip loses nothing.
        return ("retry", f"{self.events_url} answered {status}: {text[:300]}", None)

    def _dequeue(self, batch: list[dict[str, Any]]) -> None:
        for _ in batch:
            self._queue.popleft()

    def _refuse(self, batch: list[dict[str, Any]], detail: str, bad: dict[int, str] | None) -> None:
        self._dequeue(batch)
        if bad:
            keep = [event for i, event in enumerate(batch) if i not in bad]
            for i, message in bad.items():
                event = batch[i]
                log.error(
                    "dashboard bus: the dashboard refused %s %s (instance %s): %s",
                    event.get("type"),
                    event.get("event_id"),
                    event.get("instance_id"),
                    message,
                )
            self.refused += len(bad)
            # The others were refused only because the batch is all or nothing.
            self._queue.extendleft(reversed(keep))
        else:
            self.refused += len(batch)
            log.error(
                "dashboard bus: the dashboard refused a batch of %d events: %s", len(batch), detail
            )

    # -- translation ------------------------------------------------------------------------

    async def _instance(self, instance_id: uuid.UUID) -> Any:
        if self._engine is None:
            log.error("dashboard bus: not attached to an engine; call bus.attach(engine)")
            return None
        try:
            return await self._engine.get_instance(instance_id)
        except Exception:
            log.warning("dashboard bus: the engine has no instance %s", instance_id)
            return None

    def _definition(self, instance: Any) -> Any:
        registry = self._engine.registry
        try:
            return registry.get_definition(instance.workflow_name, instance.workflow_version)
        except Exception:
            try:
                return registry.get_definition(instance.workflow_name)
            except Exception:
                return None

    async def _translate(self, name: str, data: Mapping[str, Any]) -> list[dict[str, Any]]:
        raw_id = data.get("instance_id")
        if raw_id is None:
            log.warning("dashboard bus: %s without an instance_id", name)
            return []
        instance_id = raw_id if isinstance(raw_id, uuid.UUID) else uuid.UUID(str(raw_id))
        instance = await self._instance(instance_id)
        if instance is None:
            return []
        definition = self._definition(instance)
        events = self._history_events(instance, definition)
        if name == "workflow.started":
            events.insert(0, self._workflow_started(instance))
        elif name == "workflow.waiting":
            step_name = data.get("step_name") or instance.current_step
            if step_name:
                events.extend(await self._task_created(instance, definition, str(step_name)))
        elif name in ("workflow.completed", "workflow.failed"):
            # 0.3.3 sends workflow.failed for any status but COMPLETED; a cancel that raced
            # the run is reported by workflow.canceled instead.
            if instance.status == WorkflowStatus.COMPLETED:
                events.append(self._workflow_completed(instance))
            elif instance.status == WorkflowStatus.FAILED:
                events.append(self._workflow_failed(instance))
            self._history_seen.pop(instance.id, None)
        elif name == "workflow.canceled":
            reason = data.get("reason") or instance.error or "canceled"
            if _dashboard_key("WorkflowCanceled", instance.id) not in self._recorded:
                events.append(self._workflow_canceled(instance, str(reason)))
            self._history_seen.pop(instance.id, None)
        else:  # 0.3.3 emits no other names (it cannot pause or resume)
            log.debug("dashboard bus: ignoring %s", name)
        return events

    def _workflow_started(self, instance: Any) -> dict[str, Any]:
        context = instance.context
        return _wire(
            "WorkflowStarted",
            event_id_for(instance.id, "WorkflowStarted"),
            **_base(instance, instance.started_at),
            workflow_name=instance.workflow_name,
            workflow_version=_text(instance.workflow_version),
            initial_data=_object(context.data),
            user_id=context.user_id,
            tenant_id=context.tenant_id,
        )

    def _workflow_completed(self, instance: Any) -> dict[str, Any]:
        history = instance.context.step_history
        duration = None
        if instance.completed_at and instance.started_at:
            duration = (_utc(instance.completed_at) - _utc(instance.started_at)).total_seconds()
        return _wire(
            "WorkflowCompleted",
            event_id_for(instance.id, "WorkflowCompleted"),
            **_base(instance, instance.completed_at),
            status=_text(instance.status),
            final_step=history[-1].step_name if history else None,
            duration_seconds=duration,
        )

    def _workflow_failed(self, instance: Any) -> dict[str, Any]:
        failed = [h for h in instance.context.step_history if h.status == StepStatus.FAILED]
        error = instance.error or (failed[-1].error if failed else None) or "workflow failed"
        return _wire(
            "WorkflowFailed",
            event_id_for(instance.id, "WorkflowFailed"),
            **_base(instance, instance.completed_at),
            error=str(error),
            failed_step=failed[-1].step_name if failed else instance.context.current_step,
        )

    def _workflow_canceled(self, instance: Any, reason: str) -> dict[str, Any]:
        return _wire(
            "WorkflowCanceled",
            event_id_for(instance.id, "WorkflowCanceled"),
            **_base(instance, instance.completed_at),
            reason=reason,
            current_step=instance.context.current_step,
        )

    def _history_events(self, instance: Any, definition: Any) -> list[dict[str, Any]]:
        """Step events for the step-history entries not yet reported (by index)."""
        history = instance.context.step_history
        start = self._history_seen.get(instance.id, 0)
        self._history_seen[instance.id] = len(history)
        events: list[dict[str, Any]] = []
        steps = definition.steps if definition is not None else {}
        for index in range(start, len(history)):
            entry = history[index]
            step = steps.get(entry.step_name)
            step_type = _text(getattr(step, "step_type", StepType.MACHINE)).lower()
            if step_type == StepType.HUMAN:
                events.extend(self._human_step_done(instance, index, entry))
            else:
                events.extend(self._machine_step(instance, index, entry, step_type))
        return events

    def _machine_step(
        self, instance: Any, index: int, entry: Any, step_type: str
    ) -> list[dict[str, Any]]:
        key = f"history:{index}"
        status = _text(entry.status).lower()
        if status == StepStatus.SKIPPED:
            return [
                _wire(
                    "StepSkipped",
                    event_id_for(instance.id, f"StepSkipped:{key}"),
                    **_base(instance, entry.started_at),
                    step_name=entry.step_name,
                    reason="the step's guard (can_execute) returned False",
                )
            ]
        started = _wire(
            "StepStarted",
            event_id_for(instance.id, f"StepStarted:{key}"),
            **_base(instance, entry.started_at),
            step_name=entry.step_name,
            step_type=step_type,
            input_data=_object(entry.input_data),
        )
        ended_at = entry.completed_at or entry.started_at
        if status == StepStatus.FAILED:
            ended = _wire(
                "StepFailed",
                event_id_for(instance.id, f"StepFailed:{key}"),
                **_base(instance, ended_at),
                step_name=entry.step_name,
                error=str(entry.error or "step failed"),
            )
        else:
            ended = _wire(
                "StepCompleted",
                event_id_for(instance.id, f"StepCompleted:{key}"),
                **_base(instance, ended_at),
                step_name=entry.step_name,
                status=status,
                result=_jsonable(entry.result),
                output_data=_object(entry.output_data),
                duration_seconds=_duration(entry),
            )
        return [started, ended]

    def _human_step_done(self, instance: Any, index: int, entry: Any) -> list[dict[str, Any]]:
        history = instance.context.step_history
        visit = _visits(history[: index + 1], entry.step_name)
        task_id = task_id_for(instance.id, entry.step_name, visit)
        ended_at = entry.completed_at or entry.started_at
        events = [
            _wire(
                "StepCompleted",
                event_id_for(instance.id, f"StepCompleted:history:{index}"),
                **_base(instance, ended_at),
                step_name=entry.step_name,
                status=_text(entry.status).lower(),
                output_data=_object(entry.output_data),
            )
        ]
        if _dashboard_key("HumanTaskCompleted", task_id) not in self._recorded:
            # Completed in the engine app itself; the engine keeps only the last user_id.
            events.append(
                _wire(
                    "HumanTaskCompleted",
                    event_id_for(instance.id, f"HumanTaskCompleted:{task_id}"),
                    **_base(instance, ended_at),
                    step_name=entry.step_name,
                    task_id=str(task_id),
                    completed_by=str(instance.context.user_id or "engine"),
                    form_data=_object(entry.output_data),
                )
            )
        return events

    async def _task_created(
        self, instance: Any, definition: Any, step_name: str
    ) -> list[dict[str, Any]]:
        history = instance.context.step_history
        visit = 1 + _visits(history, step_name)
        task_id = task_id_for(instance.id, step_name, visit)
        # The engine records no wait time: the task was created when the previous step ended.
        created_at = (history[-1].completed_at or history[-1].started_at) if history else None
        created_at = created_at or instance.started_at
        step = definition.steps.get(step_name) if definition is not None else None
        assignee = await _assignee(step, instance.context)
        due_at = None
        due_in = getattr(step, "due_in", None)
        if isinstance(due_in, timedelta):
            due_at = _iso(_utc(created_at) + due_in)
        priority = getattr(step, "priority", None)
        return [
            _wire(
                "StepStarted",
                event_id_for(instance.id, f"StepStarted:{step_name}:{visit}"),
                **_base(instance, created_at),
                step_name=step_name,
                step_type="human",
            ),
            _wire(
                "HumanTaskCreated",
                event_id_for(instance.id, f"HumanTaskCreated:{task_id}"),
                **_base(instance, created_at),
                step_name=step_name,
                task_id=str(task_id),
                assignee=assignee,
                title=str(getattr(step, "title", None) or step_name),
                description=getattr(step, "description", None) or None,
                due_at=due_at,
                form_schema=_object(getattr(step, "form_schema", None)),
                priority=priority if isinstance(priority, int) else None,
            ),
        ]

    def _from_dataclass(self, event: Any) -> dict[str, Any]:
        fields = _jsonable(dataclasses.asdict(event))
        type_name = type(event).__name__
        digest = json.dumps(fields, sort_keys=True)
        event_id = event_id_for(fields.get("instance_id", ""), f"{type_name}:{digest}")
        return _wire(type_name, event_id, **fields)

    # -- the _running workaround -----------------------------------------------------------

    def _release_run_when_done(self, raw_id: Any) -> None:
        """``workflow.waiting`` is emitted from inside the run task, just before it returns
        without leaving ``engine._running``: forget it there once it is done."""
        if self._engine is None or raw_id is None:
            return
        instance_id = raw_id if isinstance(raw_id, uuid.UUID) else uuid.UUID(str(raw_id))
        running = getattr(self._engine, "_running", None)
        current = asyncio.current_task()
        ours = isinstance(running, dict) and running.get(instance_id) is current
        if current is not None and ours:
            current.add_done_callback(lambda task: _forget_run(self._engine, instance_id, task))


def _duration(entry: Any) -> float | None:
    if entry.started_at and entry.completed_at:
        return max(0.0, (_utc(entry.completed_at) - _utc(entry.started_at)).total_seconds())
    return None


async def _assignee(step: Any, context: Any) -> str | None:
    if step is None:
        return None
    value: Any = None
    getter = getattr(step, "get_assignee", None)
    if getter is not None:
        value = getter(context)
        if asyncio.iscoroutine(value):
            value = await value
    elif getattr(step, "assignee_key", None):
        value = context.get(step.assignee_key)
    return str(value) if value not in (None, "") else None


def _refused_indexes(response: httpx.Response, size: int) -> dict[int, str] | None:
    """From a 422 ``{"errors": [{"index", "field", "message"}]}``: the refused events."""
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        return None
    bad: dict[int, str] = {}
    for error in errors:
        if not isinstance(error, Mapping):
            continue
        index = error.get("index")
        if isinstance(index, int) and 0 <= index < size:
            message = f"{error.get('field') or 'event'}: {error.get('message')}"
            bad[index] = f"{bad[index]}; {message}" if index in bad else message
        else:
            return None  # a problem with the batch as a whole
    return bad or None


def _dashboard_key(kind: str, ident: object) -> str:
    """How the bus remembers a fact the dashboard recorded itself (``note_dashboard_event``):
    a completed task by its task id, a cancel by its instance id."""
    return f"{kind}:{ident}"


def _record_key(event: Mapping[str, Any]) -> str | None:
    kind = event.get("type")
    if kind == "HumanTaskCompleted" and event.get("task_id"):
        return _dashboard_key(kind, event["task_id"])
    if kind == "WorkflowCanceled" and event.get("instance_id"):
        return _dashboard_key(kind, event["instance_id"])
    return None  # the bus sends no copy of other kinds anyway


def _forget_run(engine: Any, instance_id: uuid.UUID, task: asyncio.Task[Any]) -> None:
    running = getattr(engine, "_running", None)
    if isinstance(running, dict) and running.get(instance_id) is task:
        del running[instance_id]
    if not task.cancelled() and task.exception() is not None:
        log.error("workflow run %s ended with %r", instance_id, task.exception())


# --- completing a human task robustly --------------------------------------------------------


class EngineBusy(RuntimeError):
    """The instance's run task is still working; try again shortly."""


async def complete_human_task(
    engine: Any,
    instance_id: uuid.UUID,
    step_name: str,
    user_id: str,
    data: dict[str, Any] | None = None,
    *,
    wait: float = 5.0,
) -> None:
    """``engine.complete_human_task`` that also resumes the workflow on 0.3.3.

    The engine keeps the finished run task of a waiting instance in ``engine._running``,
    so its own ``complete_human_task`` never starts the rest of the workflow. This drops a
    finished run (waiting up to ``wait`` seconds for one that is just emitting
    ``workflow.waiting``), completes the task, makes sure a run is going, and finishes the
    instance when nothing follows the human step (the engine would wait at it again).
    Raises ValueError (not waiting there), KeyError (unknown instance), EngineBusy.
    """
    running: dict[uuid.UUID, asyncio.Task[Any]] = engine._running
    run = running.get(instance_id)
    if run is not None and run is not asyncio.current_task():
        if not run.done():
            await asyncio.wait({run}, timeout=wait)
        if not run.done():
            raise EngineBusy(f"instance {instance_id} is still running a step")
        _forget_run(engine, instance_id, run)

    instance = await engine.get_instance(instance_id)
    await engine.complete_human_task(instance_id, step_name, user_id, dict(data or {}))

    definition = engine.registry.get_definition(instance.workflow_name)
    run = running.get(instance_id)
    nothing_next = not WorkflowGraph.from_definition(definition).get_next_steps(
        step_name, instance.context
    )
    if instance.status == WorkflowStatus.RUNNING and nothing_next:
        # The human step was the last one: the engine left current_step on it, and a new run
        # would create the same task again. (The new task has not started yet: no await since.)
        if run is not None:
            run.cancel()
            running.pop(instance_id, None)
        instance.status = WorkflowStatus.COMPLETED
        instance.completed_at = datetime.now(UTC)
        instance.current_step = None
        if engine.persistence:
            await engine.persistence.save_instance(instance)
        if engine.event_bus:
            await engine.event_bus.emit(
                "workflow.completed", instance_id=instance_id, status=instance.status
            )
        return
    if instance.status == WorkflowStatus.RUNNING and (run is None or run.done()):
        running[instance_id] = asyncio.create_task(engine._run_workflow(instance, definition))


# --- commands from the dashboard ------------------------------------------------------------


class SeenStore(Protocol):
    """Where applied command ids are remembered (a persistent one survives restarts)."""

    def __contains__(self, command_id: object) -> bool: ...

    def add(self, command_id: str) -> None: ...


class BoundedSeen:
    """The default dedup store: the last ``size`` command ids, in memory."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._ids: collections.OrderedDict[str, None] = collections.OrderedDict()

    def __contains__(self, command_id: object) -> bool:
        return command_id in self._ids

    def add(self, command_id: str) -> None:
        self._ids[command_id] = None
        self._ids.move_to_end(command_id)
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)

    def discard(self, command_id: str) -> None:
        self._ids.pop(command_id, None)


COMMAND_KINDS = frozenset({"complete", "reassign", "claim", "release", "cancel", "pause", "resume"})


class CommandError(ValueError):
    """A malformed command body (400)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Command:
    id: str
    kind: str
    instance_id: uuid.UUID
    task_id: uuid.UUID | None
    actor: str
    event: dict[str, Any]


def sign(secret: str | bytes, timestamp: int | str, raw_body: bytes) -> str:
    """The ``X-Dashboard-Signature`` value for one secret: ``v1=<hex>``."""
    key = secret.encode() if isinstance(secret, str) else secret
    message = f"{timestamp}.".encode() + raw_body
    return "v1=" + hmac.new(key, message, hashlib.sha256).hexdigest()


def _uuid_field(obj: Mapping[str, Any], name: str, *, required: bool) -> uuid.UUID | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise CommandError(f"{name}: missing")
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise CommandError(f"{name}: {value!r} is not a UUID") from None


def parse_command(raw_body: bytes, header_id: str | None) -> Command:
    try:
        body = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CommandError(f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise CommandError("the body must be a JSON object")
    command_id = _uuid_field(body, "id", required=True)
    if header_id is not None:
        try:
            same = uuid.UUID(header_id.strip()) == command_id
        except ValueError:
            same = False
        if not same:
            raise CommandError("id: does not match the X-Dashboard-Command-Id header")
    kind = body.get("kind")
    if kind not in COMMAND_KINDS:
        raise CommandError(f"kind: {kind!r} is not one of {', '.join(sorted(COMMAND_KINDS))}")
    instance_id = _uuid_field(body, "instance_id", required=True)
    task_id = _uuid_field(body, "task_id", required=kind == "complete")
    event = body.get("event") or {}
    if not isinstance(event, dict):
        raise CommandError("event: must be a JSON object")
    actor = body.get("actor") or ""
    if not isinstance(actor, str):
        raise CommandError("actor: must be a string")
    if kind == "complete":
        if not isinstance(event.get("step_name"), str) or not event["step_name"]:
            raise CommandError("event.step_name: missing (the human step to complete)")
        if event.get("form_data") is not None and not isinstance(event["form_data"], dict):
            raise CommandError("event.form_data: must be a JSON object")
    assert command_id is not None and instance_id is not None
    return Command(
        id=str(command_id),
        kind=kind,
        instance_id=instance_id,
        task_id=task_id,
        actor=actor,
        event=event,
    )


class DashboardCommands:
    """Verifies and applies the dashboard's commands; call ``handle`` from the webhook route.

    ``secret`` is the shared webhook secret (or several, while rotating on this side);
    ``tolerance`` is how far the signed timestamp may be from now, in seconds; ``seen`` is the
    store of applied command ids (default: the last ``max_seen`` in memory).
    """

    def __init__(
        self,
        engine: Any,
        secret: str | bytes | Iterable[str | bytes],
        *,
        tolerance: int = 300,
        seen: SeenStore | None = None,
        max_seen: int = 10_000,
        clock: Any = time.time,
    ) -> None:
        secrets = [secret] if isinstance(secret, str | bytes) else list(secret)
        if not secrets or not all(secrets):
            raise ValueError("DashboardCommands needs a non-empty webhook secret")
        self.engine = engine
        self._secrets = secrets
        self.tolerance = tolerance
        self.seen: SeenStore = seen if seen is not None else BoundedSeen(max_seen)
        self._clock = clock
        self._lock = asyncio.Lock()

    def verify(self, headers: Mapping[str, str], raw_body: bytes) -> str | None:
        """Why the request is not authentic (a message), or None when it is."""
        h = {k.lower(): v for k, v in headers.items()}
        stamp = (h.get("x-dashboard-timestamp") or "").strip()
        signature = h.get("x-dashboard-signature") or ""
        if not stamp or not signature:
            return "missing X-Dashboard-Timestamp or X-Dashboard-Signature"
        try:
            when = int(stamp)
        except ValueError:
            return "X-Dashboard-Timestamp must be integer unix seconds"
        if abs(self._clock() - when) > self.tolerance:
            return f"stale timestamp: more than {self.tolerance}s from this server's clock"
        given = [
            part.strip()[3:] for part in signature.split(",") if part.strip().startswith("v1=")
        ]
        expected = [sign(secret, stamp, raw_body)[3:] for secret in self._secrets]
        ok = any(hmac.compare_digest(g.encode(), e.encode()) for g in given for e in expected)
        return None if ok else "bad signature"

    async def handle(
        self, headers: Mapping[str, str], raw_body: bytes | str
    ) -> tuple[int, dict[str, Any]]:
        body = raw_body.encode() if isinstance(raw_body, str) else bytes(raw_body)
        problem = self.verify(headers, body)
        if problem:
            return 401, {"error": problem}
        h = {k.lower(): v for k, v in headers.items()}
        try:
            command = parse_command(body, h.get("x-dashboard-command-id"))
        except CommandError as exc:
            return 400, {"error": str(exc)}
        async with self._lock:  # one command at a time: no double apply of a redelivery
            if command.id in self.seen:
                return 200, {"status": "duplicate"}
            try:
                status, result = await self._apply(command)
            except EngineBusy as exc:
                return 503, {"error": str(exc)}
            except Exception as exc:
                log.exception("dashboard command %s (%s) failed", command.id, command.kind)
                return 500, {"error": f"{type(exc).__name__}: {exc}"}
            if status == 200:
                self.seen.add(command.id)
            return status, result

    async def _apply(self, command: Command) -> tuple[int, dict[str, Any]]:
        if command.kind in ("pause", "resume"):
            return 422, {
                "status": "refused",
                "error": "litestar-workflows 0.3.3 cannot pause/resume a workflow",
            }
        try:
            instance = await self.engine.get_instance(command.instance_id)
        except KeyError:  # unknown (a persistence error is not: it is a 500, retried)
            return 404, {"error": f"no workflow instance {command.instance_id} in this engine"}
        if command.kind == "complete":
            return await self._complete(command, instance)
        if command.kind == "cancel":
            return await self._cancel(command, instance)
        # reassign / claim / release: the engine keeps no assignee; the dashboard is the record.
        return 200, {"status": "acknowledged"}

    async def _complete(self, command: Command, instance: Any) -> tuple[int, dict[str, Any]]:
        event = command.event
        step_name = str(event["step_name"])
        if instance.status != WorkflowStatus.WAITING or instance.current_step != step_name:
            where = f" at {instance.current_step!r}" if instance.current_step else ""
            return 409, {
                "error": f"instance {instance.id} is not waiting at step {step_name!r} "
                f"(status {_text(instance.status)}{where})",
                "instance_status": _text(instance.status),
            }
        visit = 1 + _visits(instance.context.step_history, step_name)
        open_task = task_id_for(instance.id, step_name, visit)
        if command.task_id != open_task:
            return 409, {
                "error": f"task {command.task_id} is not the open task of step {step_name!r} "
                f"(that is {open_task})",
                "instance_status": _text(instance.status),
            }
        user = str(event.get("completed_by") or command.actor or "dashboard")
        try:
            with self._dashboard_records({"type": "HumanTaskCompleted", "task_id": open_task}):
                await complete_human_task(
                    self.engine, instance.id, step_name, user, event.get("form_data") or {}
                )
        except ValueError as exc:
            return 409, {"error": str(exc), "instance_status": _text(instance.status)}
        return 200, {"status": "applied", "instance_status": _text(instance.status)}

    async def _cancel(self, command: Command, instance: Any) -> tuple[int, dict[str, Any]]:
        if instance.status in TERMINAL:
            return 409, {
                "error": f"instance {instance.id} has already ended ({_text(instance.status)})",
                "instance_status": _text(instance.status),
            }
        reason = str(command.event.get("reason") or "canceled from the dashboard")
        with self._dashboard_records({"type": "WorkflowCanceled", "instance_id": instance.id}):
            await self.engine.cancel_workflow(instance.id, reason)
        return 200, {"status": "applied", "instance_status": _text(instance.status)}

    @contextlib.contextmanager
    def _dashboard_records(self, event: Mapping[str, Any]) -> Iterator[None]:
        """While the engine applies a command: our bus sends no copy of ``event`` (the
        dashboard recorded it); forgotten again if applying it fails."""
        bus = self.engine.event_bus
        if not isinstance(bus, DashboardEventBus):
            yield
            return
        bus.note_dashboard_event(event)
        try:
            yield
        except BaseException:
            bus.forget_dashboard_event(event)
            raise
