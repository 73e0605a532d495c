"""``import dlt``: the legacy Delta Live Tables Python names, running on Lakehouse Lab's pipeline engine.

``@dlt.table`` (streaming table when the query streams, else materialized view), ``@dlt.view``,
``dlt.read`` / ``dlt.read_stream``, ``@dlt.expect*``, ``dlt.create_streaming_table``, ``@dlt.append_flow``.

>>> import dlt
>>> @dlt.view
... def recent_orders():
...     return dlt.read("silver_orders").where("order_date >= '2024-01-01'")
>>> recent_orders.__dp_dataset__.kind
'view'
"""
from lakehouse_lab.expectations import (expect, expect_all, expect_all_or_drop, expect_all_or_fail,
                                        expect_or_drop, expect_or_fail)
from lakehouse_lab.pipelines.python_api import (append_flow, create_streaming_table, materialized_view, read,
                                                read_stream, table, temporary_view)

view = temporary_view
create_target_table = create_streaming_table

__all__ = ["table", "view", "materialized_view", "temporary_view", "read", "read_stream", "append_flow",
           "create_streaming_table", "create_target_table", "expect", "expect_or_drop", "expect_or_fail",
           "expect_all", "expect_all_or_drop", "expect_all_or_fail"]
