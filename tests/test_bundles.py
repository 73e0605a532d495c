"""databricks.yml-shaped bundles: includes, variables, targets, modes, task_key merges, and bad input."""
from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from lakehouse_lab import cli, paths
from lakehouse_lab.environments.bundles import BundleError, load_bundle, merge
from lakehouse_lab.environments.deploy import DeploymentRefused, deploy, state_file

MAIN = """\
bundle:
  name: {name}
include:
  - resources/*.yml
variables:
  catalog:
    default: dev_catalog
  owner:
    description: who is paged
    default: team@example.com
targets:
  dev:
    default: true
    mode: development
  staging:
    variables:
      catalog: staging_catalog
  prod:
    mode: production
    variables:
      catalog: prod_catalog
    resources:
      jobs:
        nightly:
          tasks:
            - task_key: refresh
              max_retries: 3
            - task_key: report
              pipeline_task:
                pipeline_id: ${{resources.pipelines.orders.id}}
"""
RESOURCES = """\
resources:
  pipelines:
    orders:
      name: orders_${bundle.target}
      catalog: ${var.catalog}
      schema: analytics
      libraries:
        - file:
            path: ../src/orders.sql
  jobs:
    nightly:
      name: nightly of ${bundle.name}
      schedule:
        quartz_cron_expression: "0 0 2 * * ?"
        timezone_id: UTC
      email_notifications:
        on_failure:
          - ${var.owner}
      tasks:
        - task_key: refresh
          pipeline_task:
            pipeline_id: ${resources.pipelines.orders.id}
  dashboards:
    sales:
      display_name: Sales
"""


def make_bundle(root: Path, name: str = "demo", main: str = MAIN, resources: str = RESOURCES) -> Path:
    (root / "resources").mkdir(parents=True, exist_ok=True)
    (root / "src").mkdir(exist_ok=True)
    (root / "src" / "orders.sql").write_text("CREATE OR REFRESH MATERIALIZED VIEW t AS SELECT 1 AS x\n")
    (root / "databricks.yml").write_text(main.format(name=name))
    (root / "resources" / "jobs.yml").write_text(resources)
    return root


def test_targets_resolve_variables_and_bundle_references(tmp_path):
    root = make_bundle(tmp_path)
    staging = load_bundle(root, "staging")
    pipeline = staging.resources["pipelines"]["orders"]
    assert pipeline["catalog"] == "staging_catalog" and pipeline["name"] == "orders_staging"
    assert pipeline["libraries"] == [{"file": {"path": "src/orders.sql"}}]  # relative to the bundle root
    job = staging.resources["jobs"]["nightly"]
    assert job["name"] == "nightly of demo" and job["email_notifications"]["on_failure"] == ["team@example.com"]
    assert staging.skipped == ["dashboards.sales (jobs.yml): resource kind 'dashboards' is not run by the lab"]
    assert "dashboards" not in staging.resources


def test_default_target_is_development_mode_with_prefix_and_paused_schedule(tmp_path):
    dev = load_bundle(make_bundle(tmp_path), user="ada")
    assert dev.target == "dev" and dev.mode == "development"
    assert dev.resources["jobs"]["nightly"]["name"] == "[dev ada] nightly of demo"
    assert dev.resources["jobs"]["nightly"]["schedule"]["pause_status"] == "PAUSED"
    assert dev.resources["pipelines"]["orders"]["development"] is True


def test_target_overrides_merge_tasks_by_task_key(tmp_path):
    prod = load_bundle(make_bundle(tmp_path), "prod")
    tasks = prod.resources["jobs"]["nightly"]["tasks"]
    assert [t["task_key"] for t in tasks] == ["refresh", "report"]
    assert tasks[0]["max_retries"] == 3 and tasks[0]["pipeline_task"]["pipeline_id"].startswith("${resources.")
    assert "schedule" in prod.resources["jobs"]["nightly"] and "pause_status" not in prod.resources["jobs"]["nightly"]["schedule"]
    assert merge({"a": {"b": 1, "c": [1]}}, {"a": {"c": [2]}}) == {"a": {"b": 1, "c": [2]}}


def test_var_overrides_win_over_target_values(tmp_path, monkeypatch):
    root = make_bundle(tmp_path)
    assert load_bundle(root, "prod", {"catalog": "x_catalog"}).variables["catalog"] == "x_catalog"
    monkeypatch.setenv("BUNDLE_VAR_owner", "oncall@example.com")
    assert load_bundle(root, "prod").variables["owner"] == "oncall@example.com"


def test_undefined_variable_names_file_line_key_and_declared_ones(tmp_path):
    root = make_bundle(tmp_path, resources=RESOURCES.replace("${var.owner}", "${var.pager}"))
    with pytest.raises(BundleError) as err:
        load_bundle(root, "staging")
    message = str(err.value)
    assert f"{root / 'resources' / 'jobs.yml'}: line 18:" in message
    assert "resources.jobs.nightly.email_notifications.on_failure.0: undefined variable 'pager'" in message
    assert "Declared variables: catalog, owner" in message


def test_unknown_target_lists_the_valid_targets(tmp_path):
    with pytest.raises(BundleError, match=r"databricks\.yml: line 11: targets: unknown target 'qa'\. "
                                          r"Valid targets: dev, prod, staging\."):
        load_bundle(make_bundle(tmp_path), "qa")


def test_yaml_syntax_error_and_missing_name(tmp_path):
    root = make_bundle(tmp_path, resources=RESOURCES.replace("name: orders_${bundle.target}", "name: [orders"))
    with pytest.raises(BundleError, match=r"jobs\.yml: line 5, column \d+: YAML syntax error"):
        load_bundle(root, "dev")
    root = make_bundle(tmp_path / "b", main=MAIN.replace("  name: {name}\n", "  uuid: x\n"))
    with pytest.raises(BundleError, match=r"databricks\.yml: line 1: bundle\.name: Field required"):
        load_bundle(root, "dev")


def test_bad_mode_include_and_override_are_reported(tmp_path):
    with pytest.raises(BundleError, match=r"targets\.dev\.mode: 'debug' is not valid\. Valid modes"):
        load_bundle(make_bundle(tmp_path / "a", main=MAIN.replace("mode: development", "mode: debug")))
    with pytest.raises(BundleError, match=r"include\[0\]: 'jobs/\*\.yml' matches no file"):
        load_bundle(make_bundle(tmp_path / "b", main=MAIN.replace("resources/*.yml", "jobs/*.yml")))
    with pytest.raises(BundleError, match=r"overrides resources\.jobs\.weekly, which is not defined"):
        load_bundle(make_bundle(tmp_path / "c", main=MAIN.replace("        nightly:", "        weekly:")), "prod")


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", *args],
                   cwd=root, check=True, capture_output=True)


def test_production_deploys_only_from_a_clean_main(tmp_path):
    root = make_bundle(tmp_path, name="refusal_demo")
    with pytest.raises(DeploymentRefused, match="is not one"):
        deploy(root, "prod")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    git(root, "checkout", "-q", "-b", "feature/x")
    with pytest.raises(DeploymentRefused, match=r"deploys only from branch 'main'; the checkout is on 'feature/x'"):
        deploy(root, "prod")
    git(root, "checkout", "-q", "main")
    (root / "src" / "orders.sql").write_text("-- edited\n")
    with pytest.raises(DeploymentRefused, match=r"clean working tree; uncommitted changes: src/orders\.sql"):
        deploy(root, "prod")
    assert not state_file(load_bundle(root, "prod")).parent.exists()  # nothing deployed


def test_cli_validate_prints_the_resolved_course_bundle_as_json(capsys):
    assert cli.main(["bundle", "validate", str(paths.project_root()), "--target", "prod", "--output", "json"]) == 0
    resolved = json.loads(capsys.readouterr().out)
    assert resolved["bundle"] == {"name": "lakehouse_lab_course", "target": "prod", "mode": "production",
                                  "git": {"branch": "main"}}
    assert resolved["resources"]["pipelines"]["orders_pipeline"]["catalog"] == "prod_catalog"
    task = resolved["resources"]["jobs"]["orders_job"]["tasks"][0]
    assert task["task_key"] == "refresh_orders" and task["max_retries"] == 2


def test_cli_reports_bad_input_as_one_error(capsys, tmp_path):
    assert cli.main(["bundle", "validate", str(make_bundle(tmp_path)), "--target", "qa"]) == 2
    assert "Valid targets: dev, prod, staging" in capsys.readouterr().err
    assert cli.main(["bundle", "validate", str(tmp_path), "--var", "nope=1"]) == 2
    assert "variable 'nope' is not declared" in capsys.readouterr().err


def test_notebook_05_bundle_exercises_tell_wrong_from_right():
    from lakehouse_lab.exercises import nb05

    assert nb05.q1.check(0).status == "incorrect" and "prod target overrides" in nb05.q1.check(0).message
    assert nb05.q1.check(2).status == "correct"
    assert nb05.q3.check({"alert_email": "me@company.com"}).status == "incorrect"
    assert "not declared" in nb05.q3.check({"alert": "qa-team@company.com"}).message
    assert nb05.q3.check({"alert_email": "qa-team@company.com"}).status == "correct"


def test_a_task_file_that_is_not_there_is_reported_before_anything_is_deployed(tmp_path, capsys):
    with_notebook = RESOURCES.replace("""          pipeline_task:
            pipeline_id: ${resources.pipelines.orders.id}
""", """          pipeline_task:
            pipeline_id: ${resources.pipelines.orders.id}
        - task_key: report
          depends_on: [{task_key: refresh}]
          notebook_task:
            notebook_path: ../src/report
""")
    root = make_bundle(tmp_path, name="missing_notebook_demo", resources=with_notebook)
    assert cli.main(["bundle", "validate", str(root)]) == 2
    err = capsys.readouterr().err
    assert "resources.jobs.nightly.tasks[1].notebook_task.notebook_path: notebook" in err and "not found" in err
    with pytest.raises(BundleError, match=r"tasks\[1\]\.notebook_task\.notebook_path"):
        deploy(root, "dev")
    assert not state_file(load_bundle(root, "dev")).exists()  # nothing registered
    (root / "src" / "report.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    assert cli.main(["bundle", "validate", str(root)]) == 0


def test_a_job_runs_the_pipeline_its_bundle_deployed_by_id(spark, tmp_path):
    """``${resources.pipelines.x.id}`` is the deployed pipeline's id; the job's update carries that id and the
    deployed name (development mode's ``[dev <user>]``), as a Databricks job runs a pipeline by its id."""
    from lakehouse_lab.environments.deploy import pipeline_id, run
    from lakehouse_lab.jobs import run_job

    root = make_bundle(tmp_path, name="by_id_demo")
    bundle = load_bundle(root, "dev")
    assert deploy(root, "dev").result == "SUCCEEDED"
    assert run("nightly", root, "dev")[0] == "SUCCESS"
    latest = spark.sql("SELECT pipeline_id, pipeline_name FROM system.lakeflow.pipeline_updates "
                       "ORDER BY start_time DESC LIMIT 1").first()
    assert latest == (pipeline_id(bundle, "orders"), bundle.resources["pipelines"]["orders"]["name"])
    assert latest.pipeline_name.startswith("[dev ")
    unknown = run_job({"name": "stray", "tasks": [{"task_key": "t", "pipeline_task": {
        "pipeline_id": "00000000-0000-0000-0000-000000000000"}}]}, env="dev")
    assert unknown.result_state == "FAILED" and "is not deployed here" in unknown.tasks["t"].error
