"""The tasks of the course's ``task_dependencies`` job (seed §3) as Python functions on the lab's Spark.

``job_from_dependencies(name, task_dependencies)`` runs the function named like each task when this module
has one (``bronze_ingestion``, ``silver_customers``, ``silver_orders``, ``gold_customer_metrics``,
``gold_revenue_analysis``, ``final_reporting``). They read the bronze tables of :mod:`lakehouse_lab.datagen`
and write small ``jobs_*`` tables in the environment's schema (prefixed so they never clash with the
pipeline's tables), and pass row counts downstream as task values.

>>> sorted(TASKS)[:2]
['bronze_ingestion', 'final_reporting']
"""
from __future__ import annotations

from ..dbutils import dbutils


def _spark():
    import lakehouse_lab as lab

    return lab.start()


def _table(name: str) -> str:
    import lakehouse_lab as lab

    return lab.table(name)


def _save(df, name: str) -> int:
    df.write.mode("overwrite").option("overwriteSchema", "true").saveAsTable(_table(name))
    rows = _spark().table(_table(name)).count()
    dbutils.jobs.taskValues.set("rows", rows)
    return rows


def bronze_ingestion(orders: int = 2000, batches: int = 1) -> int:
    """Land the course's source files (once) and ingest new ones into bronze."""
    from .. import datagen

    added = datagen.prepare_sources(_spark(), orders=orders, batches=batches)
    rows = _spark().table(_table("bronze.raw_orders")).count()
    dbutils.jobs.taskValues.set("rows", rows)
    return f"bronze.raw_orders: {rows} rows ({added})"


def silver_customers() -> int:
    """One row per customer id with a valid email."""
    df = _spark().table(_table("bronze.raw_customers")).where("customer_id IS NOT NULL AND email LIKE '%@%'")
    return _save(df.dropDuplicates(["customer_id"]).drop("_rescued_data"), "jobs_silver_customers")


def silver_orders() -> int:
    """Well-formed orders: an id, a positive amount, a known status, a date not in the future."""
    df = _spark().table(_table("bronze.raw_orders")).where(
        "order_id IS NOT NULL AND amount > 0 AND status IN ('pending', 'completed', 'cancelled') "
        "AND to_date(order_date) <= current_date()")
    return _save(df.selectExpr("order_id", "customer_id", "product_id", "quantity", "amount",
                               "to_date(order_date) AS order_date", "status").dropDuplicates(["order_id"]),
                 "jobs_silver_orders")


def gold_customer_metrics() -> int:
    """Orders and revenue per customer (completed orders of known customers)."""
    from pyspark.sql import functions as F

    spark = _spark()
    orders = spark.table(_table("jobs_silver_orders")).where("status = 'completed'")
    customers = spark.table(_table("jobs_silver_customers"))
    df = (orders.join(customers, "customer_id").groupBy("customer_id", "country")
          .agg(F.count("*").alias("orders"), F.round(F.sum("amount"), 2).alias("revenue")))
    return _save(df, "jobs_gold_customer_metrics")


def gold_revenue_analysis() -> int:
    """Revenue and orders per day (completed orders)."""
    from pyspark.sql import functions as F

    df = (_spark().table(_table("jobs_silver_orders")).where("status = 'completed'").groupBy("order_date")
          .agg(F.count("*").alias("orders"), F.round(F.sum("amount"), 2).alias("revenue")))
    return _save(df, "jobs_gold_revenue_analysis")


def final_reporting() -> str:
    """A one-line report from the upstream task values."""
    metrics = dbutils.jobs.taskValues.get("gold_customer_metrics", "rows", default=0, debugValue=0)
    days = dbutils.jobs.taskValues.get("gold_revenue_analysis", "rows", default=0, debugValue=0)
    dbutils.jobs.taskValues.set("report", {"customers": metrics, "days": days})
    return f"{metrics} customers with revenue over {days} days"


TASKS = {f.__name__: f for f in (bronze_ingestion, silver_customers, silver_orders, gold_customer_metrics,
                                 gold_revenue_analysis, final_reporting)}
