"""Environment configs: the guide's shape, validated, with errors that name the file, line and choices."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lakehouse_lab import paths
from lakehouse_lab.config import ConfigError, environments, load_config
from lakehouse_lab.environments import load_environment_config

GOOD = """environment: development
database:
  catalog: dev_catalog
  schema: analytics
storage:
  root_table: bronze.raw_orders
compute:
  cluster_size: small
  auto_terminate: true
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(text)
    return folder


def test_each_environment_decides_catalog_schema_source_and_compute():
    assert environments() == ["dev", "prod", "staging"]
    dev, prod = load_config("dev"), load_config("prod")
    assert (dev.database.catalog, prod.database.catalog) == ("dev_catalog", "prod_catalog")
    assert dev.source_table() == "dev_catalog.bronze.raw_orders"
    assert prod.compute.cluster_size == "large" and prod.compute.auto_terminate is False
    assert dev.compute.spark_settings()["spark.sql.shuffle.partitions"] == "4"
    assert prod.compute.spark_settings()["spark.sql.shuffle.partitions"] == "8"


def test_load_environment_config_returns_the_guides_dict():
    config = load_environment_config("prod")
    assert config["database"]["catalog"] == "prod_catalog"
    assert config["storage"]["root_table"] == "bronze.raw_orders"


def test_unknown_environment_lists_the_valid_ones():
    with pytest.raises(ConfigError, match=r"Unknown environment 'qa'\. Valid environments: dev, prod, staging"):
        load_config("qa")


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    folder = write(tmp_path, "dev", GOOD.replace("  schema: analytics", "  schema: [analytics"))
    with pytest.raises(ConfigError) as err:
        load_config("dev", folder)
    assert str(folder / "dev.yaml") in str(err.value) and "line 5" in str(err.value)
    assert "YAML syntax error" in str(err.value)


def test_missing_key_names_the_key_and_its_line(tmp_path):
    folder = write(tmp_path, "dev", GOOD.replace("  catalog: dev_catalog\n", ""))
    with pytest.raises(ConfigError, match=r"dev\.yaml: line 2: database\.catalog: Field required"):
        load_config("dev", folder)


def test_wrong_value_and_unknown_key_are_reported_together(tmp_path):
    folder = write(tmp_path, "dev", GOOD.replace("small", "huge") + "colour: blue\n")
    with pytest.raises(ConfigError) as err:
        load_config("dev", folder)
    message = str(err.value)
    assert "line 8: compute.cluster_size" in message and "'small', 'medium' or 'large'" in message
    assert "line 10: colour: Extra inputs are not permitted" in message


def test_the_guides_loader_runs_as_written_from_the_notebooks_folder():
    """The guide opens ``config/<env>.yaml`` relative to the working directory: notebooks/config links there."""
    code = ("import yaml\n"
            "def load_environment_config(env_name):\n"
            "    config_path = f'config/{env_name}.yaml'\n"
            "    with open(config_path, 'r') as file:\n"
            "        config = yaml.safe_load(file)\n"
            "    return config\n"
            "print(load_environment_config('prod')['database']['catalog'])\n")
    for folder in (paths.project_root(), paths.project_root() / "notebooks"):
        done = subprocess.run([sys.executable, "-c", code], cwd=folder, capture_output=True, text=True,
                              env=os.environ)
        assert done.stdout.strip() == "prod_catalog", done.stderr
