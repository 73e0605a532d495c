"""Small DataFrames built in the JVM from Python rows (lakehouse_lab.frames)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from lakehouse_lab.frames import empty_frame, rows_frame

SCHEMA = ("name STRING, n BIGINT, at TIMESTAMP, day DATE, amount DECIMAL(10,2), ok BOOLEAN, "
          "origin STRUCT<k: STRING, v: INT>, `commit` STRING")


def test_rows_keep_their_values_and_types(spark):
    rows = [("a", 7, dt.datetime(2026, 1, 2, 3, 4, 5, 6), dt.date(2026, 1, 2), Decimal("12.34"), True, ("x", 2), "c1"),
            ("b", None, dt.datetime(2026, 1, 2, 3, 4), None, None, False, None, None)]
    got = rows_frame(spark, rows, SCHEMA).collect()
    assert [tuple(r) for r in got][1] == ("b", None, dt.datetime(2026, 1, 2, 3, 4), None, None, False, None, None)
    first = got[0]
    assert (first.name, first.n, first.at, first.day, first.amount, first.ok) == \
        ("a", 7, dt.datetime(2026, 1, 2, 3, 4, 5, 6), dt.date(2026, 1, 2), Decimal("12.34"), True)
    assert (first.origin.k, first.origin.v, first["commit"]) == ("x", 2, "c1")


def test_a_value_of_the_wrong_type_fails_instead_of_becoming_null(spark):
    with pytest.raises(Exception, match="MALFORMED_RECORD"):
        rows_frame(spark, [("a", "not a number")], "name STRING, n BIGINT").collect()


def test_no_rows_and_empty_frames_keep_the_columns(spark):
    assert rows_frame(spark, [], "a STRING, b INT").columns == ["a", "b"]
    assert rows_frame(spark, [], "a STRING, b INT").count() == 0
    struct = rows_frame(spark, [], SCHEMA).schema
    empty = empty_frame(spark, struct)
    assert empty.schema == struct and empty.count() == 0


def test_a_small_append_writes_one_file(spark, scratch_schema):
    table = f"{scratch_schema}.events"
    rows_frame(spark, [("a", i) for i in range(50)], "name STRING, n BIGINT").write.saveAsTable(table)
    assert spark.sql(f"DESCRIBE DETAIL {table}").first().numFiles == 1
    assert spark.table(table).count() == 50
