"""The shared catalog: three-level names, Delta operations through them, other processes, server restarts."""
import os
import subprocess
import sys
import time
import json

import pytest

from lakehouse_lab import catalog, catalog_server


def test_delta_operations_through_three_level_names(spark, scratch_schema):
    t = f"{scratch_schema}.orders"
    spark.sql(f"CREATE TABLE {t} AS SELECT id AS order_id, id * 10 AS amount FROM range(5)")
    spark.sql(f"INSERT INTO {t} VALUES (100, 1000)")
    spark.sql(f"""MERGE INTO {t} AS t USING (SELECT 1 AS order_id, 99 AS amount) AS s ON t.order_id = s.order_id
                  WHEN MATCHED THEN UPDATE SET amount = s.amount WHEN NOT MATCHED THEN INSERT *""")
    assert spark.sql(f"SELECT amount FROM {t} WHERE order_id = 1").first().amount == 99
    assert spark.sql(f"SELECT count(*) AS n FROM {t} VERSION AS OF 0").first().n == 5
    ops = [r.operation for r in spark.sql(f"DESCRIBE HISTORY {t}").orderBy("version").collect()]
    assert ops == ["CREATE TABLE AS SELECT", "WRITE", "MERGE"]
    spark.sql(f"RESTORE TABLE {t} TO VERSION AS OF 0")
    assert spark.table(t).count() == 5
    assert spark.sql(f"DESCRIBE DETAIL {t}").first().format == "delta"


def test_streaming_writes_into_a_catalog_table(spark, scratch_schema, tmp_path):
    src, dst = f"{scratch_schema}.src", f"{scratch_schema}.dst"
    spark.sql(f"CREATE TABLE {src} AS SELECT id FROM range(7)")
    query = (spark.readStream.table(src).writeStream.option("checkpointLocation", str(tmp_path / "ck"))
             .trigger(availableNow=True).toTable(dst))
    query.awaitTermination()
    assert spark.table(dst).count() == 7


def test_schemas_are_listed_per_catalog(spark, scratch_schema):
    schema = scratch_schema.split(".")[1]
    assert schema in catalog.list_schemas(spark, "dev_catalog")
    assert schema not in catalog.list_schemas(spark, "prod_catalog")
    assert {"access", "lakeflow"} <= set(catalog.list_schemas(spark, "system"))


def test_missing_tables_lists_only_what_does_not_exist(spark, scratch_schema):
    spark.sql(f"CREATE TABLE {scratch_schema}.present (id INT)")
    asked = [f"{scratch_schema}.present", f"{scratch_schema}.absent", "dev_catalog.no_such_schema.t"]
    assert catalog.missing_tables(spark, asked) == asked[1:]


def test_unknown_names_are_explained(spark, scratch_schema):
    spark.sql(f"CREATE TABLE {scratch_schema}.silver_orders (id INT)")
    assert "Catalog 'nope_catalog' does not exist" in catalog.explain_missing(spark, "nope_catalog.a.b")
    assert "Schema dev_catalog.nope does not exist" in catalog.explain_missing(spark, "dev_catalog.nope.t")
    message = catalog.explain_missing(spark, f"{scratch_schema}.silver_order")
    assert f"Did you mean {scratch_schema}.silver_orders" in message
    from pyspark.errors import AnalysisException
    with pytest.raises(AnalysisException, match=r"`dev_catalog`.`analytics`.`no_such_table`"):
        spark.sql("SELECT * FROM dev_catalog.analytics.no_such_table")


def run_cli(*args: str, home: str | None = None) -> str:
    """Run ``lakehouse-lab`` in a new process (as a second notebook kernel would) and return its stdout."""
    env = {**os.environ, "CI": "1", **({"LAKEHOUSE_LAB_HOME": home} if home else {})}
    done = subprocess.run([sys.executable, "-m", "lakehouse_lab.cli", *args], capture_output=True, text=True,
                          timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_another_process_sees_the_same_tables(spark, scratch_schema):
    t = f"{scratch_schema}.shared"
    spark.sql(f"CREATE TABLE {t} AS SELECT 'written by the first kernel' AS note")
    out = run_cli("sql", f"SELECT note, 1 AS n FROM {t}", "--json")
    assert [json.loads(line) for line in out.splitlines()] == [{"note": "written by the first kernel", "n": 1}]


def _stopped_within(seconds: float) -> bool:
    """SIGKILL is delivered asynchronously: give the process a moment to die and be reaped."""
    deadline = time.monotonic() + seconds
    while catalog_server.status()["running"]:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_a_killed_server_is_restarted_by_the_next_start_with_every_table(tmp_path, monkeypatch):
    """In a lab root of its own, so the shared session of the other tests keeps its server."""
    home = str(tmp_path / "lab")
    run_cli("sql", "CREATE TABLE dev_catalog.analytics.kept AS SELECT 42 AS answer", home=home)
    monkeypatch.setenv("LAKEHOUSE_LAB_HOME", home)
    before = catalog_server.status()
    assert before["running"]
    os.kill(before["pid"], 9)
    assert _stopped_within(10.0), "a killed server still reported as running"
    out = run_cli("sql", "SELECT answer FROM dev_catalog.analytics.kept", "--json", home=home)
    assert json.loads(out.splitlines()[-1]) == {"answer": 42}
    after = catalog_server.status()
    assert after["running"] and after["pid"] != before["pid"]
    catalog_server.stop()
