"""Every expectation category of the course (seed §2) on one table: completeness, validity, uniqueness,
consistency. The source table is set by the pipeline configuration ``quality.source``.

An expectation sees one row at a time, so the seed's ``unique_order_id`` rule can only reject missing ids.
Uniqueness itself is checked on a materialized view with one row per order id (``checked_orders_pk_test``)."""
import dlt
from pyspark.sql import functions as F


@dlt.view(comment="Orders to check, with the customer's signup date")
def orders_with_customers():
    orders = spark.read.table(spark.conf.get("quality.source"))
    customers = spark.read.table("bronze.raw_customers").select("customer_id", "signup_date")
    return orders.join(customers, "customer_id", "left")


@dlt.table(comment="Orders that passed the quality rules", table_properties={"pipelines.quarantine": "true"})
# Completeness expectations
@dlt.expect("not_null_order_id", "order_id IS NOT NULL")
@dlt.expect_or_fail("required_customer", "customer_id IS NOT NULL")
# Validity expectations
@dlt.expect_or_drop("valid_amount_range", "amount BETWEEN 0 AND 100000")
@dlt.expect("valid_status", "status IN ('pending', 'completed', 'cancelled')")
# Uniqueness expectations
@dlt.expect_or_fail("unique_order_id", "order_id IS NOT NULL")
# Consistency expectations
@dlt.expect("consistent_dates", "order_date >= signup_date")
def checked_orders():
    return dlt.read("orders_with_customers").withColumn("checked_at", F.current_timestamp())


@dlt.table(comment="One row per order id with how often it occurs: a duplicate fails the rule")
@dlt.expect("unique_order_id_count", "num_entries = 1")
def checked_orders_pk_test():
    return dlt.read("checked_orders").groupBy("order_id").agg(F.count(F.lit(1)).alias("num_entries"))
