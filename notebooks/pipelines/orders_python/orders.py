"""The course's orders pipeline in Python (seed §2), with the names of ``pyspark.pipelines``.

Under Apache Spark's own Declarative Pipelines replace the import by ``from pyspark import pipelines as dp``
and drop the ``@dp.expect*`` lines (SDP has no expectations); the rest is the same code.
"""
from pyspark.sql import functions as F

from lakehouse_lab import dp


@dp.table(name="bronze_orders", comment="Raw order data from source systems")
def bronze_orders():
    return spark.readStream.table("bronze.raw_orders").withColumn("ingestion_time", F.current_timestamp())


@dp.materialized_view(comment="Cleaned and validated order data")
@dp.expect_or_drop("valid_order_id", "order_id IS NOT NULL")
@dp.expect_or_fail("positive_amount", "amount > 0")
@dp.expect_or_drop("valid_date", "order_date <= current_date()")
def silver_orders():
    return (spark.read.table("bronze_orders")
            .where("order_id IS NOT NULL")
            .select("order_id", "customer_id",
                    F.col("amount").cast("decimal(10,2)").alias("amount"),
                    F.col("order_date").cast("date").alias("order_date"),
                    "status", "ingestion_time"))


@dp.materialized_view(comment="Customer lifetime value and behavior metrics")
def gold_customer_metrics():
    return (spark.read.table("silver_orders")
            .groupBy("customer_id")
            .agg(F.count(F.lit(1)).alias("total_orders"),
                 F.sum("amount").alias("total_revenue"),
                 F.avg("amount").alias("avg_order_value"),
                 F.min("order_date").alias("first_order_date"),
                 F.max("order_date").alias("last_order_date"),
                 F.datediff(F.max("order_date"), F.min("order_date")).alias("customer_lifespan_days")))
