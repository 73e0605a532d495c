"""Unit tests of the pipeline definitions: they need no data and run on every pull request."""
from pathlib import Path

from lakehouse_lab.environments.bundles import load_bundle
from lakehouse_lab.pipelines import Pipeline

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / "notebooks" / "pipelines" / "orders"


def test_the_bundle_resolves_for_every_target():
    for target in ("dev", "staging", "prod"):
        bundle = load_bundle(ROOT, target)
        assert bundle.resources["pipelines"]["orders_pipeline"]["catalog"] == f"{target}_catalog"


def test_the_pipeline_defines_bronze_silver_and_gold():
    names = set(Pipeline.load(SOURCES).datasets)
    assert {"bronze_orders", "silver_orders", "gold_customer_metrics"} <= names


def test_silver_keeps_its_amount_rule():
    silver = (SOURCES / "02_silver_orders.sql").read_text()
    assert "CONSTRAINT positive_amount" in silver, "silver_orders lost its positive_amount expectation"
