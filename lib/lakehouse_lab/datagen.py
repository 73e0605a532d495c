"""Deterministic synthetic sources for the course: orders, customers and products, with controlled defects.

Files land in batches as JSON lines under ``<lab root>/landing/<env>/<source>/`` (as an upstream system would
drop them), and :func:`ingest` appends only the files it has not seen into the bronze Delta tables
``<catalog>.bronze.raw_orders`` / ``raw_customers`` / ``raw_products`` (Structured Streaming with
``availableNow`` and a checkpoint, like Auto Loader). Malformed lines are kept, never lost: their text goes to
``_rescued_data`` and the other columns are null.

>>> from lakehouse_lab.datagen import Defects, order_lines
>>> lines = order_lines(5, batch=1, seed=7, rates=Defects.none())
>>> len(lines), lines == order_lines(5, batch=1, seed=7, rates=Defects.none())
(5, True)
"""
from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from . import paths

STATUSES = ("pending", "completed", "cancelled")
STATUS_WEIGHTS = (0.2, 0.7, 0.1)
CATEGORIES = ("electronics", "books", "home", "garden", "toys", "sports", "grocery", "fashion")
COUNTRIES = ("US", "GB", "DE", "FR", "NL", "ES", "IN", "BR", "JP", "CA")
N_PRODUCTS = 200
PROGRESS_FROM = 200_000  # show a progress bar when landing at least this many orders

SCHEMAS = {
    "orders": "order_id STRING, customer_id STRING, product_id STRING, quantity INT, amount DOUBLE, "
              "order_date STRING, status STRING, _rescued_data STRING",
    "customers": "customer_id STRING, name STRING, email STRING, country STRING, signup_date STRING, "
                 "_rescued_data STRING",
    "products": "product_id STRING, name STRING, category STRING, price DOUBLE, _rescued_data STRING",
}


@dataclass(frozen=True)
class Defects:
    """Share of generated orders (0–1) that carry each defect.

    ``non_positive_amount`` defaults to 0: the course's silver table fails the whole update on it
    (``ON VIOLATION FAIL UPDATE``); the data-quality notebook adds one such order by hand instead.
    """
    null_order_id: float = 0.02
    non_positive_amount: float = 0.0
    future_order_date: float = 0.01
    unknown_customer: float = 0.02
    malformed_line: float = 0.005

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ValueError(f"Defects.{f.name} must be a rate between 0 and 1, got {value!r}")
        if sum(asdict(self).values()) > 1:
            raise ValueError(f"Defect rates add up to {sum(asdict(self).values()):.2f}; their sum must be <= 1")

    @classmethod
    def none(cls) -> "Defects":
        return cls(0, 0, 0, 0, 0)


def _check_count(name: str, value: int, minimum: int = 1) -> None:
    if not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def n_customers_for(n_orders: int) -> int:
    return max(50, n_orders // 20)


def customer_lines(n: int, seed: int = 42, as_of: dt.date | None = None) -> list[str]:
    """``n`` customers ``C000001…`` as JSON lines; signed up within three years before ``as_of``."""
    _check_count("n", n)
    rng, as_of = random.Random(f"customers-{seed}"), as_of or dt.date.today()
    return [json.dumps({
        "customer_id": f"C{i:06d}", "name": f"Customer {i}", "email": f"customer{i}@example.com",
        "country": rng.choice(COUNTRIES),
        "signup_date": (as_of - dt.timedelta(days=rng.randint(400, 1100))).isoformat(),
    }) for i in range(1, n + 1)]


def product_lines(seed: int = 42) -> list[str]:
    """The product catalogue ``P0001…`` as JSON lines."""
    rng = random.Random(f"products-{seed}")
    return [json.dumps({
        "product_id": f"P{i:04d}", "name": f"Product {i}", "category": rng.choice(CATEGORIES),
        "price": round(rng.uniform(2, 500), 2),
    }) for i in range(1, N_PRODUCTS + 1)]


def order_lines(n: int, batch: int = 1, seed: int = 42, rates: Defects | None = None,
                n_customers: int | None = None, as_of: dt.date | None = None, progress: bool = False) -> list[str]:
    """``n`` orders of one batch as JSON lines, with defects at ``rates``; same arguments, same lines."""
    _check_count("n", n)
    _check_count("batch", batch)
    rates = rates or Defects()
    n_customers = n_customers or n_customers_for(n)
    _check_count("n_customers", n_customers)
    rng, as_of = random.Random(f"orders-{seed}-{batch}"), as_of or dt.date.today()
    prices = [json.loads(line)["price"] for line in product_lines(seed)]
    thresholds, total = [], 0.0
    for name, rate in asdict(rates).items():
        total += rate
        thresholds.append((total, name))
    rows = range(n)
    if progress:
        from tqdm.auto import tqdm

        rows = tqdm(rows, desc=f"orders batch {batch}", unit="order", mininterval=0.5)
    lines = []
    for i in rows:
        product = rng.randrange(N_PRODUCTS)
        quantity = rng.randint(1, 5)
        row = {
            "order_id": f"O{batch:04d}{i:08d}",
            "customer_id": f"C{rng.randint(1, n_customers):06d}",
            "product_id": f"P{product + 1:04d}",
            "quantity": quantity,
            "amount": round(prices[product] * quantity, 2),
            "order_date": (as_of - dt.timedelta(days=rng.randint(0, 364))).isoformat(),
            "status": rng.choices(STATUSES, STATUS_WEIGHTS)[0],
        }
        draw = rng.random()
        defect = next((name for limit, name in thresholds if draw < limit), None)
        lines.append(_apply_defect(row, defect, rng, as_of))
    return lines


def _apply_defect(row: dict, defect: str | None, rng: random.Random, as_of: dt.date) -> str:
    if defect == "null_order_id":
        row["order_id"] = None
    elif defect == "non_positive_amount":
        row["amount"] = -round(rng.uniform(0, 100), 2) if rng.random() < 0.8 else 0.0
    elif defect == "future_order_date":
        row["order_date"] = (as_of + dt.timedelta(days=rng.randint(1, 60))).isoformat()
    elif defect == "unknown_customer":
        row["customer_id"] = f"X{rng.randint(1, 999_999):06d}"
    text = json.dumps(row)
    if defect == "malformed_line":
        return text[: rng.randint(5, len(text) - 5)]  # a truncated write: not valid JSON
    return text


def landing_dir(source: str, env: str | None = None) -> Path:
    from .session import current_env

    if source not in SCHEMAS:
        raise ValueError(f"source must be one of {', '.join(SCHEMAS)}, got {source!r}")
    return paths.under(paths.lab_root(), "landing", env or current_env(), source)


def _write(folder: Path, name: str, lines: list[str]) -> Path:
    """Write atomically (temp file, then rename) so a stream never reads half a file."""
    target = folder / name
    tmp = folder / f".{name}.tmp"
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(target)
    return target


def land_orders(n: int, batch: int | None = None, seed: int = 42, rates: Defects | None = None,
                env: str | None = None, n_customers: int | None = None, as_of: dt.date | None = None) -> Path:
    """Land one batch of ``n`` orders as a new file; ``batch`` defaults to the next number."""
    folder = landing_dir("orders", env)
    batch = batch or len(list(folder.glob("orders_batch_*.json"))) + 1
    lines = order_lines(n, batch, seed, rates, n_customers, as_of, progress=n >= PROGRESS_FROM)
    return _write(folder, f"orders_batch_{batch:04d}.json", lines)


def land_reference_data(n_customers: int, seed: int = 42, env: str | None = None,
                        as_of: dt.date | None = None) -> list[Path]:
    """Land the customers and products snapshots (one file each, replaced when the content changes)."""
    written = []
    for source, lines in (("customers", customer_lines(n_customers, seed, as_of)), ("products", product_lines(seed))):
        target = landing_dir(source, env) / f"{source}.json"
        if not target.exists() or target.read_text() != "\n".join(lines) + "\n":
            written.append(_write(target.parent, target.name, lines))
    return written


def landed_rows(source: str, env: str | None = None) -> int:
    """Lines in the landed files of ``source`` (what bronze must hold once everything is ingested)."""
    return sum(len(f.read_text().splitlines()) for f in landing_dir(source, env).glob("*.json"))


def bronze_table(source: str, env: str | None = None) -> str:
    from .catalog import table

    return table(f"bronze.raw_{source}", env=env)


def ingest(spark, env: str | None = None, sources: tuple[str, ...] = ("customers", "products", "orders")) -> dict:
    """Bring landed files into bronze; returns the rows added per table.

    Orders are a stream of files: only files not ingested before are appended (checkpointed, like Auto
    Loader). Customers and products are snapshots: the table is replaced by the landed file.
    """
    from pyspark.sql import functions as F

    added = {}
    for source in sources:
        target = bronze_table(source, env)
        folder = str(landing_dir(source, env))
        reader = (spark.readStream if source == "orders" else spark.read).schema(SCHEMAS[source]) \
            .option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", "_rescued_data")
        frame = (reader.json(folder)
                 .withColumn("_source_file", F.col("_metadata.file_name"))
                 .withColumn("_ingested_at", F.current_timestamp()))
        if source == "orders":
            checkpoint = paths.under(paths.lab_root(), "checkpoints", "ingest", target)
            query = frame.writeStream.option("checkpointLocation", str(checkpoint)) \
                .trigger(availableNow=True).toTable(target)
            query.awaitTermination()
            added[target] = sum(progress.numInputRows for progress in query.recentProgress)
        else:
            frame.write.mode("overwrite").option("overwriteSchema", "true").saveAsTable(target)
            added[target] = _rows_in_last_commit(spark, target)
    return added


def _rows_in_last_commit(spark, table_name: str) -> int:
    """Rows the table's latest commit wrote, from its Delta log (counting the table costs a Spark job)."""
    from .pipelines.delta_log import TableLog

    log = TableLog.of(spark, table_name)
    version = log.snapshot().version
    return int(log.commits(version, version)[0].metrics.get("numOutputRows", 0))


def reset_orders(spark, env: str | None = None) -> None:
    """Forget an environment's landed orders: drop its bronze table, landing files and ingest checkpoint.
    The table is re-created by the next ingest, a new Delta table: as on Databricks, a pipeline's streaming
    table that read the old one must be fully refreshed (``full_refresh=["bronze_orders"]``).

    A sandbox reset, for when a lesson needs a known sample (e.g. clean data in dev)::

        reset_orders(spark, env="dev"); prepare_sources(spark, orders=600, batches=1, rates=Defects.none())
    """
    import shutil

    target = bronze_table("orders", env)
    spark.sql("DROP TABLE IF EXISTS IDENTIFIER(:t)", args={"t": target})
    for folder in (landing_dir("orders", env), paths.under(paths.lab_root(), "checkpoints", "ingest", target)):
        shutil.rmtree(folder, ignore_errors=True)


def prepare_sources(spark, orders: int = 20_000, batches: int = 2, seed: int = 42, rates: Defects | None = None,
                    env: str | None = None) -> dict:
    """Land ``batches`` files of ``orders // batches`` orders (if not landed yet) and ingest them."""
    _check_count("orders", orders)
    _check_count("batches", batches)
    if orders < batches:
        raise ValueError(f"orders ({orders}) must be at least batches ({batches})")
    per_batch = orders // batches
    land_reference_data(n_customers_for(orders), seed, env)
    folder = landing_dir("orders", env)
    for batch in range(1, batches + 1):
        if not (folder / f"orders_batch_{batch:04d}.json").exists():
            land_orders(per_batch, batch, seed, rates, env, n_customers=n_customers_for(orders))
    return ingest(spark, env)
