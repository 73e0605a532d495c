"""Capture: lineage from the plans Spark executed, never from declarations.

:func:`install` registers ``io.lakehouselab.LineageListener`` (``java/LineageListener.java``) on the session.
For every successful SQL execution the JVM walks the analysed plan (sources, target, per target column the
source columns) and buffers rows; :func:`flush` drains Spark's listener bus and appends the buffer to the
``system.access`` tables. Any read of those tables flushes first (the lab catalog calls the listener before it
loads them), so a query sees every row captured before it, even in the cell that wrote. A process with its own
driver also flushes after each notebook cell that wrote (so other processes see its lineage) and when it stops
or exits; on the lab cluster the buffer is the driver's, shared by every kernel and task attached to it, and
it is stored by the next read of the lineage tables or when the cluster stops. Streams are recorded when they
start (the listener never sees ``toTable`` micro-batches); engines that write streams through ``foreachBatch``
call :func:`record_stream`.
Capture never fails the user's query: problems are logged once as warnings.

>>> import lakehouse_lab as lab
>>> spark = lab.start()                                                    # doctest: +SKIP
>>> spark.sql("CREATE OR REPLACE TABLE t2 AS SELECT * FROM t1")            # doctest: +SKIP
>>> lab.lineage.flush()                                                    # doctest: +SKIP
3
"""
from __future__ import annotations

import atexit
import contextlib
import logging

from .. import driver, run_context
from . import store

log = logging.getLogger("lakehouse_lab.lineage")
_state: dict = {"spark": None, "listener": None, "warned": set(), "hooks": False}


def install(spark):
    """Register lineage capture on ``spark`` (idempotent); returns the JVM listener, or None if it failed."""
    try:
        store.ensure_tables(spark)
        listener = spark._jvm.io.lakehouselab.LineageListener.install(spark._jsparkSession)
        who = run_context.current()
        if driver.attached():  # the driver's listener keeps its defaults; this process's work is marked
            run_context.mark_thread(spark, who)
        else:
            listener.setDefault("created_by", who.created_by)
            listener.setDefault("entity_id", who.entity_id)
        _state.update(spark=spark, listener=listener)
        _install_hooks()
        return listener
    except Exception as exc:  # noqa: BLE001 - the session must start even if lineage cannot
        _warn_once("install", f"lineage capture is off: {exc}")
        return None


def _install_hooks() -> None:
    if _state["hooks"]:
        return
    _state["hooks"] = True
    atexit.register(_flush_at_exit)
    from ..pipelines import flows  # the engine writes streaming tables with foreachBatch: record at start

    flows.on_stream_start.append(lambda df, target, _flow: record_stream(df, target))
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is not None:
        shell.events.register("post_run_cell", _flush_after_cell)


def _alive(spark) -> bool:
    return spark is not None and spark.sparkContext._jsc is not None


def flush(spark=None) -> int:
    """Store all captured lineage now (drains Spark's listener bus first); returns the rows written."""
    spark = spark or _state["spark"]
    if not _alive(spark) or _state["listener"] is None:
        return 0
    try:
        written = int(spark._jvm.io.lakehouselab.LineageListener.flush(spark._jsparkSession))
    except Exception as exc:  # noqa: BLE001 - lineage must never fail the caller
        _warn_once("flush", f"lineage could not be stored: {exc}")
        written = 0
    _log_jvm_messages(spark)
    return written


def pending(spark=None) -> dict:
    """Rows captured but not yet stored: ``{'table_rows', 'writes', 'column_rows'}``."""
    spark = spark or _state["spark"]
    if not _alive(spark):
        return {"table_rows": 0, "writes": 0, "column_rows": 0}
    table_rows, writes, column_rows = spark._jvm.io.lakehouselab.LineageListener.pending()
    return {"table_rows": int(table_rows), "writes": int(writes), "column_rows": int(column_rows)}


def _flush_after_cell(*_args) -> None:
    spark = _state["spark"]
    if _alive(spark) and not driver.attached():
        spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty()
        if pending(spark)["writes"]:
            flush(spark)


def _flush_at_exit() -> None:
    if not driver.attached():  # an attached process's rows wait in the driver's buffer
        with contextlib.suppress(Exception):
            flush()


def record_stream(source_df, target_table: str, spark=None) -> int:
    """Record the lineage of a stream writing ``source_df`` into ``target_table`` (a three-level name).

    Call it when the stream starts, e.g. from a ``foreachBatch`` writer, where Spark itself cannot tell the
    target. Streams started with ``writeStream.toTable(...)`` are recorded automatically. Returns the number
    of table-level edges recorded (0 when capture is off).

    >>> sdf = spark.readStream.table("dev_catalog.bronze.raw_orders")             # doctest: +SKIP
    >>> lab.lineage.record_stream(sdf, "dev_catalog.analytics.bronze_orders")     # doctest: +SKIP
    1
    """
    spark = spark or source_df.sparkSession
    listener = _state["listener"] if _state["spark"] is spark else None
    if listener is None or not listener.isEnabled():
        return 0
    who = run_context.current()
    try:
        plan = source_df._jdf.queryExecution().analyzed()
        return int(listener.recordStream(plan, target_table, who.entity_type, who.entity_id,
                                         who.entity_run_id, who.created_by))
    except Exception as exc:  # noqa: BLE001
        _warn_once("stream", f"stream lineage for {target_table} was not recorded: {exc}")
        return 0


@contextlib.contextmanager
def not_captured(spark):
    """Writes started by this thread inside the block are not captured: the caller records their lineage
    itself (e.g. :func:`record_stream` with the query a materialized view is defined by, when the engine
    wrote it from an intermediate state). Other threads keep being captured."""
    context = spark.sparkContext
    previous = context.getLocalProperty(_SKIP_PROPERTY)
    context.setLocalProperty(_SKIP_PROPERTY, "true")
    try:
        yield
    finally:
        context.setLocalProperty(_SKIP_PROPERTY, previous)


_SKIP_PROPERTY = "lakehouse_lab.lineage.skip"


@contextlib.contextmanager
def paused(spark=None):
    """Switch capture off inside the block (used by the benchmark to measure its cost)."""
    listener = _state["listener"]
    if listener is None:
        yield
        return
    spark = spark or _state["spark"]
    spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty()
    listener.setEnabled(False)
    try:
        yield
    finally:
        spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty()
        listener.setEnabled(True)


def _log_jvm_messages(spark) -> None:
    text = str(spark._jvm.io.lakehouselab.LineageListener.drainMessages())
    for line in filter(None, text.splitlines()):
        log.warning(line)


def _warn_once(key: str, message: str) -> None:
    if key not in _state["warned"]:
        _state["warned"].add(key)
        log.warning(message)
