import pytest

from lakehouse_lab import catalog
from lakehouse_lab.config import ConfigError, environments, load_config


def test_the_three_environments_load_in_the_guides_shape():
    assert environments() == ["dev", "prod", "staging"]
    prod = load_config("prod")
    assert (prod.environment, prod.database.catalog, prod.database.schema_name) == ("production", "prod_catalog", "analytics")
    assert prod.storage.root_table == "bronze.raw_orders"
    assert prod.compute.cluster_size == "large" and prod.compute.auto_terminate is False


def test_unknown_environment_lists_the_valid_ones():
    with pytest.raises(ConfigError, match=r"Unknown environment 'nope'.*dev, prod, staging"):
        load_config("nope")


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    (tmp_path / "bad.yaml").write_text("environment: x\ndatabase:\n  catalog: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: line \d+"):
        load_config("bad", tmp_path)


def test_missing_and_unknown_keys_are_named(tmp_path):
    (tmp_path / "x.yaml").write_text("environment: x\ndatabase: {catalog: c, colour: blue}\n")
    with pytest.raises(ConfigError) as err:
        load_config("x", tmp_path)
    assert "storage: Field required" in str(err.value) and "database.colour" in str(err.value)


def test_table_names_follow_the_environment():
    assert catalog.table("silver_orders", env="dev") == "dev_catalog.analytics.silver_orders"
    assert catalog.table("bronze.raw_orders", env="prod") == "prod_catalog.bronze.raw_orders"
    assert catalog.table("system.access.table_lineage", env="prod") == "system.access.table_lineage"


def test_every_environment_catalog_and_system_are_registered():
    names = catalog.catalogs()
    assert {"dev_catalog", "staging_catalog", "prod_catalog", "system"} <= set(names)
    assert {"access", "lakeflow"} <= set(names["system"])
    assert {"analytics", "bronze"} <= set(names["dev_catalog"])
