"""Deployment records and the data half of a rollback: table versions recorded, then Delta RESTORE."""
from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse_lab.environments import versions
from lakehouse_lab.session import LabError

pytestmark = pytest.mark.spark


def test_snapshot_and_restore_put_changed_tables_back(spark, scratch_schema):
    cat, schema = scratch_schema.split(".")
    spark.sql(f"CREATE TABLE {scratch_schema}.kept AS SELECT 1 AS a")
    spark.sql(f"CREATE TABLE {scratch_schema}.changed AS SELECT 1 AS a")
    spark.sql(f"CREATE TABLE {scratch_schema}.event_log_x AS SELECT 1 AS a")
    before = versions.snapshot(spark, [(cat, schema)])
    assert before == {f"{scratch_schema}.changed": 0, f"{scratch_schema}.kept": 0}  # event logs are bookkeeping
    spark.sql(f"INSERT INTO {scratch_schema}.changed VALUES (2), (3)")
    spark.sql(f"CREATE TABLE {scratch_schema}.created AS SELECT 9 AS a")
    after = versions.snapshot(spark, [(cat, schema)])
    changed = {t: before.get(t) for t in after if before.get(t) != after[t]}
    assert changed == {f"{scratch_schema}.changed": 0, f"{scratch_schema}.created": None}
    done = versions.restore(spark, changed)
    assert done == {f"{scratch_schema}.changed": "restored to version 0", f"{scratch_schema}.created": "dropped"}
    assert [r.a for r in spark.table(f"{scratch_schema}.changed").collect()] == [1]
    assert not spark.catalog.tableExists(f"{scratch_schema}.created")
    assert versions.restore(spark, {f"{scratch_schema}.kept": 0}) == {}  # already there: nothing to do


def test_quote_escapes_every_part():
    assert versions.quote("dev_catalog.analytics.we`ird") == "`dev_catalog`.`analytics`.`we``ird`"


def test_table_version_reads_the_delta_log_like_describe_history(spark, scratch_schema):
    t = f"{scratch_schema}.versioned"
    spark.sql(f"CREATE TABLE {t} AS SELECT 1 AS a")
    spark.sql(f"INSERT INTO {t} VALUES (2)")
    assert versions.table_version(spark, t) == spark.sql(f"DESCRIBE HISTORY {t} LIMIT 1").first().version == 1
    assert versions.table_version(spark, f"{scratch_schema}.missing") is None


def test_a_table_whose_log_cannot_be_read_is_not_taken_for_missing(spark, scratch_schema):
    """Taken for missing, a rollback would drop it: the snapshot refuses instead, naming the table."""
    t = f"{scratch_schema}.damaged"
    spark.sql(f"CREATE TABLE {t} AS SELECT 1 AS a")
    spark.sql(f"INSERT INTO {t} VALUES (2)")
    log = Path(spark.sql(f"DESCRIBE DETAIL {t}").first().location.removeprefix("file:")) / "_delta_log"
    for first_commit in log.glob("*00000000000000000000.*"):  # its first commit and checksum go missing
        first_commit.unlink()
    cat, schema = scratch_schema.split(".")
    with pytest.raises(LabError, match=f"cannot read the Delta log of {t}"):
        versions.snapshot(spark, [(cat, schema)])
