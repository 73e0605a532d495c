"""Foundation and catalog figures, measured side by side in one run.

1. ``lab.start()`` to first query in a new lab root (creates every catalog's schemas) and in one in use; a plain
   Spark + Delta session (no lab catalogs) for comparison: what the catalog adds to a start; the start again
   without the JVM class archive: what the archive saves.
2. the medallion job (bronze -> silver -> gold) on N generated orders, warm session: Spark writing Delta, Spark
   writing Parquet, and DuckDB running the same SQL on the same bronze Parquet files.
3. a table read/write through three-level catalog names vs the same on a path-based Delta table.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from common import median_time, save, timed  # noqa: E402

ORDERS = int(os.environ.get("BENCH_ORDERS", "2000000"))

START_SNIPPET = """
import time; t = time.perf_counter()
import lakehouse_lab as lab
spark = lab.start()
spark.sql("SELECT 1").collect()
print(time.perf_counter() - t)
"""

PLAIN_SNIPPET = """
import time; t = time.perf_counter()
from pyspark.sql import SparkSession
from lakehouse_lab import jars
spark = (SparkSession.builder.master("local[2]").config("spark.jars", ",".join(map(str, jars.for_session())))
         .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
         .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
         .config("spark.ui.enabled", "false").getOrCreate())
spark.sql("SELECT 1").collect()
print(time.perf_counter() - t)
"""


def in_new_process(snippet: str, repeat: int = 3, **env: str) -> float:
    """The median over ``repeat`` new processes of the time ``snippet`` prints (starts vary by a second or two)."""
    times = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, check=True,
                             env={**os.environ, **env}).stdout
        times.append(float(out.strip().splitlines()[-1]))
    return round(statistics.median(times), 3)


def startup(figures: dict) -> None:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="lab-bench-root-") as new_root:
        figures["lab_start_new_root"] = in_new_process(START_SNIPPET, repeat=1, LAKEHOUSE_LAB_HOME=new_root)
    figures["lab_start"] = in_new_process(START_SNIPPET)
    # like for like with the plain session, which has no class archive (the archive is recorded for the lab's JVM)
    figures["lab_start_no_class_archive"] = in_new_process(START_SNIPPET, LAKEHOUSE_LAB_NO_CLASS_ARCHIVE="1")
    figures["plain_delta_session_start"] = in_new_process(PLAIN_SNIPPET)


# The plain medallion job: the same SQL for Spark (Delta or Parquet output) and DuckDB.
SILVER = """SELECT order_id, customer_id, product_id, quantity, CAST(amount AS DECIMAL(10,2)) AS amount,
                  CAST(order_date AS DATE) AS order_date, status
           FROM {bronze}
           WHERE order_id IS NOT NULL AND amount > 0 AND CAST(order_date AS DATE) <= current_date()"""
GOLD = [("gold_customer_metrics", """SELECT customer_id, COUNT(*) AS orders, SUM(amount) AS revenue, MAX(order_date) AS last_order
                                    FROM {silver_orders} WHERE status = 'completed' GROUP BY customer_id"""),
        ("gold_daily_revenue", """SELECT order_date, COUNT(*) AS orders, SUM(amount) AS revenue
                                  FROM {silver_orders} GROUP BY order_date""")]


def medallion(spark, figures: dict) -> None:
    import duckdb

    import lakehouse_lab as lab
    from lakehouse_lab import datagen

    with timed(figures, f"generate_and_ingest_{ORDERS}_orders"):
        datagen.prepare_sources(spark, orders=ORDERS, batches=4)
    bronze = datagen.bronze_table("orders")
    files = spark.table(bronze).inputFiles()
    spark.table(bronze).count()  # warm: metadata and file listing cached

    def spark_delta():
        spark.sql(SILVER.format(bronze=bronze)).write.mode("overwrite").saveAsTable(lab.table("bench_silver_orders"))
        for name, query in GOLD:
            spark.sql(query.format(silver_orders=lab.table("bench_silver_orders"))) \
                .write.mode("overwrite").saveAsTable(lab.table(f"bench_{name}"))

    figures["spark_delta_medallion"] = median_time(spark_delta, repeat=2)

    parquet_dir = str(lab.paths.lab_root() / "bench_parquet")

    def spark_parquet():
        spark.sql(SILVER.format(bronze=bronze)).write.mode("overwrite").parquet(parquet_dir + "/silver")
        spark.read.parquet(parquet_dir + "/silver").createOrReplaceTempView("silver_view")
        for name, query in GOLD:
            spark.sql(query.format(silver_orders="silver_view")).write.mode("overwrite").parquet(f"{parquet_dir}/{name}")

    figures["spark_parquet_medallion"] = median_time(spark_parquet, repeat=2)

    def duck():
        con = duckdb.connect()
        paths = [f.removeprefix("file:") for f in files]
        con.read_parquet(paths).create_view("bronze")
        con.execute("CREATE TABLE silver AS " + SILVER.format(bronze="bronze"))
        for name, query in GOLD:
            con.execute(f"CREATE TABLE {name} AS " + query.format(silver_orders="silver"))
            con.execute(f"COPY {name} TO '{parquet_dir}/duck_{name}.parquet' (FORMAT parquet)")
        con.execute(f"COPY silver TO '{parquet_dir}/duck_silver.parquet' (FORMAT parquet)")
        con.close()

    duck()  # warm the OS cache and DuckDB's extension loading
    figures["duckdb_medallion"] = median_time(duck, repeat=2)


def catalog_overhead(spark, figures: dict) -> None:
    import lakehouse_lab as lab

    named = lab.table("bench_catalog_overhead")
    path = str(lab.paths.lab_root() / "bench_path_table")
    frame = spark.range(1_000_000).selectExpr("id", "id % 97 AS k", "rand(1) AS v")
    figures["write_catalog_name"] = median_time(lambda: frame.write.mode("overwrite").saveAsTable(named))
    figures["write_path"] = median_time(lambda: frame.write.format("delta").mode("overwrite").save(path))
    figures["read_catalog_name"] = median_time(lambda: spark.table(named).groupBy("k").sum("v").collect(), repeat=5)
    figures["read_path"] = median_time(
        lambda: spark.read.format("delta").load(path).groupBy("k").sum("v").collect(), repeat=5)


def main() -> None:
    figures: dict = {}
    startup(figures)
    import lakehouse_lab as lab

    spark = lab.start()
    catalog_overhead(spark, figures)
    medallion(spark, figures)
    ratios = {
        "lab_start_added_by_catalog_s": figures["lab_start_no_class_archive"] - figures["plain_delta_session_start"],
        "lab_start_saved_by_class_archive_s": figures["lab_start_no_class_archive"] - figures["lab_start"],
        "spark_delta_vs_duckdb": figures["spark_delta_medallion"] / figures["duckdb_medallion"],
        "spark_parquet_vs_duckdb": figures["spark_parquet_medallion"] / figures["duckdb_medallion"],
        "delta_vs_parquet_in_spark": figures["spark_delta_medallion"] / figures["spark_parquet_medallion"],
        "catalog_vs_path_write": figures["write_catalog_name"] / figures["write_path"],
        "catalog_vs_path_read": figures["read_catalog_name"] / figures["read_path"],
    }
    save("foundation", figures, ratios, notes=f"{ORDERS} orders; medians of 2-5 runs; 2-core machine")


if __name__ == "__main__":
    main()
