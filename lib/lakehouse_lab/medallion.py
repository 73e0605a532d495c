"""The plain medallion job behind ``lakehouse-lab run``: orders land, bronze → silver → gold in Spark SQL.

It builds the course guide's orders example with ordinary ``CREATE OR REPLACE TABLE … AS SELECT`` statements
(the declarative pipeline engine builds the same tables with expectations and an event log).

>>> from lakehouse_lab.medallion import STATEMENTS
>>> [name for name, _ in STATEMENTS]
['silver_orders', 'gold_customer_metrics', 'gold_daily_revenue']
"""
from __future__ import annotations

import html
import time
from dataclasses import dataclass, field

from . import datagen

STATEMENTS = [
    ("silver_orders", """
        SELECT order_id, customer_id, product_id, quantity,
               CAST(amount AS DECIMAL(10,2)) AS amount, CAST(order_date AS DATE) AS order_date,
               status, _ingested_at AS ingestion_time
        FROM {bronze}
        WHERE _rescued_data IS NULL AND order_id IS NOT NULL AND amount > 0
          AND CAST(order_date AS DATE) <= current_date()"""),
    ("gold_customer_metrics", """
        SELECT customer_id, COUNT(*) AS total_orders, SUM(amount) AS total_revenue,
               AVG(amount) AS avg_order_value, MIN(order_date) AS first_order_date,
               MAX(order_date) AS last_order_date,
               DATEDIFF(MAX(order_date), MIN(order_date)) AS customer_lifespan_days
        FROM {silver_orders}
        GROUP BY customer_id"""),
    ("gold_daily_revenue", """
        SELECT order_date, COUNT(*) AS orders, SUM(amount) AS revenue
        FROM {silver_orders}
        WHERE status <> 'cancelled'
        GROUP BY order_date"""),
]


@dataclass
class Summary:
    """What a run built: table, rows, location; shows as a table in notebooks and as text in the shell."""
    env: str
    seconds: float
    tables: list[dict] = field(default_factory=list)

    def to_text(self) -> str:
        width = max(len(t["table"]) for t in self.tables)
        lines = [f"Built {len(self.tables)} tables in {self.seconds:.1f} s (environment: {self.env})", ""]
        lines += [f"  {t['table']:<{width}}  {t['rows']:>9,} rows  {t['location']}" for t in self.tables]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{html.escape(t['table'])}</td><td style='text-align:right'>{t['rows']:,}</td>"
                       f"<td><code>{html.escape(t['location'])}</code></td></tr>" for t in self.tables)
        return (f"<p>Built {len(self.tables)} tables in {self.seconds:.1f} s ({html.escape(self.env)})</p>"
                f"<table><tr><th>table</th><th>rows</th><th>location</th></tr>{rows}</table>")


def build(spark, env: str | None = None) -> list[str]:
    """Rebuild silver and gold from the bronze orders; returns the tables written."""
    from .catalog import table

    names = {"bronze": datagen.bronze_table("orders", env)}
    built = []
    for name, query in STATEMENTS:
        target = table(name, env=env)
        spark.sql(f"CREATE OR REPLACE TABLE {target} AS {query.format(**names)}")
        names[name] = target
        built.append(target)
    return built


def describe(spark, tables: list[str]) -> list[dict]:
    """Rows and storage location of each table."""
    info = []
    for name in tables:
        detail = spark.sql(f"DESCRIBE DETAIL {name}").select("location").first()
        info.append({"table": name, "rows": spark.table(name).count(), "location": detail.location})
    return info


def run(env: str = "dev", orders: int = 20_000, batches: int = 2) -> Summary:
    """Land ``orders`` generated orders in ``batches`` files, ingest them to bronze, build silver and gold."""
    import lakehouse_lab as lab

    started = time.perf_counter()
    spark = lab.start(env)
    datagen.prepare_sources(spark, orders=orders, batches=batches, env=env)
    bronze = [datagen.bronze_table(s, env) for s in ("orders", "customers", "products")]
    built = build(spark, env)
    return Summary(env, time.perf_counter() - started, describe(spark, bronze + built))
