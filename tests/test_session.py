import os
from pathlib import Path

import pytest

import lakehouse_lab as lab
from lakehouse_lab import paths, session
from lakehouse_lab.config import ConfigError


def test_one_session_per_process_configured_for_the_lab(spark):
    assert lab.start() is spark
    conf = spark.conf
    assert conf.get("spark.sql.extensions").split(",") == ["io.delta.sql.DeltaSparkSessionExtension",
                                                           "io.lakehouselab.IsolationExtension",
                                                           "io.lakehouselab.DatabricksSqlExtension"]
    assert int(conf.get("spark.sql.shuffle.partitions")) <= 8
    assert conf.get("spark.sql.warehouse.dir").removeprefix("file:").startswith(str(paths.lab_root()))
    assert spark.sql("SELECT current_catalog() AS c, current_schema() AS s").first() == ("dev_catalog", "analytics")


def test_a_failed_query_after_observed_metrics_is_raised_without_a_listener_stack_trace(spark):
    """Spark's metrics listener throws on every query that fails analysis once metrics were observed (as in each
    pipeline update); the bus that would print it with a long stack trace logs fatal errors only."""
    from pyspark.errors import AnalysisException
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    observed = Observation("rows")
    spark.range(3).observe(observed, F.count(F.lit(1)).alias("n")).collect()
    assert observed.get == {"n": 3}
    with pytest.raises(AnalysisException, match="TABLE_OR_VIEW_NOT_FOUND"):
        spark.table("dev_catalog.analytics.no_such_table_anywhere")
    bus = spark._jvm.org.apache.logging.log4j.LogManager.getLogger("org.apache.spark.sql.util.ExecutionListenerBus")
    assert not bus.isErrorEnabled() and bus.isFatalEnabled()


def test_use_catalog_is_understood_as_on_databricks(spark):
    try:
        spark.sql("USE CATALOG prod_catalog")
        assert spark.sql("SELECT current_catalog()").first()[0] == "prod_catalog"
        spark.sql("use catalog `dev_catalog`;")
        assert spark.sql("SELECT current_catalog()").first()[0] == "dev_catalog"
        # parameters still reach the parser beneath (Delta's), and other statements are left alone
        assert spark.sql("SELECT :n + 1 AS v", args={"n": 41}).first().v == 42
        assert spark.sql("SELECT 'USE CATALOG x' AS s").first().s == "USE CATALOG x"
        # a pipeline's tables are altered as Databricks names them (the lab keeps them as Delta tables)
        spark.sql("CREATE OR REPLACE TABLE dev_catalog.default.st AS SELECT 1 AS x")
        spark.sql("ALTER STREAMING TABLE dev_catalog.default.st SET TBLPROPERTIES ('k' = 'st')")
        spark.sql("alter materialized view dev_catalog.default.st SET TBLPROPERTIES ('m' = 'mv')")
        properties = {r.key: r.value for r in spark.sql("SHOW TBLPROPERTIES dev_catalog.default.st").collect()}
        assert (properties["k"], properties["m"]) == ("st", "mv")
    finally:
        spark.sql("SET CATALOG dev_catalog")
        spark.sql("DROP TABLE IF EXISTS dev_catalog.default.st")


def test_the_json_colon_operator_reads_json_strings_as_on_databricks(spark):
    doc = ('{"flow_progress": {"metrics": {"num_output_rows": 42}, "data_quality": {"expectations": '
           '[{"name": "valid_id", "failed_records": 3}, {"name": "positive", "failed_records": 0}]}}, "zip code": "1"}')
    spark.createDataFrame([(doc, 7)], "details STRING, n INT").createOrReplaceTempView("json_docs")
    row = spark.sql("""
        SELECT details:flow_progress.metrics.num_output_rows AS rows,
               e.details:flow_progress:metrics:num_output_rows::int AS typed,
               details:flow_progress.data_quality.expectations[0].name AS first_name,
               details:['zip code'] AS bracket, details:`zip code` AS backticked,
               coalesce(details, '{}'):flow_progress.metrics AS metrics,
               details:missing AS missing, 'a:b' AS literal
        FROM json_docs e""").first()
    assert (row.rows, row.typed, row.first_name) == ("42", 42, "valid_id")
    assert (row.bracket, row.backticked, row.metrics) == ("1", "1", '{"num_output_rows":42}')
    assert row.missing is None and row.literal == "a:b"
    # the event log docs' data quality query: from_json's schema string is left alone
    quality = spark.sql("""
        SELECT q.name, q.failed_records FROM (
          SELECT explode(from_json(details:flow_progress:data_quality:expectations,
                                   'array<struct<name:string, failed_records:int>>')) AS q FROM json_docs)""")
    assert [tuple(r) for r in quality.collect()] == [("valid_id", 3), ("positive", 0)]
    # in a CTE, a subquery, a DataFrame expression, and next to a parameter marker
    assert spark.sql("WITH x AS (SELECT details:flow_progress.metrics AS m FROM json_docs) "
                     "SELECT count(*) FROM x WHERE m = (SELECT max(details:flow_progress.metrics) FROM json_docs)"
                     ).first()[0] == 1
    assert spark.table("json_docs").selectExpr("details:flow_progress.metrics.num_output_rows").first()[0] == "42"
    assert spark.sql("SELECT details:flow_progress.metrics.num_output_rows + :n AS v FROM json_docs",
                     args={"n": 1}).first().v == 43
    # VARIANT keeps Spark's own extraction; other types are refused with the reason
    variant = spark.sql("SELECT parse_json(details):flow_progress.metrics.num_output_rows AS v FROM json_docs")
    assert variant.schema["v"].dataType.simpleString() == "variant"
    with pytest.raises(Exception, match=r"DATATYPE_MISMATCH.*`json_docs.n` has the type \"INT\""):
        spark.sql("SELECT n:a FROM json_docs").collect()


def test_switching_environment_switches_the_current_catalog(spark):
    try:
        assert lab.start("prod") is spark
        assert spark.sql("SELECT current_catalog()").first()[0] == "prod_catalog"
        assert lab.table("silver_orders") == "prod_catalog.analytics.silver_orders"
    finally:
        lab.start("dev")
    assert lab.table("silver_orders") == "dev_catalog.analytics.silver_orders"


def test_unknown_environment_is_refused_with_the_choices():
    with pytest.raises(ConfigError, match="Valid environments: dev, prod, staging"):
        lab.start("nope")


def test_reset_refuses_a_root_outside_the_project(monkeypatch, tmp_path):
    monkeypatch.setattr(paths, "lab_root", lambda: tmp_path / "elsewhere")
    monkeypatch.delenv("LAKEHOUSE_LAB_HOME", raising=False)
    with pytest.raises(session.LabError, match="Refusing to reset"):
        lab.reset()
    assert tmp_path.exists()


def test_reset_deletes_only_a_folder_the_lab_made(monkeypatch, tmp_path):
    monkeypatch.setattr(session, "stop", lambda: None)  # the test session stays up: only folders are at stake
    monkeypatch.setattr(session.cluster, "stop", lambda: None)
    shared = tmp_path / "shared"
    (shared / "keep").mkdir(parents=True)
    monkeypatch.setenv("LAKEHOUSE_LAB_HOME", str(shared))
    with pytest.raises(session.LabError, match="holds files the lab did not make"):
        lab.reset()
    assert (shared / "keep").is_dir()

    monkeypatch.setenv("LAKEHOUSE_LAB_HOME", str(tmp_path / "lab"))
    paths.under(paths.lab_root(), "warehouse")
    assert (tmp_path / "lab" / paths.LAB_MARKER).is_file()
    assert lab.reset() == (tmp_path / "lab").resolve() and not (tmp_path / "lab").exists()


def test_lab_home_is_overridable(monkeypatch, tmp_path):
    monkeypatch.setenv("LAKEHOUSE_LAB_HOME", str(tmp_path / "home"))
    assert paths.lab_root() == (tmp_path / "home").resolve()


def test_sessions_get_only_the_jars_pyspark_does_not_ship():
    from pyspark.find_spark_home import _find_spark_home

    from lakehouse_lab import jars

    shipped = {jars._artifact(j.name) for j in (Path(_find_spark_home()) / "jars").glob("*.jar")}
    names = [j.name for j in jars.for_session()]
    assert any("delta-spark_" in n for n in names)
    assert not any("hadoop-client-runtime" in n for n in names)
    assert all(jars._artifact(n.split("_", 1)[1]) not in shipped for n in names)
    assert len(names) < len(jars.cached())
    assert jars._artifact("hadoop-client-api-3.4.2.jar") == "hadoop-client-api"
    assert jars._artifact("delta-spark_4.1_2.13-4.4.0.jar") == "delta-spark_4.1_2.13"


def test_jars_resolved_by_maven_are_named_without_their_group(tmp_path):
    """Maven's fallback names a jar <artifact>-<version>.jar (Ivy: <group>_<artifact>-<version>.jar)."""
    import json

    from lakehouse_lab import jars

    for name in ("delta-spark_4.1_2.13-4.4.0.jar", "delta-storage-4.4.0.jar", "hadoop-client-runtime-3.4.2.jar"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / jars.MANIFEST).write_text(json.dumps({"coordinates": jars.COORDINATES, "route": "maven"}))
    assert [j.name for j in jars.for_session(tmp_path)] == ["delta-spark_4.1_2.13-4.4.0.jar", "delta-storage-4.4.0.jar"]


def test_jvm_classes_by_full_name_give_their_static_methods_and_constructors(spark):
    from lakehouse_lab.jvm import jvm_class

    assert jvm_class(spark, "scala.Option").empty().isEmpty()
    assert jvm_class(spark, "java.util.ArrayList")().size() == 0
    log = jvm_class(spark, "io.delta.tables.DeltaTable").forName(spark._jsparkSession, "system.access.table_lineage")
    assert log.deltaLog().dataPath().getName() == "table_lineage"


def test_use_selects_a_schema_again_only_when_the_session_moved_away(spark, monkeypatch):
    from lakehouse_lab.catalog import use

    spark.sql("USE system.lakeflow")
    use(spark, "dev_catalog", "analytics")
    assert (spark.catalog.currentCatalog(), spark.catalog.currentDatabase()) == ("dev_catalog", "analytics")
    statements = []
    monkeypatch.setattr(spark, "sql", lambda text, *a, **k: statements.append(text))
    use(spark, "dev_catalog", "analytics")  # already current: no USE command to parse and run
    assert statements == []
