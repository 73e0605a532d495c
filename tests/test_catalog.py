"""The shared catalog: three-level names, Delta operations through them, other processes, new starts."""
import json
import os
import subprocess
import sys

import pytest

from lakehouse_lab import catalog


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


def test_tables_are_renamed_by_full_name_or_by_table_name(spark, scratch_schema):
    spark.sql(f"CREATE TABLE {scratch_schema}.first_name (id INT)")
    spark.sql(f"INSERT INTO {scratch_schema}.first_name VALUES (7)")
    spark.sql(f"ALTER TABLE {scratch_schema}.first_name RENAME TO {scratch_schema}.second_name")
    spark.sql(f"ALTER TABLE {scratch_schema}.second_name RENAME TO third_name")
    names = {r.tableName for r in spark.sql(f"SHOW TABLES IN {scratch_schema}").collect()}
    assert "third_name" in names and not names & {"first_name", "second_name"}
    assert spark.table(f"{scratch_schema}.third_name").first().id == 7


def test_functions_are_listed_in_a_catalog_schema(spark, scratch_schema):
    spark.sql("CREATE OR REPLACE TEMPORARY FUNCTION lab_twice(x INT) RETURNS INT RETURN x * 2")
    assert {"upper", "lab_twice"} <= {f.name for f in spark.catalog.listFunctions()}
    shown = spark.sql(f"SHOW FUNCTIONS IN {scratch_schema} LIKE 'upp*'").collect()
    assert [r.function for r in shown] == ["upper"]
    from pyspark.errors import AnalysisException
    with pytest.raises(AnalysisException, match="SCHEMA_NOT_FOUND"):
        spark.sql("SHOW FUNCTIONS IN dev_catalog.no_such_schema").collect()
    with pytest.raises(AnalysisException, match="UNRESOLVED_ROUTINE"):
        spark.sql(f"SELECT {scratch_schema}.no_such_function(1)").collect()


def test_missing_tables_lists_only_what_does_not_exist(spark, scratch_schema):
    spark.sql(f"CREATE TABLE {scratch_schema}.present (id INT)")
    asked = [f"{scratch_schema}.present", f"{scratch_schema}.absent", "dev_catalog.no_such_schema.t"]
    assert catalog.missing_tables(spark, asked) == asked[1:]


def test_bookkeeping_tables_come_back_after_being_dropped(spark, scratch_schema):
    table = f"{scratch_schema}.records"
    catalog.ensure_bookkeeping_tables(spark, {table: "id BIGINT, note STRING"})
    spark.sql(f"INSERT INTO {table} VALUES (1, 'kept')")
    catalog.ensure_bookkeeping_tables(spark, {table: "id BIGINT, note STRING"})
    assert spark.table(table).count() == 1  # an existing table is left as it is
    spark.sql(f"DROP TABLE {table}")  # as lab.reset() does to every table
    catalog.ensure_bookkeeping_tables(spark, {table: "id BIGINT, note STRING"})
    assert spark.table(table).columns == ["id", "note"] and spark.table(table).count() == 0


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


def in_another_kernel(code: str, home: str | None = None) -> None:
    """Run lab code in a new process (a second notebook kernel) with ``spark`` started."""
    env = {**os.environ, "CI": "1", **({"LAKEHOUSE_LAB_HOME": home} if home else {})}
    done = subprocess.run([sys.executable, "-c", "import lakehouse_lab as lab\nspark = lab.start()\n" + code],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]


def test_what_another_kernel_creates_drops_and_re_creates_is_seen_here(spark, scratch_schema, tmp_path):
    from pyspark.errors import AnalysisException

    t, ext, other = f"{scratch_schema}.swap", f"{scratch_schema}.ext", f"{scratch_schema}_other"
    spark.sql(f"CREATE TABLE {t} AS SELECT 1 AS a")
    spark.sql(f"CREATE TABLE {ext} AS SELECT 0 AS n")
    assert spark.table(t).count() == 1 and spark.table(ext).count() == 1  # known to this kernel now
    in_another_kernel(f"""
spark.sql("DROP TABLE {t}")
spark.sql("CREATE TABLE {t} AS SELECT 'x' AS b, 2 AS c UNION ALL SELECT 'y', 3")
spark.sql("DROP TABLE {ext}")
spark.sql("CREATE TABLE {ext} USING delta LOCATION '{tmp_path / 'ext'}' AS SELECT 7 AS n")
spark.sql("CREATE SCHEMA {other} COMMENT 'made elsewhere'")
spark.sql("CREATE TABLE {other}.kept AS SELECT 42 AS answer")
""")
    assert spark.table(t).columns == ["b", "c"] and spark.table(t).count() == 2
    assert spark.table(ext).first().n == 7
    assert catalog.list_tables(spark, *scratch_schema.split(".")) == ["ext", "swap"]
    comment = {r.info_name: r.info_value for r in spark.sql(f"DESCRIBE SCHEMA {other}").collect()}["Comment"]
    assert comment == "made elsewhere" and spark.table(f"{other}.kept").first().answer == 42
    spark.sql(f"DROP TABLE {ext}")  # an external table: its data stays
    assert (tmp_path / "ext" / "_delta_log").is_dir() and "ext" not in catalog.list_tables(spark, *scratch_schema.split("."))
    in_another_kernel(f'spark.sql("DROP SCHEMA {other} CASCADE")')
    assert other.split(".")[1] not in catalog.list_schemas(spark, "dev_catalog")
    with pytest.raises(AnalysisException, match="kept"):
        spark.table(f"{other}.kept")


def test_a_new_lab_root_starts_with_every_catalog_and_keeps_tables_across_starts(tmp_path, monkeypatch):
    """No server: the folders under the lab root are the catalog, read again by every new process."""
    home = str(tmp_path / "lab")
    in_another_kernel(f"""
spark.sql("CREATE TABLE dev_catalog.analytics.kept AS SELECT 42 AS answer")
spark.sql("CREATE TABLE dev_catalog.analytics.outside USING delta LOCATION '{tmp_path / 'outside'}' AS SELECT 1 AS n")
""", home=home)
    out = run_cli("sql", "SELECT answer, (SELECT n FROM dev_catalog.analytics.outside) AS n "
                  "FROM dev_catalog.analytics.kept", "--json", home=home)
    assert json.loads(out.splitlines()[-1]) == {"answer": 42, "n": 1}
    monkeypatch.setenv("LAKEHOUSE_LAB_HOME", home)
    tree = catalog.on_disk()
    assert set(tree) == set(catalog.catalogs())
    assert tree["dev_catalog"]["analytics"] == ["kept", "outside"] and {"access", "lakeflow"} <= set(tree["system"])
    listed = json.loads(run_cli("catalog", "--json", home=home))
    assert listed["dev_catalog"]["analytics"] == ["kept", "outside"]


def test_a_thread_writes_by_three_level_name_into_a_catalog_the_process_has_not_used_yet(spark):
    """A py4j thread has no active session: its names resolve only through catalogs loaded at start."""
    import uuid

    table = f"system.default.t_{uuid.uuid4().hex[:8]}"
    spark.sql(f"CREATE TABLE {table} (id BIGINT)")
    try:
        in_another_kernel(f"""
from concurrent.futures import ThreadPoolExecutor
with ThreadPoolExecutor(1) as pool:
    pool.submit(lambda: spark.range(3).write.mode("append").saveAsTable("{table}")).result()
""")
        assert spark.table(table).count() == 3
    finally:
        spark.sql(f"DROP TABLE {table}")


def test_bookkeeping_tables_are_appended_without_column_statistics(spark, scratch_schema):
    from lakehouse_lab.lineage import store

    assert all(catalog.BOOKKEEPING_PROPERTIES in store.ddl(level) for level in (False, True))
    t = f"{scratch_schema}.records"
    catalog.create_bookkeeping_table(spark, t, "id BIGINT, note STRING")
    spark.sql(f"INSERT INTO {t} VALUES (1, 'a'), (2, 'b')")
    assert spark.sql(f"SELECT count(*) FROM {t} WHERE note = 'b'").first()[0] == 1
    location = spark.sql(f"DESCRIBE DETAIL {t}").first().location
    stats = [json.loads(r.add.stats) for r in spark.read.json(f"{location}/_delta_log/*.json").collect() if r.add]
    assert all(set(s) == {"numRecords"} for s in stats) and sum(s["numRecords"] for s in stats) == 2
