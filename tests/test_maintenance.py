"""Compaction of the bookkeeping tables: which tables, the file counts from the checksum files, rows kept."""
from lakehouse_lab import catalog, maintenance


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
