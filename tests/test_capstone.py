"""The capstone project helper: a git repository with a bundle, and paths kept inside it."""
import subprocess
import sys

import pytest

from lakehouse_lab.capstone import start_project
from lakehouse_lab.environments import load_bundle


def test_project_is_a_git_repository_on_main_with_a_loadable_bundle(tmp_path):
    project = start_project(tmp_path / "inventory")
    assert project.git("rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert project.files() == ["databricks.yml"]
    project.write("pipelines/01_silver.sql", "CREATE OR REFRESH MATERIALIZED VIEW s AS SELECT 1 AS x")
    first = project.git("rev-parse", "HEAD")
    assert project.commit("Add silver") != first
    assert "pipelines/01_silver.sql" in project.files()
    project.write("resources/p.yml", "resources:\n  pipelines:\n    p:\n      name: p\n      catalog: ${var.catalog}\n"
                  "      libraries:\n        - glob:\n            include: pipelines/*.sql\n")
    bundle = load_bundle(project.path, target="prod")
    assert bundle.name == "inventory_capstone" and bundle.resources["pipelines"]["p"]["catalog"] == "prod_catalog"


def test_starting_again_replaces_the_project(tmp_path):
    project = start_project(tmp_path / "p")
    project.write("extra.txt", "x")
    project.commit("extra")
    again = start_project(tmp_path / "p")
    assert again.files() == ["databricks.yml"]


def test_writes_outside_the_project_are_refused(tmp_path):
    project = start_project(tmp_path / "p")
    with pytest.raises(ValueError, match="outside the project"):
        project.write("../escape.sql", "x")
    assert not (tmp_path / "escape.sql").exists()


def test_monitor_alerts_without_a_channel_says_what_to_pass():
    done = subprocess.run([sys.executable, "-m", "lakehouse_lab.cli", "monitor", "alerts"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "--slack-url" in done.stdout
