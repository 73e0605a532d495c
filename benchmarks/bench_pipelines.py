"""Declarative pipeline engine figures, measured side by side in one run on a warm session.

1. The seed's bronze -> silver -> gold pipeline through the engine (expectations + event log), full refresh, vs
   the same transformations hand-written in plain PySpark + Delta (stream with a fresh checkpoint, filters,
   overwrite).                                                                         target <= 1.15x
2. An update after one new batch of +1 % rows vs a full refresh.                      target <= 0.2x
   Printed beside it, the floor: the same new batch through a hand-written incremental pipeline (bronze and
   silver as streams with their own checkpoints, gold recomputed) vs the hand-written full refresh.
3. The same pipeline with its expectations vs without them (constraints removed).     target <= 1.10x

Every figure is taken on a warm session: each measured call runs once first, uncounted.

    python benchmarks/bench_pipelines.py [--orders 2000000] [--repeat 3] [--incremental-repeat 5]   (BENCH_ORDERS: size)
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from common import interleaved_medians, jvm_cpu_seconds, save  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "notebooks" / "pipelines" / "orders"
SCHEMA = "bench_pipelines"


def make_source(spark, table: str, n: int, start: int = 0) -> None:
    """``n`` orders in the source contract's columns, generated inside Spark (about 1 % null ids)."""
    from pyspark.sql import functions as F

    df = (spark.range(start, start + n)
          .select(F.when(F.col("id") % 97 == 0, None).otherwise(F.concat(F.lit("O"), F.col("id"))).alias("order_id"),
                  F.concat(F.lit("C"), F.col("id") % 5000).alias("customer_id"),
                  F.concat(F.lit("P"), F.col("id") % 200).alias("product_id"),
                  (F.col("id") % 5 + 1).cast("int").alias("quantity"),
                  (F.col("id") % 900 + 1.5).alias("amount"),
                  F.date_format(F.date_sub(F.lit("2025-06-30").cast("date"), (F.col("id") % 365).cast("int")),
                                "yyyy-MM-dd").alias("order_date"),
                  F.element_at(F.array(F.lit("pending"), F.lit("completed"), F.lit("cancelled")),
                               (F.col("id") % 3 + 1).cast("int")).alias("status"),
                  F.lit(None).cast("string").alias("_rescued_data"),
                  F.lit(f"batch_{start}.json").alias("_source_file"),
                  F.current_timestamp().alias("_ingested_at")))
    df.write.mode("append").saveAsTable(table)


def seed_sql(source: str, with_expectations: bool = True) -> str:
    text = "\n;\n".join(p.read_text() for p in sorted(SEED.glob("*.sql"))).replace("bronze.raw_orders", source)
    if not with_expectations:
        text = re.sub(r"\(\s*CONSTRAINT.*?\)\s*\n\)", "", text, flags=re.S)
    return text


def hand_written(spark, source: str, checkpoint: Path) -> None:
    """The seed's three tables in plain PySpark + Delta: what the engine automates."""
    from pyspark.sql import functions as F

    shutil.rmtree(checkpoint, ignore_errors=True)
    target = f"dev_catalog.{SCHEMA}.hand"
    spark.sql(f"DROP TABLE IF EXISTS {target}_bronze")
    (spark.readStream.table(source).withColumn("ingestion_time", F.current_timestamp())
     .writeStream.option("checkpointLocation", str(checkpoint)).trigger(availableNow=True)
     .toTable(f"{target}_bronze").awaitTermination())
    _silver(spark.read.table(f"{target}_bronze")).write.mode("overwrite").saveAsTable(f"{target}_silver")
    _gold(spark.read.table(f"{target}_silver")).write.mode("overwrite").saveAsTable(f"{target}_gold")


def _silver(bronze):
    from pyspark.sql import functions as F

    return (bronze.where("order_id IS NOT NULL")
            .select("order_id", "customer_id", F.col("amount").cast("decimal(10,2)").alias("amount"),
                    F.col("order_date").cast("date").alias("order_date"), "status", "ingestion_time")
            .where("amount > 0 AND order_date <= current_date()"))


def _gold(silver):
    from pyspark.sql import functions as F

    return (silver.groupBy("customer_id")
            .agg(F.count(F.lit(1)).alias("total_orders"), F.sum("amount").alias("total_revenue"),
                 F.avg("amount").alias("avg_order_value"), F.min("order_date").alias("first_order_date"),
                 F.max("order_date").alias("last_order_date"),
                 F.datediff(F.max("order_date"), F.min("order_date")).alias("customer_lifespan_days")))


def hand_written_incremental(spark, source: str, checkpoints: Path) -> None:
    """The seed's three tables kept up to date by hand: bronze and silver read only new rows (two streams,
    each with its checkpoint), gold is recomputed. The first call builds them from all the source's rows."""
    from pyspark.sql import functions as F

    target = f"dev_catalog.{SCHEMA}.inc"
    (spark.readStream.table(source).withColumn("ingestion_time", F.current_timestamp())
     .writeStream.option("checkpointLocation", str(checkpoints / "bronze")).trigger(availableNow=True)
     .toTable(f"{target}_bronze").awaitTermination())
    (_silver(spark.readStream.table(f"{target}_bronze"))
     .writeStream.option("checkpointLocation", str(checkpoints / "silver")).trigger(availableNow=True)
     .toTable(f"{target}_silver").awaitTermination())
    _gold(spark.read.table(f"{target}_silver")).write.mode("overwrite").saveAsTable(f"{target}_gold")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=int(os.environ.get("BENCH_ORDERS", "2000000")))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--incremental-repeat", type=int, default=5,
                        help="incremental updates measured (cheap, so more of them: a steadier median)")
    args = parser.parse_args()

    import lakehouse_lab as lab
    from lakehouse_lab import paths
    from lakehouse_lab.pipelines import Pipeline, run_pipeline

    spark = lab.start()
    for schema in (SCHEMA, f"{SCHEMA}_noexp"):
        spark.sql(f"DROP SCHEMA IF EXISTS dev_catalog.{schema} CASCADE")
    spark.sql(f"CREATE SCHEMA dev_catalog.{SCHEMA}")
    source = f"dev_catalog.{SCHEMA}.raw_orders"
    make_source(spark, source, args.orders)

    def engine(with_expectations=True, full_refresh=True, name="bench", schema=SCHEMA):
        update = run_pipeline(Pipeline.from_sql(name, seed_sql(source, with_expectations)), schema=schema,
                              full_refresh=full_refresh)
        assert update.state == "COMPLETED", update.error
        return update

    checkpoint = paths.under(paths.lab_root(), "bench", "hand_checkpoint")
    figures = {"orders": args.orders}
    samples: dict = {}
    figures.update(interleaved_medians({
        "engine_full_refresh": engine,
        "hand_written_pyspark_delta": lambda: hand_written(spark, source, checkpoint),
        # another pipeline: its own schema (a table belongs to one pipeline)
        "engine_without_expectations": lambda: engine(with_expectations=False, name="bench_noexp",
                                                      schema=f"{SCHEMA}_noexp"),
    }, args.repeat, samples))
    figures["full_refresh_samples"] = samples

    engine()  # a clean state to add one batch to
    hand_checkpoints = paths.under(paths.lab_root(), "bench", "hand_incremental")
    shutil.rmtree(hand_checkpoints, ignore_errors=True)
    hand_written_incremental(spark, source, hand_checkpoints)
    incremental, hand_incremental, cpu = [], [], {}
    for i in range(args.incremental_repeat + 1):  # round 0 warms up the incremental code paths and is not counted
        make_source(spark, source, max(1, args.orders // 100), start=args.orders * (2 + i))
        cpu_before, started = jvm_cpu_seconds(spark), time.perf_counter()
        update = engine(full_refresh=False)
        engine_seconds, cpu_after = time.perf_counter() - started, jvm_cpu_seconds(spark)
        started = time.perf_counter()
        hand_written_incremental(spark, source, hand_checkpoints)
        hand_seconds = time.perf_counter() - started
        if i == 0:
            continue
        incremental.append(round(engine_seconds, 3))
        for group, seconds in cpu_after.items():
            cpu[group] = cpu.get(group, 0.0) + (seconds - cpu_before[group]) / args.incremental_repeat
        hand_incremental.append(hand_seconds)
        figures[f"incremental_bronze_rows_{i}"] = update.datasets["bronze_orders"].rows_written
        figures[f"incremental_techniques_{i}"] = {n: d.technique for n, d in update.datasets.items() if d.technique}
    figures["incremental_update_1pct"] = round(statistics.median(incremental), 3)
    figures["incremental_update_samples"] = incremental
    figures["hand_written_incremental_1pct"] = round(statistics.median(hand_incremental), 3)
    # where an update's time goes: the JVM's CPU seconds per update by thread group (mean of the measured ones)
    figures["incremental_jvm_cpu_seconds"] = {group: round(seconds, 3) for group, seconds in cpu.items()}
    ratios = {
        "engine_vs_hand_written": figures["engine_full_refresh"] / figures["hand_written_pyspark_delta"],
        "incremental_vs_full_refresh": figures["incremental_update_1pct"] / figures["engine_full_refresh"],
        "expectations_on_vs_off": figures["engine_full_refresh"] / figures["engine_without_expectations"],
        "floor_hand_written_incremental_vs_full": (figures["hand_written_incremental_1pct"]
                                                   / figures["hand_written_pyspark_delta"]),
    }
    save("pipelines", figures, ratios,
         notes=f"{args.orders} orders; full refreshes: median of {args.repeat}, the three run in turn after a "
               f"warm-up each; incremental: median of {args.incremental_repeat} after one warm-up round; targets: "
               "engine_vs_hand_written <= 1.15, incremental_vs_full_refresh <= 0.2, expectations_on_vs_off <= 1.10. "
               "In the incremental update the "
               "materialized views refresh incrementally (silver APPEND_ONLY, gold GROUP_AGGREGATE; see "
               "incremental_techniques_*). floor_hand_written_incremental_vs_full: the same +1 % batch through "
               "hand-written streams (bronze, silver) and a gold recompute, over the hand-written full refresh. "
               "incremental_jvm_cpu_seconds: CPU seconds of the driver JVM per incremental update, by thread group "
               "(two cores: up to twice the update's wall time). full_refresh_samples, incremental_update_samples: every "
               "measured time, in the order run.")
    for schema in (SCHEMA, f"{SCHEMA}_noexp"):
        spark.sql(f"DROP SCHEMA IF EXISTS dev_catalog.{schema} CASCADE")


if __name__ == "__main__":
    main()
