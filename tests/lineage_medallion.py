"""A tiny bronze -> silver -> gold built with plain SQL in a fresh schema, shared by the lineage tests.

Built once per test process (the tests only read its lineage); the schema is dropped at exit.
"""
from __future__ import annotations

import atexit
import uuid

_built: dict = {}

ORDERS = [("o1", "c1", 10.0, "2026-01-01", "completed"), ("o2", "c1", 5.5, "2026-01-02", "pending"),
          ("o3", "c2", 7.0, "2026-01-03", "completed"), (None, "c3", 1.0, "2026-01-04", "completed")]
CUSTOMERS = [("c1", "Ann", "DE"), ("c2", "Bo", "SE"), ("c3", "Cy", "FR")]


def build(spark) -> str:
    """The schema (``dev_catalog.lin_xxxx``) holding raw_orders, raw_customers, silver_orders, gold_*."""
    if "schema" in _built:
        return _built["schema"]
    s = f"dev_catalog.lin_{uuid.uuid4().hex[:8]}"
    spark.sql(f"CREATE SCHEMA {s}")
    atexit.register(lambda: spark.sparkContext._jsc is not None and spark.sql(f"DROP SCHEMA IF EXISTS {s} CASCADE"))
    spark.createDataFrame(ORDERS, "order_id STRING, customer_id STRING, amount DOUBLE, order_date STRING, "
                          "status STRING").write.saveAsTable(f"{s}.raw_orders")
    spark.createDataFrame(CUSTOMERS, "customer_id STRING, name STRING, country STRING") \
        .write.saveAsTable(f"{s}.raw_customers")
    spark.sql(f"""CREATE OR REPLACE TABLE {s}.silver_orders AS
                  SELECT order_id, customer_id, CAST(amount AS DECIMAL(10,2)) AS amount,
                         CAST(order_date AS DATE) AS order_date, status
                  FROM {s}.raw_orders WHERE order_id IS NOT NULL""")
    spark.sql(f"""CREATE OR REPLACE TABLE {s}.gold_customer_metrics AS
                  SELECT o.customer_id, c.country, COUNT(*) AS total_orders, SUM(o.amount) AS total_revenue,
                         MAX(o.order_date) AS last_order_date
                  FROM {s}.silver_orders o JOIN {s}.raw_customers c ON o.customer_id = c.customer_id
                  GROUP BY o.customer_id, c.country""")
    spark.sql(f"CREATE TABLE {s}.gold_revenue (order_date DATE, revenue DECIMAL(20,2))")
    spark.sql(f"""INSERT INTO {s}.gold_revenue
                  SELECT order_date, SUM(amount) FROM {s}.silver_orders GROUP BY order_date""")
    _built["schema"] = s
    return s
