"""Who is running the current Spark work: a notebook, a pipeline update, or a job run.

Databricks links every lineage record and history row to the entity that produced it (``entity_type``
``NOTEBOOK`` / ``PIPELINE`` / ``JOB``, ``entity_id``, ``entity_run_id``). The pipeline engine and the job runner
wrap their work in :func:`entity`; the lineage capture and history writers read :func:`current`. The values are
also set as Spark local properties (``lakehouse_lab.entity_type`` …) so JVM-side code and Spark job events
carry them.

>>> from lakehouse_lab import run_context
>>> run_context.current().entity_type
'NOTEBOOK'
>>> with run_context.entity("PIPELINE", "orders_pipeline", "update-1"):
...     run_context.current().entity_run_id
'update-1'
"""
from __future__ import annotations

import contextlib
import contextvars
import getpass
import os
from dataclasses import dataclass

PROPERTY_PREFIX = "lakehouse_lab."


@dataclass(frozen=True)
class Entity:
    entity_type: str
    entity_id: str | None
    entity_run_id: str | None
    created_by: str


def _default() -> Entity:
    """The process's entity: a job run's when the job runner started this process (a task), else the notebook."""
    user = os.environ.get("LAKEHOUSE_LAB_USER") or f"{getpass.getuser()}@lakehouse.lab"
    if os.environ.get("LAKEHOUSE_LAB_ENTITY_TYPE") == "JOB":
        return Entity("JOB", os.environ.get("LAKEHOUSE_LAB_ENTITY_ID"), os.environ.get("LAKEHOUSE_LAB_ENTITY_RUN_ID"),
                      user)
    return Entity("NOTEBOOK", os.environ.get("LAKEHOUSE_LAB_NOTEBOOK"), None, user)


_current: contextvars.ContextVar[Entity | None] = contextvars.ContextVar("lakehouse_lab_entity", default=None)


def current() -> Entity:
    """The entity the running code belongs to (a notebook unless a pipeline or job says otherwise)."""
    return _current.get() or _default()


@contextlib.contextmanager
def entity(entity_type: str, entity_id: str | None, entity_run_id: str | None, spark=None):
    """Run the body as ``entity_type`` (``PIPELINE``, ``JOB``, ``NOTEBOOK``) with the given ids."""
    if entity_type not in {"NOTEBOOK", "PIPELINE", "JOB"}:
        raise ValueError(f"entity_type must be NOTEBOOK, PIPELINE or JOB, not {entity_type!r}")
    value = Entity(entity_type, entity_id, entity_run_id, current().created_by)
    token = _current.set(value)
    previous = _set_local_properties(spark, value)
    try:
        yield value
    finally:
        _current.reset(token)
        _restore_local_properties(spark, previous)


def mark_thread(spark, value: Entity) -> None:
    """Mark every Spark job this thread starts from now on as ``value``'s (a process attached to a shared
    driver, whose listener's defaults belong to the driver's owner)."""
    _set_local_properties(spark, value)


def _fields(value: Entity) -> dict[str, str | None]:
    return {"entity_type": value.entity_type, "entity_id": value.entity_id,
            "entity_run_id": value.entity_run_id, "created_by": value.created_by}


def _set_local_properties(spark, value: Entity) -> dict[str, str | None]:
    if spark is None:
        return {}
    context = spark.sparkContext
    previous = {k: context.getLocalProperty(PROPERTY_PREFIX + k) for k in _fields(value)}
    for key, item in _fields(value).items():
        context.setLocalProperty(PROPERTY_PREFIX + key, item)
    return previous


def _restore_local_properties(spark, previous: dict[str, str | None]) -> None:
    if spark is None:
        return
    for key, item in previous.items():
        spark.sparkContext.setLocalProperty(PROPERTY_PREFIX + key, item)
