"""Small DataFrames from Python values, built inside the JVM.

``spark.createDataFrame(list_of_tuples)`` ships the rows as a pickled RDD, so every write of a handful of rows
(an event log, job history, a deployment record) starts Python workers to unpickle them: about half a second
each on a two-core machine. :func:`rows_frame` sends the rows as one JSON string instead and lets Spark parse
it (``inline(from_json(...))``), which needs no Python worker and writes one file rather than one per core.

>>> import datetime as dt
>>> import lakehouse_lab as lab
>>> spark = lab.start()                                                                    # doctest: +SKIP
>>> rows_frame(spark, [("a", 1, dt.datetime(2026, 1, 2, 3, 4))], "name STRING, n INT, at TIMESTAMP").collect()  # doctest: +SKIP
[Row(name='a', n=1, at=datetime.datetime(2026, 1, 2, 3, 4))]
"""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from .jvm import jvm_class


def rows_frame(spark, rows, schema: str):
    """A DataFrame of ``rows`` (tuples in the order of ``schema``'s columns, a DDL string such as
    ``"id BIGINT, at TIMESTAMP"``). Naive datetimes are read in the session time zone (the lab's is UTC)."""
    from pyspark.sql.types import _parse_datatype_string

    struct = _parse_datatype_string(schema)
    payload = json.dumps([_jsonable(row, struct) for row in rows], default=_scalar, allow_nan=True)
    return spark.sql("SELECT inline(from_json(:payload, :schema, map('mode', 'FAILFAST')))",
                     args={"payload": payload, "schema": f"array<struct<{schema}>>"})


def empty_frame(spark, struct):
    """An empty DataFrame with the columns of ``struct`` (a ``StructType``), without any Spark job."""
    from pyspark.sql import DataFrame

    jvm_schema = spark._jsparkSession.parseDataType(struct.json())
    rows = jvm_class(spark, "java.util.ArrayList")()
    return DataFrame(spark._jsparkSession.createDataFrame(rows, jvm_schema), spark)


def _jsonable(value, data_type):
    """``value`` with tuples of a struct type turned into objects keyed by field name (recursively)."""
    from pyspark.sql.types import ArrayType, StructType

    if value is None:
        return None
    if isinstance(data_type, StructType) and isinstance(value, (tuple, list)):
        return {f.name: _jsonable(v, f.dataType) for f, v in zip(data_type.fields, value)}
    if isinstance(data_type, ArrayType):
        return [_jsonable(v, data_type.elementType) for v in value]
    return value


def _scalar(value):
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot put a {type(value).__name__} into a lab table row: {value!r}")
