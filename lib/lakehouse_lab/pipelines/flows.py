"""Running one dataset of an update: build its query, apply expectations, write it the way its kind says.

* streaming table — each flow is a Structured Streaming query (``availableNow``) with its own checkpoint; each
  micro-batch is checked and appended in one Delta commit, and a batch run again after a crash is not appended
  twice (``batch_writes``); a full refresh replaces the table's rows in the first batch's commit;
* materialized view — refreshed by ``materialized.refresh``: skipped, brought up to date from its sources' new
  rows, or recomputed (``incremental`` explains which and why); each write is one Delta commit, and a failing
  expectation aborts it, so the table's Delta version does not change;
* view — registered as a temporary view for the rest of the update, not stored.
"""
from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .. import expectations as ex
from ..catalog import quote, use
from ..frames import empty_frame
from . import batch_writes, python_api, sql_parser
from .model import OWNER_PROPERTY, QUARANTINE_PROPERTY, Dataset, Flow, PipelineDefinitionError

# Called as hook(streaming_df, target_table, flow_name) just before a flow's stream starts: the moment its
# analysed plan still names the source tables (e.g. for lineage capture).
on_stream_start: list = []


@dataclass
class DatasetResult:
    """What an update did to one dataset."""

    name: str
    kind: str
    table: str | None
    status: str = "QUEUED"  # COMPLETED | FAILED | SKIPPED
    num_input_rows: int = 0
    rows_written: int = 0
    rows_dropped: int = 0
    expectations: list = field(default_factory=list)
    quarantined: int = 0
    duration_s: float = 0.0
    error: str | None = None
    reads: list = field(default_factory=list)
    technique: str | None = None         # materialized views: NO_OP, APPEND_ONLY, GROUP_AGGREGATE, COMPLETE_RECOMPUTE
    technique_reason: str | None = None  # why it was not incremental
    flows: list = field(default_factory=list)  # a streaming table with several flows: a DatasetResult per flow

    def add_flow(self, flow: "DatasetResult") -> None:
        """Count what one flow of this streaming table wrote into the table's totals."""
        flow.status, flow.rows_written = "COMPLETED", flow.num_input_rows - flow.rows_dropped
        self.flows.append(flow)
        self.num_input_rows += flow.num_input_rows
        self.quarantined += flow.quarantined
        self.add_quality(flow.data_quality())

    def add_quality(self, quality: dict) -> None:
        """Sum ``data_quality`` counts (several batches or flows) into this result."""
        self.rows_dropped += quality["dropped_records"]
        by_name = {e["name"]: e for e in self.expectations}
        for e in quality["expectations"]:
            if e["name"] in by_name:
                by_name[e["name"]]["passed_records"] += e["passed_records"]
                by_name[e["name"]]["failed_records"] += e["failed_records"]
            else:
                self.expectations.append(dict(e))
                by_name[e["name"]] = self.expectations[-1]

    def data_quality(self) -> dict:
        return {"dropped_records": self.rows_dropped,
                "expectations": [{k: e[k] for k in ("name", "dataset", "passed_records", "failed_records")}
                                 for e in self.expectations]}


@dataclass
class UpdateContext:
    """What the flows of one update share: the session, target namespace, name resolution, checkpoints."""

    spark: object
    pipeline: object
    catalog: str
    schema: str
    update_id: str
    checkpoint_root: Path
    configuration: dict
    delta_logs: dict = field(default_factory=dict)  # table name -> delta_log.TableLog, looked up once per update
    background: object = None                      # parallel.Background of the update, for work ahead of time
    pipeline_id: str = ""                          # written into the tables it creates (``ownership``)

    def full_name(self, name: str) -> str:
        return f"{self.catalog}.{self.schema}.{name}"

    def quoted(self, name: str) -> str:
        return quote(self.full_name(name))

    def dataset(self, name: str) -> Dataset | None:
        """The pipeline's dataset called ``name`` (case-insensitive), if any."""
        return (self.pipeline.datasets.get(name)
                or {n.lower(): d for n, d in self.pipeline.datasets.items()}.get(name.lower()))

    def resolve(self, name: str) -> str:
        """What a read of pipeline dataset ``name`` should read: the temporary view or the stored table."""
        ds = self.dataset(name)
        if ds is None:
            return name
        return f"`{ds.name}`" if ds.kind == "view" else self.quoted(ds.name)

    def table_log(self, table: str):
        """The ``delta_log.TableLog`` of ``table`` (a three-level name), looked up once per update."""
        from .delta_log import TableLog

        if table not in self.delta_logs:
            self.delta_logs[table] = TableLog.of(self.spark, table)
        return self.delta_logs[table]

    def prepare_write(self, name: str, quick: bool = False) -> None:
        """Have Delta build dataset ``name``'s table state in the background, for an overwrite later in this
        update (``TableLog.prepare_write``). ``quick``: the overwrite will not need it when the latest commit
        names every file (``TableLog.replace_rows``)."""
        if self.background is None:
            return
        from .delta_log import TableLog

        target = self.full_name(name)

        def prepare():
            if self.spark.catalog.tableExists(target):
                log = TableLog.of(self.spark, target)
                if not (quick and log.files_known()):
                    log.prepare_write()

        self.background.submit(prepare)

    def checkpoint(self, flow: Flow) -> Path:
        return self.checkpoint_root / flow.target / flow.name


def flow_sql(ctx: UpdateContext, flow: Flow, resolve=None) -> str:
    """The flow's SQL with ``LIVE.x`` resolved (by ``resolve``, default the update's) and ``${conf}`` set."""
    text = sql_parser.rewrite_live(flow.sql, resolve or ctx.resolve)
    for key, value in ctx.configuration.items():
        text = text.replace("${" + key + "}", str(value))
    return text


def build_dataframe(ctx: UpdateContext, flow: Flow, resolve=None):
    """The flow's DataFrame: SQL with ``LIVE.x`` and ``${conf}`` substituted, or the Python function's result.
    ``resolve`` maps pipeline dataset names to what to read (default: their tables and views).

    Unqualified names resolve in the pipeline's target schema (set again here: writes into the lab catalogs
    can move the session's current schema)."""
    use(ctx.spark, ctx.catalog, ctx.schema)
    if flow.sql is not None:
        return ctx.spark.sql(flow_sql(ctx, flow, resolve))
    token = python_api._resolver.set(resolve or ctx.resolve)
    try:
        df = flow.function()
    finally:
        python_api._resolver.reset(token)
    if df is None or not hasattr(df, "isStreaming"):
        raise PipelineDefinitionError(f"{flow.file}:{flow.line}: {flow.name}() must return a DataFrame, "
                                      f"got {type(df).__name__}")
    return df


def run_dataset(ctx: UpdateContext, ds: Dataset, full_refresh: bool) -> DatasetResult:
    """Run every flow of ``ds``; raises :class:`ExpectationFailed` (or Spark's error) on failure."""
    started = time.perf_counter()
    result = DatasetResult(ds.name, ds.kind or "table", None if ds.kind == "view" else ctx.full_name(ds.name))
    if ds.kind == "view":
        _run_view(ctx, ds)
    else:
        first = build_dataframe(ctx, ds.flows[0])
        if ds.kind is None:  # @dp.table: streaming table when the query streams
            ds.kind = "streaming_table" if first.isStreaming else "materialized_view"
            result.kind = ds.kind
        if ds.kind == "streaming_table":
            _run_streaming_table(ctx, ds, result, full_refresh, first)
        else:
            from .materialized import refresh

            refresh(ctx, ds, result, first, full_refresh)
    result.rows_written = result.num_input_rows - result.rows_dropped
    result.status, result.duration_s = "COMPLETED", time.perf_counter() - started
    return result


def _run_view(ctx: UpdateContext, ds: Dataset) -> None:
    df = build_dataframe(ctx, ds.flows[0])
    if ds.expectations:
        df = ex.apply(df, ds.expectations, ds.name, observe=False).df
    df.createOrReplaceTempView(ds.name)


def table_properties(ds: Dataset) -> dict[str, str]:
    """The Delta properties a pipeline table is created with: the change data feed on (so materialized views
    downstream can read just its new rows), then the definition's own ``TBLPROPERTIES``."""
    wanted = {"delta.enableChangeDataFeed": "true", **{k: str(v) for k, v in ds.table_properties.items()}}
    wanted.pop(QUARANTINE_PROPERTY, None)
    return wanted


def writer_v2(df, ctx: UpdateContext, ds: Dataset, name: str):
    """A writer that creates table ``name`` for ``ds``: its properties, comment, partitioning and owner."""
    writer = df.writeTo(ctx.full_name(name)).using("delta")
    for key, value in {**table_properties(ds), OWNER_PROPERTY: ctx.pipeline_id}.items():
        writer = writer.tableProperty(key, value)
    if ds.comment:
        writer = writer.tableProperty("comment", ds.comment)
    if ds.partition_cols:
        from pyspark.sql import functions as F

        writer = writer.partitionedBy(*[F.col(c) for c in ds.partition_cols])
    return writer


def raise_expectation(exc: BaseException, ds: Dataset, source_df) -> None:
    failed = ex.failed_expectation(exc, ds.expectations)
    if failed is not None:
        raise ex.ExpectationFailed(ds.name, failed, ex.violating_sample(source_df, failed)) from None


def reset_streaming_table(ctx: UpdateContext, ds: Dataset, drop: bool) -> None:
    """Forget what the streaming table has processed: drop it (if ``drop``) and delete its checkpoints.
    A checkpoint without its table is deleted too, so a dropped table is rebuilt from the start."""
    exists = ctx.spark.catalog.tableExists(ctx.full_name(ds.name))
    if drop and exists:
        ctx.spark.sql(f"DROP TABLE IF EXISTS {ctx.quoted(ds.name)}")
        ctx.delta_logs.pop(ctx.full_name(ds.name), None)
    if drop or not exists:
        shutil.rmtree(ctx.checkpoint_root / ds.name, ignore_errors=True)


def same_columns(a, b) -> bool:
    """Whether two ``StructType``s have the same column names and types, in order (nullability aside)."""
    return [(f.name.lower(), f.dataType.simpleString()) for f in a] == \
        [(f.name.lower(), f.dataType.simpleString()) for f in b]


def definition_changed(ctx: UpdateContext, ds: Dataset, name: str) -> bool:
    """Whether table ``name`` must be re-created for ``ds``: its comment, properties or partitioning changed."""
    from .delta_log import TableLog

    current = TableLog.of(ctx.spark, ctx.full_name(name)).snapshot()  # ~20 ms; DESCRIBE DETAIL ~0.6 s
    return ((current.description or None) != (ds.comment or None)
            or any(current.properties.get(k) != v for k, v in table_properties(ds).items())
            or list(current.partition_columns) != list(ds.partition_cols or []))


def _replaceable(ctx: UpdateContext, ds: Dataset, columns) -> bool:
    """Whether a full refresh can keep the table and replace its rows (same columns, same definition)."""
    target = ctx.full_name(ds.name)
    return (ctx.spark.catalog.tableExists(target) and same_columns(ctx.spark.read.table(target).schema, columns)
            and not definition_changed(ctx, ds, ds.name))


def _run_streaming_table(ctx: UpdateContext, ds: Dataset, result: DatasetResult, full_refresh: bool, first) -> None:
    """Run the table's flows. A full refresh of a table whose columns and definition are unchanged keeps the
    table: its checkpoints are deleted and the first micro-batch replaces its rows in one overwrite commit
    (dropping and re-creating it costs ~1 s more at 2M rows). Otherwise the table is dropped and re-created.
    Until the refresh ends, a marker says it is unfinished, so the next update refreshes the table again
    rather than append the whole source to the old rows."""
    unfinished = ctx.checkpoint_root / ds.name / "lab_full_refresh_unfinished"
    full_refresh = full_refresh or unfinished.exists()
    replace = full_refresh and _replaceable(ctx, ds, first.schema)
    reset_streaming_table(ctx, ds, drop=full_refresh and not replace)
    if replace:
        shutil.rmtree(ctx.checkpoint_root / ds.name, ignore_errors=True)
        unfinished.parent.mkdir(parents=True)
        unfinished.touch()
    pending = {"replace": replace}
    for i, flow in enumerate(ds.flows):
        df = first if i == 0 else build_dataframe(ctx, flow)
        if not df.isStreaming:
            raise PipelineDefinitionError(f"{flow.file}:{flow.line}: streaming table {ds.name!r}: flow "
                                          f"{flow.name!r} must read a stream (STREAM(x), spark.readStream, "
                                          "dlt.read_stream); for a batch query use a materialized view")
        flow_result = DatasetResult(flow.name, ds.kind, result.table)
        _run_stream(ctx, ds, flow, df, flow_result, pending)
        result.add_flow(flow_result)
    if pending["replace"]:  # no micro-batch ran: the sources are empty, so is the refreshed table
        from pyspark.sql import functions as F

        target = ctx.full_name(ds.name)
        empty_frame(ctx.spark, ctx.spark.read.table(target).schema).writeTo(target).overwrite(F.lit(True))
    unfinished.unlink(missing_ok=True)


def writer_id(ctx: UpdateContext, ds: Dataset, flow: Flow) -> str:
    """The id the flow's batch commits carry (``batch_writes``), kept in its checkpoint folder.

    A new checkpoint gets a new id: its batch ids start again at 0, and a batch id the table already holds under
    the old id would be taken for written. Checkpoints from before this id was kept use the flow's name."""
    folder = ctx.checkpoint(flow)
    marker = folder / "lab_txn_app_id"  # named when the id was Delta's txnAppId; kept so existing ids still read
    if marker.exists():
        return marker.read_text().strip()
    name = f"{ctx.pipeline.name}.{ds.name}.{flow.name}"
    if folder.exists():
        return name
    folder.mkdir(parents=True)
    app_id = f"{name}.{uuid.uuid4().hex[:12]}"
    marker.write_text(app_id)
    return app_id


def _run_stream(ctx: UpdateContext, ds: Dataset, flow: Flow, df, result: DatasetResult, pending: dict) -> None:
    """One flow as an ``availableNow`` stream; ``pending["replace"]``: the next batch replaces the table's rows."""
    from pyspark.sql import functions as F

    state: dict = {"failure": None}
    target = ctx.full_name(ds.name)
    if not ctx.spark.catalog.tableExists(target):
        writer_v2(empty_frame(ctx.spark, df.schema), ctx, ds, ds.name).create()
    writer, folder = writer_id(ctx, ds, flow), ctx.checkpoint(flow)

    def write_batch(batch, batch_id):
        log = ctx.table_log(target)
        if batch_writes.already_written(folder, log, writer, batch_id):
            return  # written by a run that died before the stream recorded it; not counted again
        batch_writes.record_attempt(folder, log, writer, batch_id)
        checked = ex.apply(batch, ds.expectations, ds.name)
        note = {"userMetadata": batch_writes.user_metadata(writer, batch_id)}
        try:
            if pending["replace"]:
                checked.df.writeTo(target).options(**note).overwrite(F.lit(True))
                pending["replace"] = False
            elif log.append(checked.df, note["userMetadata"]) is None:  # new columns: merged into the table's
                (checked.df.write.format("delta").mode("append").options(**note)
                 .option("mergeSchema", "true").saveAsTable(target))
        except Exception as exc:  # noqa: BLE001
            try:
                raise_expectation(exc, ds, batch)
            except ex.ExpectationFailed as failed:
                state["failure"] = failed
            raise
        metrics = checked.observation.get
        result.num_input_rows += int(metrics.get("num_input_rows") or 0)
        result.add_quality(checked.quality(metrics, ds.name))
        if ds.quarantine and any(e.action == "drop" for e in ds.expectations):
            bad = ex.quarantine_rows(batch, ds.expectations).withColumn("_update_id", F.lit(ctx.update_id))
            quarantine = f"{ds.name}_quarantine"
            if not ctx.spark.catalog.tableExists(ctx.full_name(quarantine)):
                writer_v2(empty_frame(ctx.spark, bad.schema), ctx, Dataset(quarantine, ds.kind), quarantine).create()
            (bad.write.format("delta").mode("append").option("mergeSchema", "true")
             .saveAsTable(ctx.full_name(quarantine)))
            result.quarantined = result.rows_dropped

    for hook in on_stream_start:
        hook(df, target, flow.name)
    query = (df.writeStream.foreachBatch(write_batch).queryName(f"{ctx.pipeline.name}:{flow.name}")
             .option("checkpointLocation", str(ctx.checkpoint(flow))).trigger(availableNow=True).start())
    try:
        query.awaitTermination()
    except Exception:
        if state["failure"] is not None:
            raise state["failure"] from None
        raise
