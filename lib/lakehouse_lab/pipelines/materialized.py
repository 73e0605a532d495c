"""Refreshing a materialized view: skip it, absorb its sources' new rows, or recompute it (see ``incremental``).

Every write is one Delta commit; a failing expectation aborts it, so the view's version does not change. When
the view is written from something other than its own query (new rows only, or the aggregate state), the
write itself is not captured for lineage; the view's query is recorded instead, so lineage names the real
sources, as for any other write.
"""
from __future__ import annotations

import json
import re
import shutil

from .. import expectations as ex
from ..catalog import quote
from ..frames import empty_frame
from ..lineage import capture
from ..parallel import side_by_side
from . import aggregates, incremental
from .flows import (DatasetResult, UpdateContext, build_dataframe, definition_changed, flow_sql, raise_expectation,
                    same_columns, writer_v2)
from .model import Dataset, PipelineDefinitionError


def refresh(ctx: UpdateContext, ds: Dataset, result: DatasetResult, df, full_refresh: bool) -> None:
    """Refresh ``ds`` whose query is ``df``; fills ``result`` (rows, quality, the technique used)."""
    if df.isStreaming:
        raise PipelineDefinitionError(f"{ds.where}: materialized view {ds.name!r} got a streaming query; "
                                      "declare a streaming table, or read the sources without STREAM/read_stream")
    flow = ds.flows[0]
    sql = flow_sql(ctx, flow) if flow.sql is not None else None
    shape, reason = incremental.describe(ctx, ds, df, sql)
    plan = incremental.plan(ctx, ds, shape, reason, full_refresh)
    result.technique, result.technique_reason = plan.technique, plan.reason
    if plan.technique == "NO_OP":
        return
    state = plan.kept
    if plan.technique == "COMPLETE_RECOMPUTE":
        before = incremental.versions(ctx, shape) if shape else {}
        extra = _recompute(ctx, ds, result, df, sql, shape, full_refresh, state)
    else:
        before = {s: (state["sources"][s][0], plan.changes[s][1] if s in plan.changes else state["sources"][s][1])
                  for s in shape.sources}
        extra = _incremental(ctx, ds, result, df, sql, shape, plan, state)
        capture.record_stream(df, ctx.full_name(ds.name), ctx.spark)
    if shape:
        incremental.save(ctx, ds, shape, before, extra)
    else:
        incremental.forget(ctx, ds.name)


def _recompute(ctx, ds, result, df, sql, shape, full_refresh, state) -> dict:
    if not (shape and shape.technique == "GROUP_AGGREGATE"):
        with capture.not_captured(ctx.spark):
            _write(ctx, ds, result, df, lambda checked: overwrite(ctx, ds, ds.name, checked, full_refresh, quick=True))
        capture.record_stream(df, ctx.full_name(ds.name), ctx.spark)
        return {}
    rewrite = aggregates.rewrite(sql)
    partials = ctx.spark.sql(rewrite.partial_sql(quote(shape.sources[0])))
    kept = _save_state_and_write(ctx, ds, result, rewrite, partials, df.schema, state, full_refresh)
    capture.record_stream(df, ctx.full_name(ds.name), ctx.spark)
    return kept


def _incremental(ctx, ds, result, df, sql, shape, plan, state) -> dict:
    source = shape.sources[0]
    view = f"__lab_new_rows_{ds.name}"
    incremental.appended_rows(ctx, source, *plan.changes[source]).createOrReplaceTempView(view)
    try:
        if plan.technique == "APPEND_ONLY":
            new_rows = build_dataframe(ctx, ds.flows[0], resolve=_reading(ctx, source, view))
            with capture.not_captured(ctx.spark):
                _write(ctx, ds, result, new_rows, lambda checked: _append(ctx, ctx.full_name(ds.name), checked),
                       append=True)
            return {}
        rewrite = aggregates.rewrite(sql)
        kept = _aggregate_state(ctx, ds, state)
        types = {f.name: f.dataType.simpleString() for f in kept.schema.fields}
        merged = rewrite.merge(kept, ctx.spark.sql(rewrite.row_partials_sql(f"`{view}`", types)))
        return _save_state_and_write(ctx, ds, result, rewrite, merged, df.schema, state, False)
    finally:
        ctx.spark.catalog.dropTempView(view)


def _save_state_and_write(ctx, ds, result, rewrite, state_rows, schema, state: dict, reset: bool) -> dict:
    """Compute the aggregate state once, into memory, then write the next state snapshot and the view from it
    side by side. Each write computing the state on its own cost ~0.5 s more (incremental refresh, 2M orders).
    The state is not captured: lineage names the view's real sources (recorded by the caller), not its files."""
    with capture.not_captured(ctx.spark):
        state_rows = state_rows.localCheckpoint(eager=True)
    kept, _ = side_by_side(ctx.spark, lambda: _save_aggregate_state(ctx, ds, state_rows, state),
                           lambda: _write_final(ctx, ds, result, rewrite.final(state_rows, schema), reset))
    return kept


def _append(ctx: UpdateContext, table: str, rows) -> None:
    if ctx.table_log(table).append(rows) is None:
        rows.writeTo(table).append()


def _reading(ctx: UpdateContext, source: str, view: str):
    """A resolver that reads ``view`` wherever the query reads pipeline table ``source``."""
    def resolve(name: str) -> str:
        return f"`{view}`" if ctx.full_name(name).lower() == source.lower() else ctx.resolve(name)
    return resolve


def _save_aggregate_state(ctx, ds, partials, state: dict) -> dict:
    """Write ``partials`` as the next numbered Parquet snapshot of the view's aggregate state. It becomes the
    kept state only when the refresh record names it (``incremental.save``), so a failed refresh leaves the
    previous one in place. Plain Parquet, not Delta: a Delta commit would add ~1 s to every refresh."""
    number = int(state.get("aggregate_state", 0)) + 1
    path = incremental.aggregate_state_path(ctx, ds.name) / str(number)
    shutil.rmtree(path, ignore_errors=True)
    with capture.not_captured(ctx.spark):
        partials.write.parquet(str(path))
    return {"aggregate_state": number, "aggregate_schema": partials.schema.json()}


def _aggregate_state(ctx, ds, kept: dict):
    from pyspark.sql.types import StructType

    path = incremental.aggregate_state_path(ctx, ds.name) / str(kept["aggregate_state"])
    literal = re.sub(r"([\[\]{}*?\\])", r"\\\1", str(path))  # file reads glob: "[dev] orders" is a pattern
    return ctx.spark.read.schema(StructType.fromJson(json.loads(kept["aggregate_schema"]))).parquet(literal)


def _write_final(ctx, ds, result, rows, reset: bool) -> None:
    """Overwrite the view with ``rows`` computed from its aggregate state (lineage: recorded from its query)."""
    with capture.not_captured(ctx.spark):
        _write(ctx, ds, result, rows, lambda checked: overwrite(ctx, ds, ds.name, checked, reset, quick=True))


def _write(ctx, ds, result, df, write, append: bool = False) -> None:
    """Apply the expectations to ``df``, ``write`` it, and count rows, drops and quarantined rows."""
    checked = ex.apply(df, ds.expectations, ds.name)
    try:
        write(checked.df)
    except Exception as exc:  # noqa: BLE001 - translate an expectation's assertion
        raise_expectation(exc, ds, df)
        raise
    metrics = checked.observation.get
    result.num_input_rows = int(metrics.get("num_input_rows") or 0)
    result.add_quality(checked.quality(metrics, ds.name))
    if ds.quarantine and any(e.action == "drop" for e in ds.expectations):
        from pyspark.sql import functions as F

        bad = ex.quarantine_rows(df, ds.expectations).withColumn("_update_id", F.lit(ctx.update_id))
        name = f"{ds.name}_quarantine"
        if append and ctx.spark.catalog.tableExists(ctx.full_name(name)):
            bad.write.format("delta").mode("append").option("mergeSchema", "true").saveAsTable(ctx.full_name(name))
        else:
            overwrite(ctx, Dataset(name, "materialized_view"), name, bad, not append)
        result.quarantined = result.rows_dropped


def overwrite(ctx: UpdateContext, ds: Dataset, name: str, df, reset: bool, quick: bool = False) -> None:
    """Replace the table's rows in one Delta commit (created first, or re-created when its columns changed).

    ``writeTo().overwrite()`` is used rather than ``REPLACE TABLE AS SELECT`` because metrics observed on a
    DataFrame reach the driver for it (checked on Spark 4.1 + Delta 4: not for CTAS/RTAS). ``quick``: when the
    table's latest commit names all its files, commit without Delta rebuilding its file list first
    (``TableLog.replace_rows``); the write is then not seen by lineage capture, so the caller records it."""
    from pyspark.sql import functions as F

    target = ctx.full_name(name)
    exists = ctx.spark.catalog.tableExists(target)
    if (not exists or not same_columns(ctx.spark.read.table(target).schema, df.schema)
            or (reset and definition_changed(ctx, ds, name))):
        writer_v2(empty_frame(ctx.spark, df.schema), ctx, ds, name).createOrReplace()
    if quick and ctx.table_log(target).replace_rows(df) is not None:
        return
    df.writeTo(target).overwrite(F.lit(True))
