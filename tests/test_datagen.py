import datetime as dt
import json

import pytest

from lakehouse_lab import datagen
from lakehouse_lab.datagen import Defects

AS_OF = dt.date(2026, 1, 31)


def parse(lines):
    rows, bad = [], 0
    for line in lines:
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            bad += 1
    return rows, bad


def test_same_seed_same_data_other_seed_other_data():
    a = datagen.order_lines(300, batch=1, seed=1, as_of=AS_OF)
    assert a == datagen.order_lines(300, batch=1, seed=1, as_of=AS_OF)
    assert a != datagen.order_lines(300, batch=1, seed=2, as_of=AS_OF)
    assert a != datagen.order_lines(300, batch=2, seed=1, as_of=AS_OF)


def test_defect_rates_are_respected():
    rates = Defects(null_order_id=0.1, non_positive_amount=0.1, future_order_date=0.1, unknown_customer=0.1,
                    malformed_line=0.1)
    rows, bad = parse(datagen.order_lines(5000, seed=3, rates=rates, as_of=AS_OF))
    share = lambda n: n / 5000  # noqa: E731
    assert 0.08 < share(bad) < 0.12
    assert 0.08 < share(sum(r["order_id"] is None for r in rows)) < 0.12
    assert 0.08 < share(sum(r["amount"] <= 0 for r in rows)) < 0.12
    assert 0.08 < share(sum(r["order_date"] > AS_OF.isoformat() for r in rows)) < 0.12
    assert 0.08 < share(sum(r["customer_id"].startswith("X") for r in rows)) < 0.12


def test_clean_data_has_no_defects():
    rows, bad = parse(datagen.order_lines(2000, seed=4, rates=Defects.none(), as_of=AS_OF))
    assert bad == 0 and all(r["order_id"] and r["amount"] > 0 and r["order_date"] <= AS_OF.isoformat() for r in rows)
    assert {r["status"] for r in rows} == set(datagen.STATUSES)


@pytest.mark.parametrize("kwargs, field", [
    ({"n": 0}, "n"), ({"n": 10, "batch": 0}, "batch"), ({"n": 10, "n_customers": -1}, "n_customers"),
])
def test_impossible_sizes_name_the_parameter(kwargs, field):
    with pytest.raises(ValueError, match=rf"^{field} must be"):
        datagen.order_lines(**kwargs)


@pytest.mark.parametrize("kwargs, field", [({"null_order_id": 1.5}, "null_order_id"),
                                           ({"malformed_line": -0.1}, "malformed_line")])
def test_impossible_rates_name_the_parameter(kwargs, field):
    with pytest.raises(ValueError, match=field):
        Defects(**kwargs)


def test_rates_cannot_add_up_to_more_than_everything():
    with pytest.raises(ValueError, match="sum must be <= 1"):
        Defects(0.5, 0.5, 0.5, 0, 0)


def test_landing_then_ingest_is_incremental(spark, tmp_path, monkeypatch):
    """A second ingest with no new file adds nothing; a new batch adds exactly its rows."""
    monkeypatch.setattr(datagen, "landing_dir", lambda source, env=None: (tmp_path / source).mkdir(exist_ok=True) or tmp_path / source)
    monkeypatch.setattr(datagen, "bronze_table", lambda source, env=None: f"dev_catalog.bronze.test_raw_{source}")
    for source in ("orders", "customers", "products"):
        spark.sql(f"DROP TABLE IF EXISTS dev_catalog.bronze.test_raw_{source}")
    from lakehouse_lab import paths
    import shutil
    shutil.rmtree(paths.lab_root() / "checkpoints" / "ingest" / "dev_catalog.bronze.test_raw_orders", ignore_errors=True)

    rates = Defects(0, 0, 0, 0, malformed_line=0.05)
    first = datagen.prepare_sources(spark, orders=400, batches=2, rates=rates)
    assert first["dev_catalog.bronze.test_raw_orders"] == 400
    assert first["dev_catalog.bronze.test_raw_customers"] == datagen.n_customers_for(400)
    products = spark.table("dev_catalog.bronze.test_raw_products").count()
    assert first["dev_catalog.bronze.test_raw_products"] == products > 0
    again = datagen.ingest(spark)
    assert again["dev_catalog.bronze.test_raw_orders"] == 0
    datagen.land_orders(50, rates=rates)
    assert datagen.ingest(spark)["dev_catalog.bronze.test_raw_orders"] == 50
    bronze = spark.table("dev_catalog.bronze.test_raw_orders")
    rescued = bronze.where("_rescued_data IS NOT NULL")
    assert 0 < rescued.count() < 60, "malformed lines are kept in _rescued_data, not dropped"
    assert rescued.where("order_id IS NOT NULL").count() == 0
    assert {r._source_file for r in bronze.select("_source_file").distinct().collect()} == {
        "orders_batch_0001.json", "orders_batch_0002.json", "orders_batch_0003.json"}
