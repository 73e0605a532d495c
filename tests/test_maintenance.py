"""Upkeep of the bookkeeping tables: which tables are compacted, the file counts from the checksum files, rows
kept; and their short log, given to tables created before it."""
import os
import time

from lakehouse_lab import catalog, maintenance
from lakehouse_lab.pipelines.delta_log import TableLog


def _appends(spark, table: str, n: int) -> None:
    for i in range(n):
        spark.sql(f"INSERT INTO {table} VALUES (:i)", args={"i": i})


def test_only_bookkeeping_tables_with_enough_files_are_compacted(spark, scratch_schema):
    records, data = f"{scratch_schema}.records", f"{scratch_schema}.data"
    catalog.create_bookkeeping_table(spark, records, "id BIGINT")
    spark.sql(f"CREATE TABLE {data} (id BIGINT) USING delta")
    _appends(spark, records, 3)
    _appends(spark, data, 3)
    counts = maintenance.file_counts("dev_catalog")
    assert counts[records] == 3 and data not in counts  # a learner's table is not the lab's to compact

    assert records not in maintenance.compact_bookkeeping_tables(spark, min_files=4)  # (other lab tables may be)
    assert maintenance.compact_bookkeeping_tables(spark, min_files=3)[records] == (3, 1)
    assert spark.sql(f"DESCRIBE HISTORY {records} LIMIT 1").first().operation == "OPTIMIZE"
    assert sorted(r.id for r in spark.table(records).collect()) == [0, 1, 2]
    assert spark.sql(f"DESCRIBE DETAIL {data}").first().numFiles == 3
    assert records not in maintenance.compact_bookkeeping_tables(spark, min_files=3)


def test_bookkeeping_tables_from_before_get_a_short_log_and_lose_their_expired_commits(spark, scratch_schema):
    older, newer = f"{scratch_schema}.older_records", f"{scratch_schema}.newer_records"
    spark.sql(f"CREATE TABLE {older} (id BIGINT) USING delta "
              "TBLPROPERTIES ('delta.dataSkippingNumIndexedCols' = '0')")  # as created before the setting
    catalog.create_bookkeeping_table(spark, newer, "id BIGINT")
    _appends(spark, older, 4)
    TableLog.of(spark, older)._log.checkpoint()  # at version 4
    log = catalog.schema_folder(*scratch_schema.split(".")) / "older_records" / "_delta_log"
    three_days_ago = time.time() - 3 * 86400
    for path in log.glob("0000000000000000000[0-4].*"):  # commits 0-4 and that checkpoint: three days old
        os.utime(path, (three_days_ago, three_days_ago))

    changed = maintenance.shorten_logs(spark)
    assert older in changed and newer not in changed
    properties = {r.key: r.value for r in spark.sql(f"SHOW TBLPROPERTIES {older}").collect()}
    assert properties["delta.logRetentionDuration"] == catalog.BOOKKEEPING_LOG_SETTINGS["delta.logRetentionDuration"]
    assert not any((log / f"{v:020d}.json").exists() for v in range(4))  # expired, behind an expired checkpoint
    assert (log / f"{5:020d}.json").exists()  # the settings' own commit, today
    assert sorted(r.id for r in spark.table(older).collect()) == [0, 1, 2, 3]
    assert older not in maintenance.shorten_logs(spark)
