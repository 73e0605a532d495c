"""Pipeline updates on the real engines: the seed's SQL unchanged, incremental streaming tables, full refresh,
expectations (warn/drop/fail with Delta versions compared), event log and system tables, Python pipelines,
and definition errors rejected before any write."""
from __future__ import annotations

import datetime as dt
import functools
import json
import re
import textwrap
from pathlib import Path

import pytest

from lakehouse_lab.pipelines import Pipeline, PipelineDefinitionError, event_log, run_pipeline
from lakehouse_lab.pipelines.delta_log import TableLog

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "notebooks" / "pipelines" / "orders"
RAW = "dev_catalog.bronze.raw_orders"
RAW_SCHEMA = ("order_id STRING, customer_id STRING, product_id STRING, quantity INT, amount DOUBLE, "
              "order_date STRING, status STRING, _rescued_data STRING, _source_file STRING, _ingested_at TIMESTAMP")


def raw_orders(spark, start, n, *, null_ids=0, future=0, negative=0, batch="batch_1"):
    """``n`` good orders plus the requested defects, in the source data contract's columns."""
    at = dt.datetime(2024, 2, 1)

    def row(oid, amount, day):
        return (oid, f"c{len(rows) % 7}", "p1", 1, amount, day, "completed", None, f"{batch}.json", at)
    rows = []
    for i in range(start, start + n):
        rows.append(row(f"o{i}", 10.0 + i % 50, f"2024-01-{1 + i % 28:02d}"))
    rows += [row(None, 5.0, "2024-01-02") for _ in range(null_ids)]
    rows += [row(f"future{start}_{k}", 5.0, "2999-01-01") for k in range(future)]
    rows += [row(f"neg{start}_{k}", -1.0, "2024-01-02") for k in range(negative)]
    return spark.createDataFrame(rows, RAW_SCHEMA)


def version(spark, table):
    return spark.sql(f"DESCRIBE HISTORY {table}").agg({"version": "max"}).collect()[0][0]


@pytest.fixture()
def seed_source(spark):
    """The course's ``bronze.raw_orders`` with known rows for one test, then restored (Delta RESTORE) or dropped,
    so the notebooks' generated data is left as it was."""
    existed = spark.catalog.tableExists(RAW)
    before = version(spark, RAW) if existed else None
    raw_orders(spark, 0, 40, null_ids=3, future=2).write.mode("overwrite" if existed else "error").saveAsTable(RAW)
    yield RAW
    if existed:
        spark.sql(f"RESTORE TABLE {RAW} TO VERSION AS OF {before}")
    else:
        spark.sql(f"DROP TABLE IF EXISTS {RAW}")


def test_seed_sql_runs_unchanged_incrementally_and_fails_without_partial_writes(spark, scratch_schema, seed_source):
    schema = scratch_schema.split(".")[1]
    first = run_pipeline(SEED, schema=schema)
    assert first.state == "COMPLETED", first.error
    bronze, silver, gold = (first.datasets[n] for n in ("bronze_orders", "silver_orders", "gold_customer_metrics"))
    assert bronze.rows_written == 45
    assert (silver.rows_written, silver.rows_dropped) == (40, 2)  # null ids filtered by WHERE, 2 future dates
    assert {e["name"]: e["failed_records"] for e in silver.expectations} == \
        {"valid_order_id": 0, "positive_amount": 0, "valid_date": 2}
    assert spark.table(f"{scratch_schema}.gold_customer_metrics").count() == gold.rows_written == 7

    raw_orders(spark, 100, 5, batch="batch_2").write.mode("append").saveAsTable(RAW)
    second = run_pipeline(SEED, schema=schema)
    assert second.datasets["bronze_orders"].rows_written == 5  # only the new batch
    assert spark.table(f"{scratch_schema}.bronze_orders").count() == 50
    assert second.datasets["silver_orders"].rows_written == 5  # the view absorbed only the new rows
    assert second.datasets["silver_orders"].technique == "APPEND_ONLY"
    assert spark.table(f"{scratch_schema}.silver_orders").count() == 45

    raw_orders(spark, 200, 1, negative=2, batch="batch_3").write.mode("append").saveAsTable(RAW)
    silver_version = version(spark, f"{scratch_schema}.silver_orders")
    failed = run_pipeline(SEED, schema=schema)
    assert failed.state == "FAILED"
    assert "positive_amount" in failed.error and "neg200_0" in failed.error
    assert version(spark, f"{scratch_schema}.silver_orders") == silver_version
    assert spark.table(f"{scratch_schema}.silver_orders").where("amount <= 0").count() == 0
    assert failed.datasets["gold_customer_metrics"].status == "SKIPPED"

    log = event_log("orders_pipeline", schema=schema)
    types = {r.event_type for r in log.select("event_type").distinct().collect()}
    assert {"create_update", "flow_definition", "update_progress", "flow_progress"} <= types
    quality = [json.loads(r.details)["flow_progress"] for r in log.where(
        "event_type = 'flow_progress' AND origin.update_id = '%s' AND origin.flow_name = 'silver_orders' "
        "AND level = 'METRICS'" % first.update_id).collect()]
    assert quality[0]["metrics"]["num_output_rows"] == 40
    assert quality[0]["data_quality"]["dropped_records"] == 2
    # the same log in SQL, as on Databricks: event_log() by pipeline id or name, or by a table it publishes
    events = log.count()
    for source in (f"'{first.pipeline_id}'", "'orders_pipeline'", f"TABLE({scratch_schema}.silver_orders)"):
        assert spark.sql(f"SELECT count(*) FROM event_log({source})").first()[0] == events, source
    rows = spark.sql(f"""SELECT details:flow_progress.metrics.num_output_rows AS n
        FROM event_log(TABLE({scratch_schema}.silver_orders))
        WHERE origin.update_id = :update AND origin.flow_name = 'silver_orders' AND level = 'METRICS'""",
                     args={"update": first.update_id}).first().n
    assert rows == "40"
    with pytest.raises(Exception, match="EVENT_LOG_NOT_FOUND.*no_such_pipeline"):
        spark.sql("SELECT * FROM event_log('no_such_pipeline')").collect()
    states = [r.state for r in spark.table("system.lakeflow.pipeline_updates")
              .where(f"schema = '{schema}'").orderBy("start_time").collect()]
    assert states == ["COMPLETED", "COMPLETED", "FAILED"]
    errors = spark.table("system.lakeflow.pipeline_events").where(
        f"update_id = '{failed.update_id}' AND level = 'ERROR'").count()
    assert errors == 2  # the failed flow and the failed update

    refreshed = run_pipeline(SEED, schema=schema, full_refresh=["bronze_orders"], refresh_selection=["silver_orders"])
    assert refreshed.state == "FAILED"  # the bad batch is still in the source
    assert refreshed.datasets["gold_customer_metrics"].status == "EXCLUDED"
    assert refreshed.datasets["bronze_orders"].rows_written == 53  # re-read from the start
    assert spark.table(f"{scratch_schema}.bronze_orders").count() == 53  # replaced, not appended to


def test_event_log_function_finds_a_pipeline_whose_name_is_not_an_identifier(spark, scratch_schema):
    """event_log('<name>') names the log table as the Python side does (``event_log_table``)."""
    name = "Quality checks: v2"
    sql = "CREATE OR REFRESH MATERIALIZED VIEW small_ids AS SELECT id FROM range(3)"
    update = run_pipeline(Pipeline.from_sql(name, sql), schema=scratch_schema.split(".")[1])
    assert update.state == "COMPLETED", update.error
    events = event_log(name, schema=scratch_schema.split(".")[1]).count()
    assert events > 0
    assert spark.sql("SELECT count(*) FROM event_log(:name)", args={"name": name}).first()[0] == events


PY_PIPELINE = '''
import dlt
from pyspark.sql import functions as F

@dlt.table
def orders_st():
    return spark.readStream.table("{src}")

@dlt.view
def with_ids():
    return dlt.read("orders_st").where("order_id IS NOT NULL")

@dlt.table(table_properties={{"pipelines.quarantine": "true"}})
@dlt.expect("cheap", "amount < 30")
@dlt.expect_or_drop("positive_amount", "amount > 0")
def clean_orders():
    return dlt.read("with_ids")

@dlt.table
def revenue():
    return spark.read.table("clean_orders").groupBy("customer_id").agg(F.sum("amount").alias("revenue"))
'''


def test_python_pipeline_with_dlt_names_views_and_quarantine(spark, scratch_schema, tmp_path):
    schema = scratch_schema.split(".")[1]
    raw_orders(spark, 0, 30, null_ids=2, negative=3).write.saveAsTable(f"{scratch_schema}.raw")
    (tmp_path / "orders.py").write_text(PY_PIPELINE.format(src=f"{scratch_schema}.raw"))
    expected = {"orders_st": "streaming_table", "with_ids": "view", "clean_orders": "materialized_view",
                "revenue": "materialized_view"}
    validated = run_pipeline(tmp_path, schema=schema, name="py_orders", validate_only=True)
    assert {n: r.kind for n, r in validated.datasets.items()} == expected  # known from the queries, none ran
    flow_types = dict(spark.table(f"{scratch_schema}.event_log_py_orders").where("event_type = 'flow_definition'")
                      .selectExpr("origin.flow_name", "details:flow_definition.flow_type").collect())
    assert flow_types == expected
    update = run_pipeline(tmp_path, schema=schema, name="py_orders")
    assert update.state == "COMPLETED", update.error
    assert {n: r.kind for n, r in update.datasets.items()} == expected
    clean = update.datasets["clean_orders"]
    assert (clean.num_input_rows, clean.rows_written, clean.rows_dropped) == (33, 30, 3)
    cheap = next(e for e in clean.expectations if e["name"] == "cheap")
    assert cheap["failed_records"] == spark.table(f"{scratch_schema}.clean_orders").where("amount >= 30").count() > 0
    quarantine = spark.table(f"{scratch_schema}.clean_orders_quarantine")
    assert quarantine.count() == 3
    assert {tuple(r._failed_expectations) for r in quarantine.collect()} == {("positive_amount",)}
    assert not spark.catalog.tableExists(f"{scratch_schema}.with_ids")  # views are not stored
    assert "<svg" in update._repr_html_() and "clean_orders" in update._repr_html_()


@pytest.mark.parametrize("text, message", [
    ("CREATE OR REFRESH LIVE TABLE a AS SELECT * FROM LIVE.nope", r"<sql>:1: dataset 'a' reads LIVE.nope"),
    ("CREATE OR REFRESH LIVE TABLE ok AS SELECT 1 AS x;\nCREATE OR REFRESH LIVE TABLE a AS\nSELECT x\nFROM LIVE.okk",
     r"<sql>:4: dataset 'a' reads LIVE.okk, which this pipeline does not define \(datasets: a, ok\)"),
    ("CREATE OR REFRESH LIVE TABLE a AS SELECT * FROM LIVE.b;\nCREATE OR REFRESH LIVE TABLE b AS SELECT * FROM LIVE.a",
     r"has a cycle: (a -> b -> a|b -> a -> b)"),
    ("CREATE OR REFRESH LIVE TABLE ok AS SELECT 1 AS x;\nCREATE OR REFRESH LIVE TABLE a AS\nSELECT x FROM LIVE.ok\nWHERE x >",
     r"<sql>:4: syntax error in the query of 'a'.*\n    WHERE x >"),
])
def test_definition_errors_are_rejected_before_any_write(spark, scratch_schema, text, message):
    schema = scratch_schema.split(".")[1]
    with pytest.raises(PipelineDefinitionError, match=message):
        run_pipeline(Pipeline.from_sql("bad", text), schema=schema)
    assert spark.sql(f"SHOW TABLES IN {scratch_schema}").count() == 0


def test_a_failed_dataset_skips_only_what_reads_it(spark, scratch_schema):
    schema = scratch_schema.split(".")[1]
    spark.range(5).withColumnRenamed("id", "n").write.saveAsTable(f"{scratch_schema}.numbers")
    text = f"""
    CREATE MATERIALIZED VIEW small (CONSTRAINT tiny EXPECT (n < 3) ON VIOLATION FAIL UPDATE)
      AS SELECT n FROM {scratch_schema}.numbers;
    CREATE MATERIALIZED VIEW small_doubled AS SELECT n * 2 AS n2 FROM LIVE.small;
    CREATE MATERIALIZED VIEW everything AS SELECT n FROM {scratch_schema}.numbers;
    """
    update = run_pipeline(Pipeline.from_sql("branches", text), schema=schema)
    assert update.state == "FAILED" and "tiny" in update.error
    assert {n: d.status for n, d in update.datasets.items()} == \
        {"small": "FAILED", "small_doubled": "SKIPPED", "everything": "COMPLETED"}
    assert spark.table(f"{scratch_schema}.everything").count() == 5
    assert not spark.catalog.tableExists(f"{scratch_schema}.small_doubled")


def test_dlt_read_of_a_name_that_is_neither_a_dataset_nor_a_table_says_so(spark, scratch_schema, tmp_path):
    schema = scratch_schema.split(".")[1]
    spark.range(3).write.saveAsTable(f"{scratch_schema}.numbers")
    (tmp_path / "p.py").write_text("import dlt\n\n@dlt.table\ndef doubled():\n"
                                   "    return dlt.read('numbers').selectExpr('id * 2 AS n')\n\n"
                                   "@dlt.table\ndef tripled():\n    return dlt.read('doubledd')\n")
    update = run_pipeline(tmp_path, schema=schema, name="misread")
    assert update.state == "FAILED" and update.datasets["doubled"].status == "SKIPPED"
    assert not spark.catalog.tableExists(f"{scratch_schema}.doubled")  # rejected before any write
    assert re.match(r"\S*p\.py:9: dataset 'tripled' cannot be resolved: read\('doubledd'\): this pipeline defines "
                    "no dataset 'doubledd', and no table of that name exists", update.error)


def test_a_query_that_does_not_resolve_fails_the_update_before_any_write(spark, scratch_schema):
    schema = scratch_schema.split(".")[1]
    spark.range(5).withColumnRenamed("id", "n").write.saveAsTable(f"{scratch_schema}.numbers")
    good = (f"CREATE OR REFRESH STREAMING TABLE raw AS SELECT * FROM STREAM({scratch_schema}.numbers);\n"
            "CREATE MATERIALIZED VIEW clean AS SELECT n, n * 2 AS doubled FROM LIVE.raw;\n"
            "CREATE MATERIALIZED VIEW total AS\n  SELECT SUM(doubled) AS total\n  FROM LIVE.clean")
    assert run_pipeline(Pipeline.from_sql("resolve", good), schema=schema).state == "COMPLETED"
    versions = {t: TableLog.of(spark, f"{scratch_schema}.{t}").snapshot().version for t in ("raw", "clean", "total")}
    spark.range(5, 8).withColumnRenamed("id", "n").write.mode("append").saveAsTable(f"{scratch_schema}.numbers")

    typo = good.replace("SUM(doubled)", "SUM(doubeld)")
    update = run_pipeline(Pipeline.from_sql("resolve", typo), schema=schema)
    assert update.state == "FAILED"
    assert {n: d.status for n, d in update.datasets.items()} == {"raw": "SKIPPED", "clean": "SKIPPED",
                                                                 "total": "FAILED"}
    assert update.error.startswith("<sql>:4: dataset 'total' cannot be resolved: [UNRESOLVED_COLUMN")
    assert "`doubeld`" in update.error and "`doubled`" in update.error  # the name and the suggestion
    assert versions == {t: TableLog.of(spark, f"{scratch_schema}.{t}").snapshot().version for t in versions}
    errors = (spark.table(f"{scratch_schema}.event_log_resolve").where("level = 'ERROR'")
              .select("event_type", "origin.flow_name").collect())
    assert [tuple(r) for r in errors] == [("flow_progress", "total"), ("update_progress", None)]

    fixed = run_pipeline(Pipeline.from_sql("resolve", good), schema=schema)
    assert fixed.state == "COMPLETED" and spark.table(f"{scratch_schema}.total").first().total == 2 * sum(range(8))


def test_a_validate_only_update_resolves_every_flow_and_writes_no_dataset(spark, scratch_schema, tmp_path, capsys):
    from lakehouse_lab import cli

    schema = scratch_schema.split(".")[1]
    spark.range(5).withColumnRenamed("id", "n").write.saveAsTable(f"{scratch_schema}.numbers")
    (tmp_path / "raw.sql").write_text("CREATE OR REFRESH STREAMING TABLE raw\n"
                                      f"AS SELECT * FROM STREAM({scratch_schema}.numbers)")
    (tmp_path / "clean.sql").write_text("CREATE MATERIALIZED VIEW clean\nAS SELECT n * 2 AS doubled\nFROM raw")
    (tmp_path / "total.sql").write_text("CREATE MATERIALIZED VIEW total\nAS SELECT SUM(doubled) AS total FROM clean")
    checked = run_pipeline(tmp_path, schema=schema, name="validated", validate_only=True)
    assert checked.state == "COMPLETED" and checked.validate_only
    assert {n: d.status for n, d in checked.datasets.items()} == {"raw": "VALIDATED", "clean": "VALIDATED",
                                                                  "total": "VALIDATED"}
    assert not any(spark.catalog.tableExists(f"{scratch_schema}.{t}") for t in ("raw", "clean", "total"))
    created = (spark.table(f"{scratch_schema}.event_log_validated").where("event_type = 'create_update'")
               .selectExpr("details:create_update.validate_only").first()[0])
    assert created == "true"

    (tmp_path / "clean.sql").write_text("CREATE MATERIALIZED VIEW clean\nAS SELECT n * 2 AS doubled\nFROM raw\n"
                                        "WHERE m > 0")
    assert cli.main(["pipeline", "run", str(tmp_path), "--name", "validated", "--validate-only"]) == 1
    out, err = capsys.readouterr()
    assert "validation" in out and "FAILED" in out
    assert re.search(r"clean\.sql:4: dataset 'clean' cannot be resolved: \[UNRESOLVED_COLUMN", err)


def test_a_refresh_selection_runs_only_the_tables_named(spark, scratch_schema):
    schema = scratch_schema.split(".")[1]
    spark.range(5).withColumnRenamed("id", "n").write.saveAsTable(f"{scratch_schema}.numbers")
    text = (f"CREATE OR REFRESH STREAMING TABLE raw AS SELECT * FROM STREAM({scratch_schema}.numbers);\n"
            "CREATE TEMPORARY VIEW positive AS SELECT n FROM LIVE.raw WHERE n > 0;\n"
            "CREATE MATERIALIZED VIEW clean AS SELECT n * 2 AS doubled FROM LIVE.positive;\n"
            "CREATE MATERIALIZED VIEW total AS SELECT SUM(doubled) AS total FROM LIVE.clean")
    run = functools.partial(run_pipeline, Pipeline.from_sql("selected", text), schema=schema)
    assert run().state == "COMPLETED"
    versions = {t: TableLog.of(spark, f"{scratch_schema}.{t}").snapshot().version for t in ("clean", "total")}
    spark.range(5, 8).withColumnRenamed("id", "n").write.mode("append").saveAsTable(f"{scratch_schema}.numbers")

    only_raw = run(refresh_selection=["raw"])
    assert {n: d.status for n, d in only_raw.datasets.items()} == \
        {"raw": "COMPLETED", "positive": "EXCLUDED", "clean": "EXCLUDED", "total": "EXCLUDED"}
    assert only_raw.datasets["raw"].rows_written == 3 and only_raw.refresh_selection == ["raw"]
    assert versions == {t: TableLog.of(spark, f"{scratch_schema}.{t}").snapshot().version for t in versions}
    log = spark.table(f"{scratch_schema}.event_log_selected").where(f"origin.update_id = '{only_raw.update_id}'")
    assert log.where("details:flow_progress.status = 'EXCLUDED'").count() == 3
    assert log.where("event_type = 'create_update'").selectExpr("details:create_update.refresh_selection").first()[0] \
        == '["raw"]'

    clean = run(refresh_selection=["clean"])  # reads raw as it is, through the view it needs
    assert [n for n, d in clean.datasets.items() if d.status == "COMPLETED"] == ["positive", "clean"]
    assert spark.table(f"{scratch_schema}.clean").count() == 7
    assert spark.table(f"{scratch_schema}.total").first().total == 2 * sum(range(5))  # left as it was

    assert run(full_refresh=[], refresh_selection=[]).datasets["total"].status == "COMPLETED"  # none named: all
    with pytest.raises(PipelineDefinitionError, match=r"refresh_selection names \['totl'\] not in pipeline"):
        run(refresh_selection=["totl"])
    with pytest.raises(PipelineDefinitionError, match="full_refresh=True refreshes every dataset"):
        run(full_refresh=True, refresh_selection=["total"])


def test_updates_started_from_several_threads_do_not_mix(spark, scratch_schema):
    """Two pipelines with the same dataset names, into two schemas, started at once (as a job's parallel tasks)."""
    from concurrent.futures import ThreadPoolExecutor

    from pyspark import inheritable_thread_target

    first = scratch_schema.split(".")[1]
    second = f"{first}_b"
    spark.sql(f"CREATE SCHEMA IF NOT EXISTS dev_catalog.{second}")
    try:
        def update(schema, factor):
            text = (f"CREATE TEMPORARY VIEW base AS SELECT id * {factor} AS n FROM range(4);\n"
                    "CREATE MATERIALIZED VIEW clean AS SELECT n FROM LIVE.base WHERE n > 0;\n"
                    "CREATE MATERIALIZED VIEW total AS SELECT SUM(n) AS total FROM LIVE.clean")
            return run_pipeline(Pipeline.from_sql("threads", text), schema=schema)

        with ThreadPoolExecutor(2) as pool:
            runs = [pool.submit(inheritable_thread_target(spark)(update), schema, factor)
                    for schema, factor in ((first, 1), (second, 10))]
            states = [r.result().state for r in runs]
        assert states == ["COMPLETED", "COMPLETED"]
        assert spark.table(f"dev_catalog.{first}.total").first().total == 6
        assert spark.table(f"dev_catalog.{second}.total").first().total == 60
    finally:
        spark.sql(f"DROP SCHEMA IF EXISTS dev_catalog.{second} CASCADE")


def test_flows_into_one_table_name_it_as_their_dataset_in_the_event_log(spark, scratch_schema):
    schema = scratch_schema.split(".")[1]
    for name, start in (("a", 0), ("b", 10)):
        spark.range(start, start + 3).write.saveAsTable(f"{scratch_schema}.{name}")
    text = (f"CREATE OR REFRESH STREAMING TABLE both_sources;\n"
            f"CREATE FLOW from_a AS INSERT INTO both_sources BY NAME SELECT * FROM STREAM({scratch_schema}.a);\n"
            f"CREATE FLOW from_b AS INSERT INTO both_sources BY NAME SELECT * FROM STREAM({scratch_schema}.b)")
    update = run_pipeline(Pipeline.from_sql("two_flows", text), schema=schema)
    assert update.state == "COMPLETED", update.error
    assert spark.table(f"{scratch_schema}.both_sources").count() == 6
    log = spark.table(f"{scratch_schema}.event_log_two_flows")
    definitions = (log.where("event_type = 'flow_definition'")
                   .selectExpr("origin.flow_name", "origin.dataset_name", "details:flow_definition.input_datasets")
                   .collect())
    assert sorted(map(tuple, definitions)) == [("from_a", "both_sources", f'["{scratch_schema}.a"]'),
                                               ("from_b", "both_sources", f'["{scratch_schema}.b"]')]
    completed = (log.where("event_type = 'flow_progress' AND details:flow_progress.status = 'COMPLETED'")
                 .selectExpr("origin.flow_name", "origin.dataset_name",
                             "CAST(details:flow_progress.metrics.num_output_rows AS INT)").collect())
    assert sorted(map(tuple, completed)) == [("from_a", "both_sources", 3), ("from_b", "both_sources", 3)]


def test_a_missing_source_says_what_the_schema_holds(spark, scratch_schema):
    schema = scratch_schema.split(".")[1]
    spark.range(3).write.saveAsTable(f"{scratch_schema}.numbers")
    update = run_pipeline(Pipeline.from_sql("missing", "CREATE MATERIALIZED VIEW m AS SELECT * FROM numberz"),
                          schema=schema)
    assert update.state == "FAILED" and update.summary()[0]["error"] == update.error
    first_line = update.error.splitlines()[0]
    assert "TABLE_OR_VIEW_NOT_FOUND" in first_line
    assert f"Table {scratch_schema}.numberz does not exist" in first_line
    assert f"Did you mean {scratch_schema}.numbers?" in first_line


def test_a_missing_course_source_says_how_to_make_it(spark, scratch_schema):
    schema = scratch_schema.split(".")[1]
    update = run_pipeline(Pipeline.from_sql("missing_course_source", "CREATE MATERIALIZED VIEW m AS SELECT * FROM "
                                            "staging_catalog.bronze.raw_customers"), schema=schema)
    assert update.state == "FAILED"
    assert "Table staging_catalog.bronze.raw_customers does not exist" in update.error
    assert "`lakehouse-lab run --env staging` lands and ingests them" in update.error


def test_cli_runs_the_seed_pipeline_and_draws_its_graph(spark, seed_source, tmp_path, capsys):
    from lakehouse_lab import cli

    assert cli.main(["pipeline", "graph", str(SEED), "--out", str(tmp_path / "g.svg")]) == 0
    assert "silver_orders" in (tmp_path / "g.svg").read_text()
    assert cli.main(["pipeline", "run", str(SEED), "--env", "dev", "--full-refresh", "--json"]) == 0
    printed = capsys.readouterr().out
    report = json.loads(printed[printed.index("{"):])
    assert report["state"] == "COMPLETED" and report["full_refresh"] is True
    assert spark.table("dev_catalog.analytics.silver_orders").count() == 40
    raw_orders(spark, 300, 1, negative=1, batch="bad").write.mode("append").saveAsTable(RAW)
    assert cli.main(["pipeline", "run", str(SEED)]) == 1


def test_full_refresh_recreates_a_view_only_when_its_definition_changed(spark, scratch_schema):
    """A full refresh is one overwrite commit, unless the comment, properties or partitioning changed: then the
    view is re-created with the new ones first (read from the Delta log, compared with DESCRIBE DETAIL)."""
    schema = scratch_schema.split(".")[1]
    spark.range(5).withColumnRenamed("id", "n").write.saveAsTable(f"{scratch_schema}.numbers")

    def refresh(comment: str):
        text = f'CREATE MATERIALIZED VIEW big COMMENT "{comment}" AS SELECT n FROM {scratch_schema}.numbers WHERE n > 1'
        update = run_pipeline(Pipeline.from_sql("comments", text), schema=schema, full_refresh=True)
        assert update.state == "COMPLETED", update.error
        history = spark.sql(f"DESCRIBE HISTORY {scratch_schema}.big").orderBy("version").collect()
        return spark.sql(f"DESCRIBE DETAIL {scratch_schema}.big").first().description, [h.operation for h in history]

    assert refresh("first") == ("first", ["CREATE OR REPLACE TABLE AS SELECT", "WRITE"])
    description, operations = refresh("first")
    assert (description, operations[2:]) == ("first", ["WRITE"])
    description, operations = refresh("second")
    assert (description, operations[3:]) == ("second", ["CREATE OR REPLACE TABLE AS SELECT", "WRITE"])


def test_full_refresh_of_a_streaming_table_replaces_its_rows_and_an_unfinished_one_is_redone(spark, scratch_schema):
    """An unchanged streaming table keeps its identity on a full refresh: one overwrite commit replaces its rows
    (none when the source is empty). A full refresh that fails is redone by the next update, which therefore
    does not append the whole source again to the old rows."""
    schema = scratch_schema.split(".")[1]
    source, target = f"{scratch_schema}.numbers", f"{scratch_schema}.numbers_st"
    spark.range(5).withColumnRenamed("id", "n").write.saveAsTable(source)
    text = (f"CREATE STREAMING TABLE numbers_st (CONSTRAINT non_negative EXPECT (n >= 0) ON VIOLATION FAIL UPDATE) "
            f"AS SELECT n FROM STREAM({source})")

    def update(full_refresh):
        return run_pipeline(Pipeline.from_sql("replace", text), schema=schema, full_refresh=full_refresh)

    def table_id():
        return spark.sql(f"DESCRIBE DETAIL {target}").first().id

    assert update(False).state == "COMPLETED"
    created, before = table_id(), version(spark, target)
    assert update(True).datasets["numbers_st"].rows_written == 5
    last = spark.sql(f"DESCRIBE HISTORY {target}").orderBy("version", ascending=False).first()
    assert (table_id(), last.version, last.operationParameters["mode"]) == (created, before + 1, "Overwrite")
    assert spark.table(target).count() == 5

    spark.createDataFrame([(-1,)], "n BIGINT").write.mode("append").saveAsTable(source)
    failed = update(True)
    assert failed.state == "FAILED" and "non_negative" in failed.error
    assert (version(spark, target), spark.table(target).count()) == (before + 1, 5)  # nothing written
    spark.sql(f"DELETE FROM {source} WHERE n < 0")
    redone = update(False)
    assert redone.state == "COMPLETED", redone.error
    assert sorted(r.n for r in spark.table(target).collect()) == [0, 1, 2, 3, 4]

    spark.sql(f"DELETE FROM {source}")
    assert update(True).state == "COMPLETED"
    assert (table_id(), spark.table(target).count()) == (created, 0)


def test_a_source_dropped_and_re_created_says_to_fully_refresh_the_streaming_table(spark, scratch_schema):
    """Spark refuses a stream whose checkpoint read another table of the same name; the update says which table
    and how to go on, and the full refresh it names reads the new table from its start."""
    schema = scratch_schema.split(".")[1]
    source = f"{scratch_schema}.landed"
    spark.range(3).withColumnRenamed("id", "n").write.saveAsTable(source)
    pipeline = functools.partial(Pipeline.from_sql, "replaced_source",
                                 "CREATE STREAMING TABLE copied AS SELECT n FROM STREAM(landed)")
    assert run_pipeline(pipeline(), schema=schema).state == "COMPLETED"
    spark.sql(f"DROP TABLE {source}")
    spark.range(10, 12).withColumnRenamed("id", "n").write.saveAsTable(source)

    failed = run_pipeline(pipeline(), schema=schema)
    assert failed.state == "FAILED"
    assert f"a table it streams from ({source}) was dropped and re-created" in failed.error
    assert "`full_refresh=['copied']` in `run_pipeline`" in failed.error
    assert "Logical Plan" not in failed.error
    refreshed = run_pipeline(pipeline(), schema=schema, full_refresh=["copied"])
    assert refreshed.state == "COMPLETED", refreshed.error
    assert sorted(r.n for r in spark.table(f"{scratch_schema}.copied").collect()) == [10, 11]


def test_an_update_creates_its_target_schema_when_missing(spark):
    import uuid

    schema = f"t_{uuid.uuid4().hex[:8]}"
    try:
        update = run_pipeline(Pipeline.from_sql("new_schema", "CREATE MATERIALIZED VIEW answer AS SELECT 42 AS n"),
                              schema=schema)
        assert update.state == "COMPLETED", update.error
        assert spark.read.table(f"dev_catalog.{schema}.answer").collect()[0].n == 42
    finally:
        spark.sql(f"DROP SCHEMA IF EXISTS dev_catalog.{schema} CASCADE")
