"""The pipeline event log, in the shape of Databricks' ``event_log()``, plus the ``system.lakeflow`` history.

Where things go:

* ``<env catalog>.<env schema>.event_log_<pipeline name>`` — one Delta table per pipeline: ``id, sequence,
  origin (struct), timestamp, message, level, maturity_level, error, details (JSON string), event_type``.
  In SQL, ``event_log('<pipeline name or id>')`` or ``event_log(TABLE(<a table it publishes>))`` reads it, as
  on Databricks (``java/EventLogFunction.java``), and ``details:flow_progress.metrics`` reads its JSON.
* ``system.lakeflow.pipeline_events`` — every pipeline's events with ``pipeline_id, pipeline_name, update_id``
  as plain columns (the course's troubleshooting queries read it).
* ``system.lakeflow.pipeline_updates`` — one row per update: state, start/end time, full refresh, error.

Events are buffered during an update and appended in one commit per table when it ends.

>>> from lakehouse_lab.pipelines.event_log import event_log_table
>>> event_log_table("orders_pipeline", "dev_catalog", "analytics")
'dev_catalog.analytics.event_log_orders_pipeline'
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import re
import uuid

from ..catalog import ensure_bookkeeping_tables
from ..frames import rows_frame
from ..parallel import side_by_side

ORIGIN = ("pipeline_id STRING, pipeline_name STRING, update_id STRING, flow_id STRING, flow_name STRING, "
          "dataset_name STRING, catalog STRING, schema STRING")
EVENT_LOG_SCHEMA = (f"id STRING, sequence BIGINT, origin STRUCT<{ORIGIN.replace(' STRING', ': STRING')}>, "
                    "timestamp TIMESTAMP, message STRING, level STRING, maturity_level STRING, error STRING, "
                    "details STRING, event_type STRING")
PIPELINE_EVENTS = "system.lakeflow.pipeline_events"
PIPELINE_EVENTS_SCHEMA = ("pipeline_id STRING, pipeline_name STRING, update_id STRING, id STRING, sequence BIGINT, "
                          "event_type STRING, level STRING, message STRING, timestamp TIMESTAMP, details STRING, "
                          "error STRING, flow_name STRING, dataset_name STRING, environment STRING")
PIPELINE_UPDATES = "system.lakeflow.pipeline_updates"
PIPELINE_UPDATES_SCHEMA = ("pipeline_id STRING, pipeline_name STRING, update_id STRING, state STRING, "
                           "start_time TIMESTAMP, end_time TIMESTAMP, full_refresh BOOLEAN, "
                           "full_refresh_selection STRING, environment STRING, catalog STRING, schema STRING, "
                           "error_message STRING, created_by STRING")


def event_log_table(pipeline_name: str, catalog: str, schema: str) -> str:
    """The event log's table name for a pipeline."""
    safe = re.sub(r"\W+", "_", pipeline_name).lower()
    return f"{catalog}.{schema}.event_log_{safe}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class EventBuffer:
    """Events of one update, in order; :meth:`flush` appends them to the event log and system tables."""

    def __init__(self, pipeline_id: str, pipeline_name: str, update_id: str, catalog: str, schema: str, env: str):
        self.pipeline_id, self.pipeline_name, self.update_id = pipeline_id, pipeline_name, update_id
        self.catalog, self.schema, self.env = catalog, schema, env
        self.events: list[dict] = []

    def add(self, event_type: str, message: str, details: dict, *, level: str = "INFO", flow: str | None = None,
            error: str | None = None, dataset: str | None = None) -> dict:
        """Buffer one event; ``dataset`` is the flow's target when it is not the flow's own name (``CREATE FLOW``)."""
        event = {
            "id": str(uuid.uuid4()), "sequence": len(self.events) + 1, "timestamp": _now(),
            "origin": {"pipeline_id": self.pipeline_id, "pipeline_name": self.pipeline_name,
                       "update_id": self.update_id, "flow_id": _flow_id(self.pipeline_id, flow) if flow else None,
                       "flow_name": flow, "dataset_name": dataset or flow, "catalog": self.catalog,
                       "schema": self.schema},
            "message": message, "level": level, "maturity_level": "STABLE", "error": error,
            "details": json.dumps({event_type: details}, default=str), "event_type": event_type,
        }
        self.events.append(event)
        return event

    def flush(self, spark, update_row: dict) -> None:
        """Append the buffered events and the update's row: three small Delta commits, run side by side."""
        ensure_tables(spark, self.catalog, self.schema, self.pipeline_name)
        rows = [(self.pipeline_id, self.pipeline_name, self.update_id, e["id"], e["sequence"], e["event_type"],
                 e["level"], e["message"], e["timestamp"], e["details"], e["error"], e["origin"]["flow_name"],
                 e["origin"]["dataset_name"], self.env) for e in self.events]
        update = tuple(update_row[c.split()[0]] for c in _columns(PIPELINE_UPDATES_SCHEMA))
        appends = [(event_log_table(self.pipeline_name, self.catalog, self.schema),
                    [_event_tuple(e) for e in self.events], EVENT_LOG_SCHEMA),
                   (PIPELINE_EVENTS, rows, PIPELINE_EVENTS_SCHEMA),
                   (PIPELINE_UPDATES, [update], PIPELINE_UPDATES_SCHEMA)]
        side_by_side(spark, *[functools.partial(append_rows, spark, *append) for append in appends])
        self.events.clear()


def _columns(schema: str) -> list[str]:
    return [c.strip() for c in schema.split(", ")]


def _event_tuple(e: dict) -> tuple:
    o = e["origin"]
    origin = (o["pipeline_id"], o["pipeline_name"], o["update_id"], o["flow_id"], o["flow_name"],
              o["dataset_name"], o["catalog"], o["schema"])
    return (e["id"], e["sequence"], origin, e["timestamp"], e["message"], e["level"], e["maturity_level"],
            e["error"], e["details"], e["event_type"])


def _flow_id(pipeline_id: str, flow: str) -> str:
    return str(uuid.uuid5(uuid.UUID(pipeline_id), flow))


def append_rows(spark, table: str, rows: list[tuple], schema: str) -> None:
    from .delta_log import TableLog

    frame = rows_frame(spark, rows, schema)
    if TableLog.of(spark, table).append(frame) is None:
        frame.write.mode("append").saveAsTable(table)


def ensure_tables(spark, catalog: str, schema: str, pipeline_name: str) -> None:
    """Create the event log and the two system tables if missing (idempotent)."""
    ensure_bookkeeping_tables(spark, {event_log_table(pipeline_name, catalog, schema): EVENT_LOG_SCHEMA,
                                      PIPELINE_EVENTS: PIPELINE_EVENTS_SCHEMA, PIPELINE_UPDATES: PIPELINE_UPDATES_SCHEMA})


def read_event_log(spark, pipeline_name: str, catalog: str, schema: str):
    """The pipeline's event log as a DataFrame, newest event first."""
    table = event_log_table(pipeline_name, catalog, schema)
    if not spark.catalog.tableExists(table):
        raise LookupError(f"pipeline {pipeline_name!r} has no event log in {catalog}.{schema} yet "
                          f"(expected table {table}); run the pipeline first")
    return spark.read.table(table).orderBy("timestamp", "sequence", ascending=False)


def latest_schema(spark, pipeline_name: str, catalog: str) -> str | None:
    """The schema the pipeline's latest update in ``catalog`` published to (None if it never ran)."""
    if not spark.catalog.tableExists(PIPELINE_UPDATES):
        return None
    from pyspark.sql import functions as F

    rows = (spark.read.table(PIPELINE_UPDATES)
            .where((F.col("pipeline_name") == pipeline_name) & (F.col("catalog") == catalog))
            .orderBy(F.col("start_time").desc()).select("schema").limit(1).collect())
    return rows[0][0] if rows else None
