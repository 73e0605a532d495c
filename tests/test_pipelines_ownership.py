"""A published table belongs to the pipeline that created it (``pipelines.pipelineId``), as on Databricks:
another pipeline, or a table no pipeline created, fails the update before its first write."""
from __future__ import annotations

import re
import textwrap

from lakehouse_lab.pipelines import Pipeline, run_pipeline
from lakehouse_lab.pipelines.delta_log import TableLog

OWNER = "pipelines.pipelineId"


def _definition(source: str) -> str:
    return textwrap.dedent(f"""
        CREATE OR REFRESH STREAMING TABLE events (CONSTRAINT positive EXPECT (x > 0) ON VIOLATION DROP ROW)
        TBLPROPERTIES ('pipelines.quarantine' = 'true')
        AS SELECT * FROM STREAM({source});
        CREATE OR REFRESH MATERIALIZED VIEW totals AS SELECT k, sum(x) AS total FROM LIVE.events GROUP BY k""")


def _owner(spark, table: str) -> str | None:
    return TableLog.of(spark, table).snapshot().properties.get(OWNER)


def _versions(spark, schema: str) -> dict:
    return {t: TableLog.of(spark, f"{schema}.{t}").snapshot().version
            for t in ("events", "events_quarantine", "totals")}


def test_a_table_belongs_to_the_pipeline_that_created_it(spark, scratch_schema):
    schema = scratch_schema.split(".")[1]
    spark.sql(f"CREATE TABLE {scratch_schema}.src AS SELECT id % 3 AS k, id - 2 AS x FROM range(10)")
    text = _definition(f"{scratch_schema}.src")
    first = run_pipeline(Pipeline.from_sql("first", text), schema=schema)
    assert first.state == "COMPLETED", first.error
    assert {_owner(spark, f"{scratch_schema}.{t}") for t in ("events", "events_quarantine", "totals")} == \
        {first.pipeline_id}
    before = _versions(spark, scratch_schema)

    second = run_pipeline(Pipeline.from_sql("second", text), schema=schema)
    assert second.state == "FAILED"
    assert {n: d.status for n, d in second.datasets.items()} == {"events": "FAILED", "totals": "FAILED"}
    assert f"table {scratch_schema}.events belongs to pipeline 'first' (id {first.pipeline_id})" in second.error
    assert re.match(r"<sql>:\d+: dataset 'events': ", second.error)
    assert _versions(spark, scratch_schema) == before  # nothing written
    assert run_pipeline(Pipeline.from_sql("second", text), schema=schema, validate_only=True).state == "FAILED"

    # handed over as on Databricks, with the statement the message gives: the property names the new pipeline
    assert f"ALTER STREAMING TABLE {scratch_schema}.events SET TBLPROPERTIES ('{OWNER}' = '{second.pipeline_id}')" \
        in second.error
    for kind, table in (("STREAMING TABLE", "events"), ("TABLE", "events_quarantine"), ("MATERIALIZED VIEW", "totals")):
        spark.sql(f"ALTER {kind} {scratch_schema}.{table} SET TBLPROPERTIES ('{OWNER}' = '{second.pipeline_id}')")
    assert run_pipeline(Pipeline.from_sql("second", text), schema=schema).state == "COMPLETED"
    assert "belongs to pipeline 'second'" in run_pipeline(Pipeline.from_sql("first", text), schema=schema).error


def test_a_table_no_pipeline_created_is_left_alone(spark, scratch_schema):
    schema = scratch_schema.split(".")[1]
    spark.sql(f"CREATE TABLE {scratch_schema}.src AS SELECT id % 3 AS k, id AS x FROM range(5)")
    spark.sql(f"CREATE TABLE {scratch_schema}.totals AS SELECT 'mine' AS k")
    update = run_pipeline(Pipeline.from_sql("p", _definition(f"{scratch_schema}.src")), schema=schema)
    assert update.state == "FAILED"
    assert update.datasets["totals"].status == "FAILED" and update.datasets["events"].status == "SKIPPED"
    assert "no pipeline created it" in update.error
    assert f"ALTER MATERIALIZED VIEW {scratch_schema}.totals SET TBLPROPERTIES ('{OWNER}' = '{update.pipeline_id}')" \
        in update.error
    assert [r.k for r in spark.table(f"{scratch_schema}.totals").collect()] == ["mine"]
    assert not spark.catalog.tableExists(f"{scratch_schema}.events")


def test_a_table_a_pipeline_wrote_before_owners_were_recorded_stays_its_own(spark, scratch_schema):
    schema = scratch_schema.split(".")[1]
    spark.sql(f"CREATE TABLE {scratch_schema}.src AS SELECT id % 3 AS k, id AS x FROM range(5)")
    text = _definition(f"{scratch_schema}.src")
    assert run_pipeline(Pipeline.from_sql("p", text), schema=schema).state == "COMPLETED"
    spark.sql(f"ALTER TABLE {scratch_schema}.totals UNSET TBLPROPERTIES ('{OWNER}')")
    other = run_pipeline(Pipeline.from_sql("other", text), schema=schema)  # its event log never saw 'totals'
    assert other.state == "FAILED" and "no pipeline created it" in other.datasets["totals"].error
    again = run_pipeline(Pipeline.from_sql("p", text), schema=schema)
    assert again.state == "COMPLETED", again.error
    assert _owner(spark, f"{scratch_schema}.totals") == again.pipeline_id


def test_an_update_creates_its_target_schema(spark, scratch_schema, tmp_path):
    from lakehouse_lab import cli

    schema = f"{scratch_schema.split('.')[1]}_new"
    (tmp_path / "one.sql").write_text("CREATE OR REFRESH MATERIALIZED VIEW one AS SELECT 1 AS x")
    try:
        assert cli.main(["pipeline", "run", str(tmp_path / "one.sql"), "--schema", schema]) == 0
        assert spark.table(f"dev_catalog.{schema}.one").count() == 1
    finally:
        spark.sql(f"DROP SCHEMA IF EXISTS dev_catalog.{schema} CASCADE")
