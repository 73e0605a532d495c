"""Which pipeline a published table belongs to, as on Databricks: one pipeline updates a table.

A pipeline creates its tables (streaming tables, materialized views, quarantine tables) with its id in the table
property ``pipelines.pipelineId``, the property Databricks sets. Before an update writes anything, every table it
is about to write is checked: a table of another pipeline, or one no pipeline created, fails the update before
its first write, with the way out in the message. Hand a table over as on Databricks, by setting the property to
the new pipeline's id (``ALTER STREAMING TABLE t SET TBLPROPERTIES ('pipelines.pipelineId' = '<id>')``, or
``ALTER MATERIALIZED VIEW``; the lab's SQL extension reads both as ``ALTER TABLE``). A table without
the property that the pipeline's own event log shows it wrote (created before owners were recorded) is marked as
its own when the update runs.

>>> claims = check(ctx, ["bronze_orders", "silver_orders"])   # doctest: +SKIP
>>> print(claims.conflicts["silver_orders"])                  # doctest: +SKIP
02_silver_orders.sql:1: dataset 'silver_orders': table dev_catalog.analytics.silver_orders belongs to pipeline
'orders_pipeline' (id 5c1e…); only that pipeline updates it. …
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..catalog import quote
from .event_log import PIPELINE_UPDATES, event_log_table
from .flows import UpdateContext
from .model import OWNER_PROPERTY


def tables_of(ctx: UpdateContext, name: str) -> list[str]:
    """The tables dataset ``name`` writes: its own (none for a view) and its quarantine table."""
    ds = ctx.pipeline.datasets[name]
    if ds.kind == "view":
        return []
    return [name, f"{name}_quarantine"] if ds.quarantine else [name]


@dataclass
class Claims:
    """What an update may write: the datasets it may not (with why), and tables of its own that carry no owner
    yet (created before owners were recorded; its event log shows it wrote them), to be marked as its own."""

    conflicts: dict[str, str] = field(default_factory=dict)
    unmarked: list[str] = field(default_factory=list)


def check(ctx: UpdateContext, names) -> Claims:
    """Which of the tables the datasets ``names`` write this pipeline may write (see :class:`Claims`)."""
    claims = Claims()
    for name in names:
        for table in tables_of(ctx, name):
            target = ctx.full_name(table)
            try:
                log = ctx.table_log(target)
            except Exception:  # noqa: BLE001 - no Delta table there: none yet is fine, any other is Spark's to report
                if ctx.spark.catalog.tableExists(target):
                    raise
                continue
            owner = log.snapshot().properties.get(OWNER_PROPERTY)
            if owner == ctx.pipeline_id:
                continue
            if owner is None and _wrote_before(ctx, name):
                claims.unmarked.append(target)
                continue
            claims.conflicts[name] = _explain(ctx, name, target, owner)
            break
    return claims


def claim(ctx: UpdateContext, tables: list[str]) -> None:
    """Mark ``tables`` as this pipeline's (one metadata commit each)."""
    for table in tables:
        ctx.spark.sql(f"ALTER TABLE {quote(table)} SET TBLPROPERTIES ('{OWNER_PROPERTY}' = '{ctx.pipeline_id}')")


def _wrote_before(ctx: UpdateContext, dataset: str) -> bool:
    """Whether this pipeline's event log has events of ``dataset`` (it wrote it in an earlier update)."""
    from pyspark.sql import functions as F

    log = event_log_table(ctx.pipeline.name, ctx.catalog, ctx.schema)
    return (ctx.spark.catalog.tableExists(log)
            and bool(ctx.spark.read.table(log).where(F.col("origin.dataset_name") == dataset).limit(1).collect()))


def _explain(ctx: UpdateContext, name: str, target: str, owner: str | None) -> str:
    where = ctx.pipeline.datasets[name].where
    if owner is None:
        problem = (f"table {target} exists and no pipeline created it (it has no {OWNER_PROPERTY!r} property); "
                   "a pipeline writes only the tables it created")
    else:
        problem = (f"table {target} belongs to pipeline {_pipeline_name(ctx.spark, owner)!r} (id {owner}); "
                   "only that pipeline updates it")
    return (f"{where}: dataset {name!r}: {problem}. Publish this pipeline into another schema, rename the "
            f"dataset, drop the table, or hand the table to this pipeline: ALTER {_kind_sql(ctx, name, target)} "
            f"{target} SET TBLPROPERTIES ('{OWNER_PROPERTY}' = '{ctx.pipeline_id}')")


def _kind_sql(ctx: UpdateContext, name: str, target: str) -> str:
    """How Databricks' ALTER names the table: STREAMING TABLE, MATERIALIZED VIEW, or TABLE (a quarantine)."""
    kind = ctx.pipeline.datasets[name].kind  # a @dp.table's: learned when preflight resolved its query
    if not target.endswith(f".{name}") or kind is None:
        return "TABLE"  # a quarantine table, or a @dp.table preflight could not resolve: Spark's own form
    return "STREAMING TABLE" if kind == "streaming_table" else "MATERIALIZED VIEW"


def _pipeline_name(spark, pipeline_id: str) -> str:
    """The name of pipeline ``pipeline_id`` from its updates in ``system.lakeflow`` ('unknown' if none)."""
    from pyspark.sql import functions as F

    if not spark.catalog.tableExists(PIPELINE_UPDATES):
        return "unknown"
    rows = (spark.read.table(PIPELINE_UPDATES).where(F.col("pipeline_id") == pipeline_id)
            .select("pipeline_name").limit(1).collect())
    return rows[0].pipeline_name if rows else "unknown"
