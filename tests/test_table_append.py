"""Appending without the write command (``java/TableAppend.java``): a commit like Delta's own append, the table's
constraints still checked; tables whose columns need the command are left to it, with nothing written."""
from __future__ import annotations

import pytest
from py4j.protocol import Py4JJavaError

from lakehouse_lab.pipelines.delta_log import TableLog


def test_an_append_commits_like_deltas_own_with_its_user_metadata(spark, scratch_schema, last_commit):
    table = f"{scratch_schema}.events"
    spark.sql(f"CREATE TABLE {table} (id BIGINT NOT NULL, name STRING COMMENT 'who') USING delta")
    spark.range(3).selectExpr("id", "CAST(id AS STRING) AS name").write.mode("append").saveAsTable(table)
    log = TableLog.of(spark, table)
    own = last_commit(log)

    version = log.append(spark.range(3, 8).selectExpr("id", "CONCAT('n', id) AS name"), '{"batch": 1}')
    assert version == own["readVersion"] + 2 == log.version()
    ours = last_commit(log)
    assert (ours["operation"], ours["operationParameters"], ours["isBlindAppend"]) == \
        (own["operation"], own["operationParameters"], own["isBlindAppend"])
    assert (ours["operation"], ours["operationParameters"]["mode"], ours["isBlindAppend"]) == ("WRITE", "Append", True)
    assert sorted(ours["operationMetrics"]) == sorted(own["operationMetrics"])
    assert ours["operationMetrics"]["numOutputRows"] == "5" and ours["userMetadata"] == '{"batch": 1}'
    assert sorted(r.id for r in spark.table(table).collect()) == list(range(8))


def test_constraints_are_checked_and_a_failed_append_writes_nothing(spark, scratch_schema):
    table = f"{scratch_schema}.checked"
    spark.sql(f"CREATE TABLE {table} (id BIGINT NOT NULL, amount INT) USING delta")
    spark.sql(f"ALTER TABLE {table} ADD CONSTRAINT positive CHECK (amount > 0)")
    log = TableLog.of(spark, table)
    before = log.version()
    for bad in ("SELECT CAST(NULL AS BIGINT) AS id, 1 AS amount", "SELECT 1L AS id, -5 AS amount"):
        with pytest.raises(Py4JJavaError, match="DELTA_NOT_NULL_CONSTRAINT_VIOLATED|DELTA_VIOLATE_CONSTRAINT"):
            log.append(spark.sql(bad))
    assert log.version() == before and spark.table(table).count() == 0


@pytest.mark.parametrize("ddl", [
    "id BIGINT, other STRING",                                   # other columns than the rows'
    "id BIGINT, name VARCHAR(3)",                                # a length the write command checks
    "id BIGINT GENERATED ALWAYS AS IDENTITY, name STRING",       # values the write command generates
    "id BIGINT, name STRING GENERATED ALWAYS AS (CAST(id AS STRING))",
])
def test_tables_whose_columns_need_the_write_command_are_left_to_it(spark, scratch_schema, ddl):
    table = f"{scratch_schema}.special"
    spark.sql(f"CREATE TABLE {table} ({ddl}) USING delta")
    log = TableLog.of(spark, table)
    before = log.version()
    assert log.append(spark.sql("SELECT 1L AS id, 'long name' AS name")) is None
    assert log.version() == before and spark.table(table).count() == 0
