"""Isolation: a session for one environment writes only into that environment's catalog (and ``system``);
enforced by the catalog itself, so plain ``spark.sql`` and DataFrame writers are covered."""
from __future__ import annotations

import uuid

import pytest
from pyspark.errors import UnsupportedOperationException

import lakehouse_lab as lab
from lakehouse_lab.environments.deploy import as_environment
from lakehouse_lab.environments.versions import table_version

pytestmark = pytest.mark.spark


@pytest.fixture()
def prod_table(spark):
    name = f"prod_catalog.default.iso_{uuid.uuid4().hex[:8]}"
    with as_environment("prod"):
        spark.sql(f"CREATE TABLE {name} AS SELECT 1 AS x")
    yield name
    with as_environment("prod"):
        spark.sql(f"DROP TABLE IF EXISTS {name}")


def refused(action: str, name: str) -> str:
    return (rf"\[ENVIRONMENT_ISOLATION\] This session is for environment 'dev' and cannot {action}"
            rf".*{name.split('.')[-1]}: catalog 'prod_catalog' is not writable from it "
            rf"\(writable catalogs: dev_catalog,system\)")


def test_a_dev_session_cannot_create_tables_or_schemas_in_prod(spark):
    assert lab.current_env() == "dev"
    name = f"prod_catalog.default.iso_{uuid.uuid4().hex[:8]}"
    with pytest.raises(UnsupportedOperationException, match=refused("create table", name)):
        spark.sql(f"CREATE TABLE {name} (a INT)")
    with pytest.raises(UnsupportedOperationException, match=refused("create or replace table", name)):
        spark.sql(f"CREATE OR REPLACE TABLE {name} AS SELECT 1 AS a")
    with pytest.raises(UnsupportedOperationException, match="cannot create schema prod_catalog.iso_schema"):
        spark.sql("CREATE SCHEMA prod_catalog.iso_schema")
    assert not spark.catalog.tableExists(name)


def test_a_dev_session_reads_prod_but_every_write_is_refused(spark, prod_table):
    version = table_version(spark, prod_table)
    statements = {
        "INSERT": f"INSERT INTO {prod_table} VALUES (2)",
        "DELETE": f"DELETE FROM {prod_table} WHERE x = 1",
        "UPDATE": f"UPDATE {prod_table} SET x = 5",
        "MERGE": f"MERGE INTO {prod_table} t USING (SELECT 1 AS x) s ON t.x = s.x WHEN MATCHED THEN DELETE",
        "alter table": f"ALTER TABLE {prod_table} ADD COLUMNS (y INT)",
        "drop table": f"DROP TABLE {prod_table}",
    }
    for action, statement in statements.items():
        with pytest.raises(UnsupportedOperationException, match=refused(action if " " in action else r"\[", prod_table)):
            spark.sql(statement)
    with pytest.raises(UnsupportedOperationException, match="ENVIRONMENT_ISOLATION"):
        spark.range(3).withColumnRenamed("id", "x").write.mode("append").saveAsTable(prod_table)
    with pytest.raises(UnsupportedOperationException, match="ENVIRONMENT_ISOLATION"):
        spark.range(3).selectExpr("CAST(id AS INT) AS x").writeTo(prod_table).append()
    assert [r.x for r in spark.table(prod_table).collect()] == [1]
    assert table_version(spark, prod_table) == version


def test_delta_commands_the_delta_table_api_paths_and_streams_are_refused_too(spark, prod_table, tmp_path):
    from delta.tables import DeltaTable

    with as_environment("prod"):
        spark.sql(f"INSERT INTO {prod_table} VALUES (2)")  # a second version: RESTORE to the first has work to do
    version = table_version(spark, prod_table)
    for action, statement in {"RESTORE table": f"RESTORE TABLE {prod_table} TO VERSION AS OF 0",
                              "OPTIMIZE table": f"OPTIMIZE {prod_table}",
                              "VACUUM table": f"VACUUM {prod_table} RETAIN 0 HOURS"}.items():
        with pytest.raises(UnsupportedOperationException, match=refused(action, prod_table)):
            spark.sql(statement)
    table = DeltaTable.forName(spark, prod_table)
    with pytest.raises(UnsupportedOperationException, match=refused("DELETE FROM table", prod_table)):
        table.delete("x = 1")
    with pytest.raises(UnsupportedOperationException, match=refused("UPDATE table", prod_table)):
        table.update("x = 1", {"x": "5"})
    with pytest.raises(UnsupportedOperationException, match=refused("MERGE INTO table", prod_table)):
        (table.alias("t").merge(spark.range(1).selectExpr("CAST(id AS INT) AS x").alias("s"), "t.x = s.x")
         .whenNotMatchedInsertAll().execute())
    location = spark.sql(f"DESCRIBE DETAIL {prod_table}").first().location
    with pytest.raises(UnsupportedOperationException, match=refused("write into table", prod_table)):
        spark.range(1).selectExpr("CAST(id AS INT) AS x").write.format("delta").mode("append").save(location)
    rate = spark.readStream.format("rate").load().selectExpr("CAST(value AS INT) AS x")
    with pytest.raises(UnsupportedOperationException, match=refused("stream into table", prod_table)):
        rate.writeStream.option("checkpointLocation", str(tmp_path / "cp")).toTable(prod_table)
    assert not spark.streams.active
    assert sorted(r.x for r in spark.table(prod_table).collect()) == [1, 2]
    assert table_version(spark, prod_table) == version


def test_a_prod_session_writes_prod_and_dev_becomes_read_only(spark, prod_table):
    with as_environment("prod"):
        spark.sql(f"INSERT INTO {prod_table} VALUES (2)")
        with pytest.raises(UnsupportedOperationException, match="environment 'prod' and cannot create table dev_catalog"):
            spark.sql("CREATE TABLE dev_catalog.default.from_prod (a INT)")
    assert lab.current_env() == "dev"
    assert sorted(r.x for r in spark.table(prod_table).collect()) == [1, 2]


def test_dev_and_system_stay_writable(spark, scratch_schema):
    spark.sql(f"CREATE TABLE {scratch_schema}.t AS SELECT 1 AS a")
    spark.sql(f"INSERT INTO {scratch_schema}.t VALUES (2)")
    name = f"system.default.iso_{uuid.uuid4().hex[:8]}"
    spark.sql(f"CREATE TABLE {name} AS SELECT 1 AS a")
    spark.sql(f"DROP TABLE {name}")
    assert spark.table(f"{scratch_schema}.t").count() == 2
