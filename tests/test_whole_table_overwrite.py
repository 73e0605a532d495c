"""Replacing a table's rows without Delta rebuilding its file list (``java/WholeTableOverwrite.java``): only when
the latest commit names every file, and then a commit like Delta's own overwrite; otherwise nothing is written."""
from __future__ import annotations

from pyspark.sql import functions as F
from pyspark.sql.observation import Observation

from lakehouse_lab.pipelines.delta_log import TableLog


def _rows(spark, table):
    return sorted(tuple(r) for r in spark.table(table).collect())


def test_after_an_overwrite_the_rows_are_replaced_in_one_commit_like_deltas_own(spark, scratch_schema,
                                                                               last_commit):
    table = f"{scratch_schema}.replaced"
    spark.range(10).selectExpr("id", "id * 2 AS twice").repartition(3).write.saveAsTable(table)
    spark.range(4).selectExpr("id", "id * 3 AS twice").writeTo(table).overwrite(F.lit(True))  # Delta's own
    log = TableLog.of(spark, table)
    own = last_commit(log)
    assert log.files_known()

    version = log.replace_rows(spark.range(5, 12).selectExpr("id", "id * 2 AS twice").repartition(2))
    assert version == own["readVersion"] + 2 == log.version()
    assert _rows(spark, table) == [(i, i * 2) for i in range(5, 12)]
    ours = last_commit(log)
    assert (ours["operation"], ours["operationParameters"], ours["isolationLevel"], ours["isBlindAppend"]) == \
        (own["operation"], own["operationParameters"], own["isolationLevel"], own["isBlindAppend"])
    assert sorted(ours["operationMetrics"]) == sorted(own["operationMetrics"])
    assert ours["operationMetrics"]["numOutputRows"] == "7"
    assert ours["operationMetrics"]["numRemovedFiles"] == own["operationMetrics"]["numFiles"]
    assert log.files_known()  # and again for the next one


def test_nothing_is_written_when_the_latest_commit_does_not_name_every_file(spark, scratch_schema):
    table = f"{scratch_schema}.appended"
    spark.range(3).write.saveAsTable(table)
    spark.range(3, 6).write.mode("append").saveAsTable(table)  # the table's files come from two commits
    log = TableLog.of(spark, table)
    before = log.version()
    assert not log.files_known()
    assert log.replace_rows(spark.range(100, 101)) is None
    assert log.version() == before and _rows(spark, table) == [(i,) for i in range(6)]


def test_nothing_is_written_for_other_columns_an_append_only_or_a_clustered_table(spark, scratch_schema):
    table = f"{scratch_schema}.kept"
    spark.range(3).selectExpr("id", "'x' AS tag").write.saveAsTable(table)
    log = TableLog.of(spark, table)
    assert log.files_known()
    assert log.replace_rows(spark.range(3).selectExpr("id", "1 AS tag")) is None     # tag: a number, not text
    assert log.replace_rows(spark.range(3)) is None                                 # a column short
    spark.sql(f"ALTER TABLE {table} SET TBLPROPERTIES ('delta.appendOnly' = 'true')")
    spark.range(3, 4).selectExpr("id", "'y' AS tag").write.mode("append").saveAsTable(table)
    spark.sql(f"OPTIMIZE {table}")  # one commit names the table's single file again
    assert log.files_known()
    assert log.replace_rows(spark.range(9).selectExpr("id", "'z' AS tag")) is None  # Delta refuses to remove rows
    assert _rows(spark, table) == [(0, "x"), (1, "x"), (2, "x"), (3, "y")]

    clustered = f"{scratch_schema}.clustered"  # its clustering columns are domain metadata, Delta's to rewrite
    spark.sql(f"CREATE TABLE {clustered} (id BIGINT) CLUSTER BY (id)")
    spark.range(3).writeTo(clustered).overwrite(F.lit(True))
    assert not TableLog.of(spark, clustered).files_known()
    assert TableLog.of(spark, clustered).replace_rows(spark.range(7)) is None


def test_metrics_observed_on_the_rows_reach_the_driver(spark, scratch_schema):
    table = f"{scratch_schema}.observed"
    spark.range(4).write.saveAsTable(table)
    observation = Observation("replaced")
    rows = spark.range(20).observe(observation, F.count(F.lit(1)).alias("rows"), F.sum("id").alias("total"))
    assert TableLog.of(spark, table).replace_rows(rows) is not None
    assert observation.get == {"rows": 20, "total": 190}
