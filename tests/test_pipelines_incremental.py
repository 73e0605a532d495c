"""Incremental refresh of materialized views: the result always equals a full recompute; the technique is the
cheapest that is exact (NO_OP, APPEND_ONLY, GROUP_AGGREGATE), and anything else recomputes, with the reason."""
from __future__ import annotations

import datetime as dt
import functools
import json
from decimal import Decimal

import pytest

from lakehouse_lab.pipelines import Pipeline, aggregates, run_pipeline
from lakehouse_lab.pipelines.delta_log import TableLog

SOURCE_DDL = "id BIGINT, customer STRING, region STRING, amount DECIMAL(10,2), qty INT, day DATE"
PIPELINE = """
CREATE OR REFRESH STREAMING TABLE bronze AS SELECT * FROM STREAM({source});

CREATE OR REFRESH MATERIALIZED VIEW silver (
  CONSTRAINT has_customer EXPECT (customer IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT known_day EXPECT (day IS NOT NULL)
) AS SELECT id, customer, region, amount, qty * 2 AS units, day FROM LIVE.bronze WHERE qty IS NULL OR qty > 0;

CREATE OR REFRESH MATERIALIZED VIEW gold AS
SELECT region, COUNT(*) AS orders, COUNT(amount) AS priced, SUM(amount) AS revenue, AVG(amount) AS avg_amount,
       AVG(units) AS avg_units, MIN(customer) AS first_customer, MAX(day) AS last_day,
       DATEDIFF(MAX(day), MIN(day)) AS span_days, SUM(units) + 1 AS units_plus_one
FROM LIVE.silver GROUP BY region
"""


def _rows(spark, start: int, n: int):
    """Orders with every awkward value: null region (a group of its own), null amounts, a null customer
    (dropped), non-positive quantities (filtered), decimals that do not divide evenly."""
    out = []
    for i in range(start, start + n):
        region = [None, "north", "south", "east"][i % 4] if i % 5 else f"r{i % 3}"
        amount = None if i % 7 == 0 else Decimal(f"{(i * 37) % 1000}.{i % 100:02d}")
        out.append((i, None if i % 11 == 0 else f"c{i % 13}", region, amount, (i % 4) - 1 if i % 6 else None,
                    dt.date(2024, 1, 1) + dt.timedelta(days=i % 60)))
    return spark.createDataFrame(out, SOURCE_DDL)


def _sorted(rows):
    return sorted((tuple(r) for r in rows), key=repr)  # NULLs sort too


def _table(spark, name):
    return _sorted(spark.table(name).collect())


def _run(text, schema, name="inc_test", **kw):
    update = run_pipeline(Pipeline.from_sql(name, text), schema=schema, **kw)
    assert update.state == "COMPLETED", update.error
    return update


@pytest.fixture()
def pipeline(spark, scratch_schema):
    source = f"{scratch_schema}.orders"
    _rows(spark, 0, 60).write.saveAsTable(source)
    return source, PIPELINE.format(source=source), scratch_schema.split(".")[1]


@pytest.mark.parametrize("new_rows_from", ["the files the appends added", "the change data feed"])
def test_appended_rows_refresh_incrementally_to_the_full_recompute_result(spark, scratch_schema, pipeline,
                                                                          monkeypatch, new_rows_from):
    source, text, schema = pipeline
    read, found = TableLog.appended_rows, []
    feed_only = new_rows_from == "the change data feed"  # what is read when the commits did more than add files
    monkeypatch.setattr(TableLog, "appended_rows",
                        lambda log, *versions: found.append(None if feed_only else read(log, *versions)) or found[-1])
    run = functools.partial(_run, name="[dev] inc test")  # a name with glob characters: its state path is read back
    first = run(text, schema)
    assert {n: first.datasets[n].technique for n in ("silver", "gold")} == \
        {"silver": "COMPLETE_RECOMPUTE", "gold": "COMPLETE_RECOMPUTE"}

    _rows(spark, 1000, 30).write.mode("append").saveAsTable(source)
    second = run(text, schema)
    silver, gold = second.datasets["silver"], second.datasets["gold"]
    assert (silver.technique, gold.technique) == ("APPEND_ONLY", "GROUP_AGGREGATE")
    assert len(found) == 2 and all((rows is None) == feed_only for rows in found)
    new_kept = _rows(spark, 1000, 30).where("customer IS NOT NULL AND (qty IS NULL OR qty > 0)").count()
    assert silver.rows_written == new_kept  # only the new rows went through the query and its expectations
    assert silver.rows_dropped == _rows(spark, 1000, 30).where("customer IS NULL AND (qty IS NULL OR qty > 0)").count()
    incremental = {n: _table(spark, f"{scratch_schema}.{n}") for n in ("silver", "gold")}
    gold_query = PIPELINE.split("MATERIALIZED VIEW gold AS")[1].replace("LIVE.silver", f"{scratch_schema}.silver")
    direct = spark.sql(gold_query)
    assert incremental["gold"] == _sorted(direct.collect())
    assert spark.table(f"{scratch_schema}.gold").schema.simpleString() == direct.schema.simpleString()

    recomputed = run(text, schema, full_refresh=["silver", "gold"])
    assert recomputed.datasets["gold"].technique == "COMPLETE_RECOMPUTE"
    assert _table(spark, f"{scratch_schema}.silver") == incremental["silver"]
    assert _table(spark, f"{scratch_schema}.gold") == incremental["gold"]
    assert any(r.region is None for r in spark.table(f"{scratch_schema}.gold").collect())


def test_nothing_new_is_a_no_op_that_writes_nothing(spark, scratch_schema, pipeline):
    source, text, schema = pipeline
    _run(text, schema)
    versions = {n: TableLog.of(spark, f"{scratch_schema}.{n}").snapshot().version for n in ("silver", "gold")}
    again = _run(text, schema)
    assert {n: again.datasets[n].technique for n in ("silver", "gold")} == {"silver": "NO_OP", "gold": "NO_OP"}
    assert {n: TableLog.of(spark, f"{scratch_schema}.{n}").snapshot().version for n in ("silver", "gold")} == versions
    planning = [r.maintenance for r in spark.sql(
        f"SELECT get_json_object(details, '$.planning_information.technique_information[0].maintenance_type') "
        f"AS maintenance FROM {scratch_schema}.event_log_inc_test WHERE event_type = 'planning_information' "
        "AND origin.update_id = :u", args={"u": again.update_id}).collect()]
    assert planning == ["MAINTENANCE_TYPE_NO_OP", "MAINTENANCE_TYPE_NO_OP"]


def test_a_source_that_did_more_than_append_is_recomputed_with_the_reason(spark, scratch_schema, pipeline):
    source, text, schema = pipeline
    _run(text, schema)
    spark.sql(f"DELETE FROM {scratch_schema}.bronze WHERE id < 10")
    after = _run(text, schema)
    silver = after.datasets["silver"]
    assert silver.technique == "COMPLETE_RECOMPUTE" and "DELETE" in silver.technique_reason
    assert after.datasets["gold"].technique == "COMPLETE_RECOMPUTE"  # silver was overwritten, not appended to
    assert spark.table(f"{scratch_schema}.silver").where("id < 10").count() == 0

    changed = text.replace("SUM(units) + 1 AS units_plus_one", "SUM(units) + 2 AS units_plus_one")
    redefined = _run(changed, schema)
    assert redefined.datasets["silver"].technique == "NO_OP"
    assert redefined.datasets["gold"].technique_reason == "the definition or the schema of its input changed"


def test_a_failed_expectation_on_new_rows_writes_nothing(spark, scratch_schema, pipeline):
    source, text, schema = pipeline
    strict = text.replace("CONSTRAINT known_day EXPECT (day IS NOT NULL)",
                          "CONSTRAINT known_day EXPECT (day IS NOT NULL) ON VIOLATION FAIL UPDATE")
    _run(strict, schema)
    before = TableLog.of(spark, f"{scratch_schema}.silver").snapshot().version
    _rows(spark, 2000, 3).withColumn("day", _null_date()).write.mode("append").saveAsTable(source)
    failed = run_pipeline(Pipeline.from_sql("inc_test", strict), schema=schema)
    assert failed.state == "FAILED" and "known_day" in failed.error
    assert TableLog.of(spark, f"{scratch_schema}.silver").snapshot().version == before


def _null_date():
    from pyspark.sql import functions as F

    return F.lit(None).cast("date")


def test_lineage_names_the_real_sources_not_the_aggregate_state(spark, scratch_schema, pipeline):
    import lakehouse_lab as lab

    source, text, schema = pipeline
    _run(text, schema)
    _rows(spark, 3000, 8).write.mode("append").saveAsTable(source)
    update = _run(text, schema)
    assert update.datasets["gold"].technique == "GROUP_AGGREGATE"
    lab.lineage.flush()
    edges = {(r.source_table_full_name, r.source_path, r.target_table_full_name) for r in spark.sql(
        "SELECT * FROM system.access.table_lineage WHERE entity_run_id = :u", args={"u": update.update_id}).collect()}
    assert (f"{scratch_schema}.bronze", None, f"{scratch_schema}.silver") in {(s, p, t) for s, p, t in edges}
    assert (f"{scratch_schema}.silver", None, f"{scratch_schema}.gold") in edges
    assert not any("aggregate_state" in (p or "") or "__lab_new_rows" in (s or "") for s, p, _ in edges)


def test_delta_log_reader_agrees_with_describe(spark, scratch_schema, pipeline):
    source, text, schema = pipeline
    _run(text, schema)
    _rows(spark, 4000, 5).write.mode("append").saveAsTable(source)
    _run(text, schema)
    name = f"{scratch_schema}.silver"
    snapshot = TableLog.of(spark, name).snapshot()
    detail = spark.sql(f"DESCRIBE DETAIL {name}").first()
    history = spark.sql(f"DESCRIBE HISTORY {name}").orderBy("version").collect()
    assert (snapshot.table_id, snapshot.version) == (detail.id, history[-1].version)
    assert snapshot.properties.get("delta.enableChangeDataFeed") == "true"
    assert snapshot.properties == dict(detail.properties)
    assert (snapshot.description, list(snapshot.partition_columns)) == (detail.description, detail.partitionColumns)
    commits = TableLog.of(spark, name).commits(0, snapshot.version)
    assert [(c.operation, c.parameters.get("mode")) for c in commits] == \
        [(h.operation, (h.operationParameters or {}).get("mode")) for h in history]
    assert [c.metrics.get("numOutputRows") for c in commits] == \
        [(h.operationMetrics or {}).get("numOutputRows") for h in history]
    assert any(c.metrics.get("numOutputRows") not in (None, "0") for c in commits)



def test_a_views_overwrite_needs_no_table_state_and_a_streaming_append_needs_none(spark, scratch_schema, pipeline,
                                                                                    monkeypatch):
    """An overwrite needs the files it replaces. Delta would rebuild the table's state to list them; a view's
    latest commit names them all (it was an overwrite too), so its refresh commits without that
    (``TableLog.replace_rows``) and the update does not build it ahead. Other overwrites (a fully refreshed
    streaming table) have it built in the background. A streaming table's append (bronze) never needs it: its
    batch commits are told apart by their user metadata (``batch_writes``)."""
    from lakehouse_lab.pipelines.flows import UpdateContext

    source, text, schema = pipeline
    _run(text, schema)
    gold = TableLog.of(spark, f"{scratch_schema}.gold")
    none = spark._jvm.scala.Option.empty()
    before = gold._log.update(False, none, none)
    assert gold.files_known() and not before.stateReconstructionTriggered()

    asked, prepare = [], UpdateContext.prepare_write
    monkeypatch.setattr(UpdateContext, "prepare_write",
                        lambda ctx, name, quick=False: (asked.append((name, quick)), prepare(ctx, name, quick)))
    _rows(spark, 2000, 10).write.mode("append").saveAsTable(source)
    update = _run(text, schema)
    assert (update.datasets["silver"].technique, update.datasets["gold"].technique) == \
        ("APPEND_ONLY", "GROUP_AGGREGATE")
    assert asked == [("gold", True)]
    assert not before.stateReconstructionTriggered()  # replaced from the commit's file list alone
    previous, last = gold.commits(gold.version() - 1, gold.version())
    assert (last.operation, last.parameters["mode"]) == ("WRITE", "Overwrite")
    assert last.metrics["numRemovedFiles"] == previous.metrics["numFiles"]
    bronze = TableLog.of(spark, f"{scratch_schema}.bronze")
    assert not bronze._log.update(False, none, none).stateReconstructionTriggered()
    [last] = bronze.commits(bronze.version(), bronze.version())
    assert json.loads(last.user_metadata)["batch_id"] >= 1
    asked.clear()
    _run(text, schema, full_refresh=["silver"])  # a full refresh overwrites silver too; only silver runs
    assert asked == [("silver", True)]
    asked.clear()
    _run(text, schema, full_refresh=["bronze"])  # a fully refreshed streaming table is overwritten
    assert asked == [("bronze", False)]


def test_a_batch_counts_as_written_only_when_a_commit_after_its_attempt_names_it(spark, scratch_schema, tmp_path):
    from lakehouse_lab.pipelines import batch_writes

    table = f"{scratch_schema}.batches"
    spark.range(3).write.saveAsTable(table)
    log = TableLog.of(spark, table)
    assert not batch_writes.already_written(tmp_path, log, "flow-a", 0)  # never attempted
    batch_writes.record_attempt(tmp_path, log, "flow-a", 0)
    assert not batch_writes.already_written(tmp_path, log, "flow-a", 0)  # attempted, nothing committed
    spark.range(2).write.mode("append").option("userMetadata", batch_writes.user_metadata("flow-b", 0)) \
        .saveAsTable(table)
    assert not batch_writes.already_written(tmp_path, log, "flow-a", 0)  # another flow's batch 0
    spark.range(2).write.mode("append").option("userMetadata", batch_writes.user_metadata("flow-a", 0)) \
        .saveAsTable(table)
    assert batch_writes.already_written(tmp_path, log, "flow-a", 0)
    assert not batch_writes.already_written(tmp_path, log, "flow-a", 1)
    assert [p.name for p in tmp_path.iterdir()] == [batch_writes.RECORD]  # no half-written record left


@pytest.mark.parametrize("sql, reason", [
    ("SELECT k, COUNT(DISTINCT x) AS n FROM t GROUP BY k", "DISTINCT"),
    ("SELECT k, ROUND(AVG(x), 2) AS a FROM t GROUP BY k", "AVG merges only as a whole column"),
    ("SELECT k, percentile(x, 0.5) AS p FROM t GROUP BY k", "not maintained incrementally"),
    ("SELECT k, x, COUNT(*) FROM t GROUP BY k", "neither grouped nor aggregated"),
    ("SELECT a.k, COUNT(*) FROM t a JOIN u b ON a.k = b.k GROUP BY a.k", "JOINS"),
    ("SELECT k, COUNT(*) FROM t GROUP BY k HAVING COUNT(*) > 1", "HAVING"),
    ("SELECT k, SUM(x) FILTER (WHERE x > 0) FROM t GROUP BY k", "FILTER"),
    ("SELECT COUNT(*) FROM t", "no plain GROUP BY"),
])
def test_aggregates_that_do_not_merge_exactly_are_refused(sql, reason):
    with pytest.raises(aggregates.NotIncremental, match=reason):
        aggregates.rewrite(sql)


def test_an_aggregate_is_split_into_parts_that_merge():
    rewrite = aggregates.rewrite("SELECT k, COUNT(*) AS n, AVG(x) AS a, DATEDIFF(MAX(d), MIN(d)) AS span "
                                 "FROM src AS s WHERE x > 0 GROUP BY k")
    assert rewrite.parts == [("COUNT", "COUNT(*)"), ("SUM", "SUM(x)"), ("COUNT", "COUNT(x)"), ("MAX", "MAX(d)"),
                             ("MIN", "MIN(d)")]
    assert rewrite.outputs[2] == "CASE WHEN __p2 = 0 THEN NULL ELSE __p1 / __p2 END"
    assert rewrite.partial_sql("`new_rows`").endswith("FROM `new_rows` AS s WHERE x > 0 GROUP BY k")


PY_PIPELINE = '''
import dlt
from lakehouse_lab import dp


@dp.table
def bronze():
    return spark.readStream.table("{source}")


@dp.materialized_view
@dp.expect_or_drop("has_customer", "customer IS NOT NULL")
def silver():
    return dlt.read("bronze").where("qty IS NULL OR qty > 0").select("id", "customer", "amount")


@dp.materialized_view
def per_customer():
    return dlt.read("silver").groupBy("customer").count()
'''


def test_python_row_wise_views_refresh_incrementally_and_python_aggregates_recompute(spark, scratch_schema,
                                                                                     pipeline, tmp_path, monkeypatch):
    from lakehouse_lab.pipelines.flows import UpdateContext

    source, _, schema = pipeline
    (tmp_path / "orders.py").write_text(PY_PIPELINE.format(source=source))
    _run_py = lambda: run_pipeline(tmp_path, schema=schema, name="inc_py")  # noqa: E731
    assert _run_py().state == "COMPLETED"
    _rows(spark, 5000, 12).write.mode("append").saveAsTable(source)
    asked, prepare = [], UpdateContext.prepare_write
    monkeypatch.setattr(UpdateContext, "prepare_write",
                        lambda ctx, name, quick=False: (asked.append(name), prepare(ctx, name, quick)))
    update = _run_py()
    # the recomputed view is prepared for from the start; bronze (@dp.table) streams and only appends
    assert asked == ["per_customer"]
    assert update.state == "COMPLETED", update.error
    assert update.datasets["silver"].technique == "APPEND_ONLY"
    assert update.datasets["per_customer"].technique == "COMPLETE_RECOMPUTE"
    assert "only SQL aggregates" in update.datasets["per_customer"].technique_reason
    expected = spark.table(f"{scratch_schema}.bronze").where("(qty IS NULL OR qty > 0) AND customer IS NOT NULL")
    assert _table(spark, f"{scratch_schema}.silver") == _sorted(expected.select("id", "customer", "amount").collect())


def test_a_micro_batch_run_again_after_a_crash_is_not_appended_twice(spark, scratch_schema, pipeline):
    """A process that dies after a micro-batch's Delta commit, before the stream records the batch as done, runs
    the batch again on the next update: its commit names the flow and batch id (``batch_writes``), so it is
    skipped."""
    from lakehouse_lab import paths

    source, text, schema = pipeline
    _run(text, schema)
    _rows(spark, 3000, 20).write.mode("append").saveAsTable(source)
    _run(text, schema)
    expected = {n: _table(spark, f"{scratch_schema}.{n}") for n in ("bronze", "silver", "gold")}
    folder = paths.lab_root() / "pipelines" / f"dev_catalog.{schema}"
    [commits] = folder.glob("*/checkpoints/bronze/*/commits")
    last = max(int(p.name) for p in commits.iterdir() if p.name.isdigit())
    for done in (commits / str(last), commits / f".{last}.crc"):
        done.unlink(missing_ok=True)

    again = _run(text, schema)
    assert {n: _table(spark, f"{scratch_schema}.{n}") for n in ("bronze", "silver", "gold")} == expected
    assert again.datasets["silver"].technique == "NO_OP"
