"""Pipeline definitions in Python, with the names of ``pyspark.pipelines`` plus expectations.

Code written against ``dp`` runs here and, without the ``expect*`` decorators, under Apache Spark's own
Declarative Pipelines (``from pyspark import pipelines as dp``).

>>> from lakehouse_lab import dp
>>> @dp.materialized_view(comment="customers with orders")
... @dp.expect_or_drop("valid_customer", "customer_id IS NOT NULL")
... def gold_customers():
...     return spark.read.table("silver_orders").groupBy("customer_id").count()
>>> dp.definitions()[-1].name
'gold_customers'
"""
from __future__ import annotations

from .expectations import (expect, expect_all, expect_all_or_drop, expect_all_or_fail, expect_or_drop,
                           expect_or_fail)
from .pipelines.python_api import (append_flow, create_streaming_table, materialized_view, notebook_registry,
                                   read, read_stream, table, temporary_view)


def definitions():
    """The datasets defined so far in this notebook (run them with ``lab.pipelines.Pipeline.from_notebook``)."""
    return list(notebook_registry().datasets)


__all__ = ["table", "materialized_view", "temporary_view", "append_flow", "create_streaming_table", "expect",
           "expect_or_drop", "expect_or_fail", "expect_all", "expect_all_or_drop", "expect_all_or_fail", "read",
           "read_stream", "definitions"]
