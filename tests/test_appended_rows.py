"""The rows a run of append commits added, read from the files they added (``java/AppendedRows.java``): the same
rows as the change data feed's inserts, or None when a commit did more than append."""
from __future__ import annotations

import pytest

from lakehouse_lab.pipelines.delta_log import TableLog


def _sorted(df):
    return sorted((tuple(r) for r in df.collect()), key=repr)


def _change_feed_inserts(spark, table, first, last):
    rows = (spark.read.option("readChangeFeed", "true").option("startingVersion", first)
            .option("endingVersion", last).table(table).where("_change_type = 'insert'"))
    return rows.drop("_change_type", "_commit_version", "_commit_timestamp")


@pytest.fixture()
def table(spark, scratch_schema):
    """Partitioned, with column mapping (files hold physical column names) and the change data feed."""
    name = f"{scratch_schema}.appended"
    spark.sql(f"CREATE TABLE {name} (id BIGINT, `odd name` STRING, part STRING) USING delta PARTITIONED BY (part) "
              "TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true', 'delta.columnMapping.mode' = 'name', "
              "'delta.minReaderVersion' = '2', 'delta.minWriterVersion' = '5')")
    for start in (0, 10, 20):
        spark.range(start, start + 10).selectExpr("id", "CONCAT('v', id) AS `odd name`",
                                                  "IF(id % 2 = 0, 'even', 'odd') AS part") \
            .write.mode("append").saveAsTable(name)
    return name


def test_the_rows_of_append_commits_are_the_change_feeds_inserts(spark, table):
    log = TableLog.of(spark, table)
    last = log.version()
    rows = log.appended_rows(last - 1, last)
    assert rows.columns == ["id", "odd name", "part"]
    assert _sorted(rows) == _sorted(_change_feed_inserts(spark, table, last - 1, last))
    assert sorted(r.id for r in rows.collect()) == list(range(10, 30))


def test_files_rearranged_without_a_data_change_are_skipped(spark, table):
    log = TableLog.of(spark, table)
    first = log.version() + 1
    spark.sql(f"OPTIMIZE {table}")
    spark.createDataFrame([(99, "v99", "odd")], "id BIGINT, `odd name` STRING, part STRING") \
        .write.mode("append").saveAsTable(table)
    rows = log.appended_rows(first, log.version())
    assert _sorted(rows) == [(99, "v99", "odd")] == _sorted(_change_feed_inserts(spark, table, first, log.version()))


@pytest.mark.parametrize("change", ["DELETE FROM {t} WHERE id = 3", "ALTER TABLE {t} ADD COLUMN extra INT",
                                    "UPDATE {t} SET `odd name` = 'x' WHERE id = 4"])
def test_commits_that_did_more_than_append_give_none(spark, table, change):
    log = TableLog.of(spark, table)
    first = log.version()
    spark.sql(change.format(t=table))
    assert log.appended_rows(first, log.version()) is None


def test_a_missing_commit_gives_none(spark, table):
    log = TableLog.of(spark, table)
    assert log.appended_rows(log.version(), log.version() + 1) is None


def test_appends_that_also_move_row_tracking_are_left_to_the_change_data_feed(spark, scratch_schema):
    """With row tracking each append also commits the table's row-id high-water mark (domain metadata)."""
    table = f"{scratch_schema}.tracked"
    spark.sql(f"CREATE TABLE {table} (id BIGINT) USING delta TBLPROPERTIES ('delta.enableRowTracking' = 'true', "
              "'delta.enableChangeDataFeed' = 'true')")
    spark.range(3).write.mode("append").saveAsTable(table)
    log = TableLog.of(spark, table)
    assert log.appended_rows(log.version(), log.version()) is None
