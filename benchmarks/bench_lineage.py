"""Lineage benchmark: capture overhead on a medallion run, and lineage query latency over 10k lineage rows.

Prints ratios measured side by side in one session and writes them to ``benchmarks/results/lineage.json``.
Targets (not asserted): medallion with capture on / off <= 1.05x.

    python benchmarks/bench_lineage.py [--rows 300000] [--repeat 3] [--lineage-rows 10000]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import lakehouse_lab as lab

SCHEMA = "dev_catalog.bench_lineage"
SYNTH = "bench-synthetic"


def prepare(spark, rows: int) -> None:
    spark.sql(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    with lab.lineage.paused(spark):
        spark.range(rows).selectExpr(
            "concat('o', id) AS order_id", "concat('c', id % 5000) AS customer_id", "concat('p', id % 300) AS product_id",
            "CAST(id % 7 + 1 AS INT) AS quantity", "(id % 997) / 3.0 - 5 AS amount",
            "date_format(date_add(DATE'2025-01-01', CAST(id % 400 AS INT)), 'yyyy-MM-dd') AS order_date",
            "element_at(array('pending','completed','cancelled'), CAST(id % 3 + 1 AS INT)) AS status",
        ).write.mode("overwrite").saveAsTable(f"{SCHEMA}.raw_orders")
        spark.range(5000).selectExpr("concat('c', id) AS customer_id", "concat('name', id) AS name",
                                     "element_at(array('DE','FR','SE'), CAST(id % 3 + 1 AS INT)) AS country") \
            .write.mode("overwrite").saveAsTable(f"{SCHEMA}.raw_customers")


MEDALLION = [
    """CREATE OR REPLACE TABLE {s}.bronze_orders AS SELECT *, current_timestamp() AS ingestion_time FROM {s}.raw_orders""",
    """CREATE OR REPLACE TABLE {s}.silver_orders AS SELECT order_id, customer_id, CAST(amount AS DECIMAL(10,2)) AS amount,
       CAST(order_date AS DATE) AS order_date, status, ingestion_time FROM {s}.bronze_orders
       WHERE order_id IS NOT NULL AND amount > 0""",
    """CREATE OR REPLACE TABLE {s}.gold_customer_metrics AS SELECT o.customer_id, c.country, COUNT(*) AS total_orders,
       SUM(amount) AS total_revenue, AVG(amount) AS avg_order_value, MIN(order_date) AS first_order_date,
       MAX(order_date) AS last_order_date FROM {s}.silver_orders o JOIN {s}.raw_customers c
       ON o.customer_id = c.customer_id GROUP BY o.customer_id, c.country""",
    """CREATE OR REPLACE TABLE {s}.gold_revenue_analysis AS SELECT order_date, status, SUM(amount) AS revenue
       FROM {s}.silver_orders GROUP BY order_date, status""",
]


def medallion(spark) -> float:
    start = time.perf_counter()
    for statement in MEDALLION:
        spark.sql(statement.format(s=SCHEMA))
    spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty()  # the capture work is included in the time
    return time.perf_counter() - start


def overhead(spark, repeat: int) -> dict:
    medallion(spark)  # warm-up (JIT, metastore caches)
    lab.lineage.flush(spark)
    on, off, flushes = [], [], []
    for _ in range(repeat):
        with lab.lineage.paused(spark):
            off.append(medallion(spark))
        on.append(medallion(spark))
        start = time.perf_counter()
        lab.lineage.flush(spark)
        flushes.append(time.perf_counter() - start)
    t_on, t_off, t_flush = statistics.median(on), statistics.median(off), statistics.median(flushes)
    return {"medallion_off_s": t_off, "medallion_on_s": t_on, "flush_s": t_flush,
            "capture_ratio": t_on / t_off, "capture_and_store_ratio": (t_on + t_flush) / t_off,
            "runs_on_s": on, "runs_off_s": off}


def synthetic_rows(spark, n: int) -> str:
    """n lineage rows over a layered graph of synthetic tables (5 runs per edge); returns a mid-graph table."""
    from lakehouse_lab.lineage import store

    edges = n // 5
    cols = ", ".join(store.columns())
    with lab.lineage.paused(spark):
        spark.range(n).selectExpr(
            "'lakehouse-lab' AS account_id", "'lakehouse-lab-metastore' AS metastore_id", "'local' AS workspace_id",
            "'JOB' AS entity_type", f"'{SYNTH}' AS entity_id", "CAST(id % 5 AS STRING) AS entity_run_id",
            f"concat('dev_catalog.bench_synth.t', CAST((id % {edges}) AS STRING)) AS source_table_full_name",
            "'dev_catalog' AS source_table_catalog", "'bench_synth' AS source_table_schema",
            f"concat('t', CAST((id % {edges}) AS STRING)) AS source_table_name", "CAST(NULL AS STRING) AS source_path",
            "'TABLE' AS source_type",
            f"concat('dev_catalog.bench_synth.t', CAST((id % {edges}) + 1 + (id % {edges}) % 3 AS STRING)) "
            "AS target_table_full_name", "'dev_catalog' AS target_table_catalog", "'bench_synth' AS target_table_schema",
            f"concat('t', CAST((id % {edges}) + 1 + (id % {edges}) % 3 AS STRING)) AS target_table_name",
            "CAST(NULL AS STRING) AS target_path", "'TABLE' AS target_type", "'bench@lakehouse.lab' AS created_by",
            "current_timestamp() AS event_time", "current_date() AS event_date",
        ).selectExpr(*cols.split(", ")).write.mode("append").saveAsTable(store.TABLE_LINEAGE)
    return f"dev_catalog.bench_synth.t{edges // 2}"


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def latency(spark, n: int) -> dict:
    table = synthetic_rows(spark, n)
    try:
        total = spark.table(lab.lineage.TABLE_LINEAGE).count()
        q = lab.lineage.queries
        out = {"lineage_rows": total, "table": table,
               "upstream_direct_s": timed(lambda: q.upstream(table, 1, spark).collect()),
               "downstream_direct_s": timed(lambda: q.downstream(table, 1, spark).collect()),
               "upstream_depth10_s": timed(lambda: q.upstream(table, 10, spark).collect()),
               "downstream_depth10_s": timed(lambda: q.downstream(table, 10, spark).collect()),
               "upstream_depth10_recursive_sql_s": timed(lambda: q.walk_sql(table, 10, "upstream", spark).collect()),
               "impact_seed_query_s": timed(lambda: q.impact(table, 10, spark).collect())}
    finally:
        spark.sql(f"DELETE FROM {lab.lineage.TABLE_LINEAGE} WHERE entity_id = :e", args={"e": SYNTH})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lineage-rows", type=int, default=10_000)
    args = parser.parse_args()
    spark = lab.start()
    prepare(spark, args.rows)
    result = {"orders": args.rows, "repeat": args.repeat, **overhead(spark, args.repeat)}
    print(f"medallion ({args.rows} orders): capture off {result['medallion_off_s']:.2f}s, "
          f"on {result['medallion_on_s']:.2f}s -> {result['capture_ratio']:.3f}x (target <= 1.05x); "
          f"storing the captured rows (flush) {result['flush_s']:.2f}s -> {result['capture_and_store_ratio']:.3f}x")
    result["latency"] = latency(spark, args.lineage_rows)
    for key, value in result["latency"].items():
        print(f"  {key}: {value:.3f}s" if isinstance(value, float) else f"  {key}: {value}")
    out = Path(__file__).parent / "results" / "lineage.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
