"""The environment widget: choosing an environment switches lab.table names and the loaded config."""
from __future__ import annotations

import pytest

import lakehouse_lab as lab
from lakehouse_lab.config import ConfigError
from lakehouse_lab.environments import environment_widget

pytestmark = pytest.mark.spark
pytest.importorskip("lakehouse_lab.dbutils", reason="dbutils arrives with the jobs engine")


@pytest.fixture()
def widgets(spark):
    from lakehouse_lab.dbutils import dbutils

    yield dbutils.widgets
    dbutils.widgets.removeAll()
    lab.start("dev")


def test_switching_dev_to_prod_changes_every_name_and_the_config(widgets):
    view = environment_widget("dev")
    assert widgets.get("environment") == "dev"
    assert view.tables() == {"bronze.raw_orders": "dev_catalog.bronze.raw_orders",
                             "silver_orders": "dev_catalog.analytics.silver_orders",
                             "gold_customer_metrics": "dev_catalog.analytics.gold_customer_metrics"}
    view.select("prod")
    assert widgets.get("environment") == "prod" and lab.current_env() == "prod"
    assert lab.table("silver_orders") == "prod_catalog.analytics.silver_orders"
    assert all(name.startswith("prod_catalog.") for name in view.tables().values())
    assert view.config.compute.cluster_size == "large" and lab.current_config() == view.config
    assert "prod_catalog" in view._repr_html_() and "large" in view._repr_html_()
    assert lab.start().catalog.currentCatalog() == "prod_catalog"


def test_an_unknown_environment_is_refused_and_nothing_switches(widgets):
    view = environment_widget("dev")
    with pytest.raises(ConfigError, match="Unknown environment 'qa'. Valid environments: dev, prod, staging"):
        view.select("qa")
    assert lab.current_env() == "dev" and widgets.get("environment") == "dev"
