"""Promotion on a real git repository: a change that breaks an integration test on staging is rolled back
(data with RESTORE, code to the deployed commit) and never reaches prod."""
from __future__ import annotations

import json

import pytest

import lakehouse_lab as lab
from lakehouse_lab.environments import promotion, versions
from lakehouse_lab.environments.deploy import DeploymentRefused, as_environment, deploy

pytestmark = pytest.mark.spark
SILVER = "notebooks/pipelines/orders/02_silver_orders.sql"


def orders(n: int, null_ids: int) -> str:
    """``n`` bronze orders in the source contract's shape; the first ``null_ids`` have no order_id."""
    return (f"SELECT CASE WHEN id < {null_ids} THEN NULL ELSE concat('o', id) END AS order_id, "
            "concat('c', id % 20) AS customer_id, concat('p', id % 7) AS product_id, CAST(1 AS INT) AS quantity, "
            "CAST(10 + id % 50 AS DOUBLE) AS amount, '2026-01-15' AS order_date, 'completed' AS status, "
            "CAST(NULL AS STRING) AS _rescued_data, 'orders_batch_0001.json' AS _source_file, "
            f"current_timestamp() AS _ingested_at FROM range({n})")


@pytest.fixture(scope="module")
def repo(spark, tmp_path_factory):
    """Sources in every environment (dev is clean; staging and prod have orders without id), a fresh
    deployment repository, and its first commit promoted to staging and prod."""
    for env, null_ids in (("dev", 0), ("staging", 12), ("prod", 12)):
        with as_environment(env) as s:
            catalog = lab.load_config(env).database.catalog
            s.sql(f"CREATE OR REPLACE TABLE {catalog}.bronze.raw_orders AS {orders(240, null_ids)}")
    repo = promotion.create_repo(tmp_path_factory.mktemp("promotion") / "repo")
    baseline = repo.promote(full_refresh=True)
    assert baseline.succeeded, [(s.name, s.status, s.detail) for s in baseline.stages]
    return repo


def test_the_first_commit_reaches_prod(repo, spark):
    assert repo.deployed_commit("prod") == repo.deployed_commit("staging") == repo.head("main")
    assert spark.table("prod_catalog.analytics.silver_orders").where("order_id IS NULL").count() == 0
    assert spark.table("prod_catalog.analytics.silver_orders").count() == 240 - 12


def test_a_failing_integration_test_leaves_prod_exactly_as_before(repo, spark):
    prod_before = versions.snapshot(spark, [("prod_catalog", "analytics")])
    staging_before = versions.snapshot(spark, [("staging_catalog", "analytics")])
    deployed = repo.deployed_commit("prod")
    repo.branch("feature/keep-orders-without-id")
    repo.commit_change(SILVER, replace=("EXPECT (order_id IS NOT NULL) ON VIOLATION DROP ROW,",
                                        "EXPECT (order_id IS NOT NULL),"), message="Warn on missing ids")
    repo.commit_change(SILVER, replace=("WHERE order_id IS NOT NULL", ""), message="Keep orders without id")
    pr = repo.open_pull_request("feature/keep-orders-without-id")
    assert "-WHERE order_id IS NOT NULL" in pr.diff and len(pr.commits) == 2
    assert [c.name for c in pr.checks] == ["unit tests of the pipeline definitions", "data-quality dry run on dev"]
    assert pr.passed, pr.checks  # dev's clean data hides the problem
    merged = repo.merge(pr)

    report = repo.promote()

    assert [(s.name, s.status) for s in report.stages] == [
        ("deploy to staging", "PASSED"), ("integration tests on staging", "FAILED"),
        ("rollback staging", "ROLLED_BACK"), ("deploy to prod", "SKIPPED")]
    assert "silver_has_no_missing_order_ids: 12 offending row(s)" in report.stage("integration tests on staging").detail
    # prod: not a single table version moved
    assert versions.snapshot(spark, [("prod_catalog", "analytics")]) == prod_before
    # staging: the changed tables were restored to their recorded versions' data
    failed = report.deployments["staging"]
    assert "staging_catalog.analytics.silver_orders" in failed.changed_tables()
    assert {t: v for t, v in failed.changed_tables().items()} == {t: staging_before[t] for t in failed.changed_tables()}
    assert spark.table("staging_catalog.analytics.silver_orders").where("order_id IS NULL").count() == 0
    # code: main is back to the deployed tree, with the merge kept in history
    assert repo.git("diff", deployed, "main") == ""
    assert repo.log("main", 1)[0].split(" ", 1)[1].startswith("Roll back staging to")
    assert merged in repo.git("rev-list", "main").split()
    assert repo.deployed_commit("prod") == deployed
    deployments = spark.table("system.lakeflow.deployments")
    row = deployments.where(deployments.deployment_id == failed.deployment_id).first()
    assert row.result == "ROLLED_BACK" and row.commit == merged
    assert json.loads(row.table_versions)["staging_catalog.analytics.silver_orders"]["before"] == \
        staging_before["staging_catalog.analytics.silver_orders"]


def test_a_pull_request_with_failing_unit_tests_cannot_be_merged(repo):
    repo.branch("feature/drop-amount-rule")
    repo.commit_change(SILVER, replace=("CONSTRAINT positive_amount EXPECT (amount > 0) ON VIOLATION FAIL UPDATE,\n", ""),
                       message="Drop the amount rule")
    pr = repo.open_pull_request("feature/drop-amount-rule")
    assert not pr.passed and len(pr.checks) == 1  # no dry run when the unit tests fail
    assert "test_silver_keeps_its_amount_rule" in pr.checks[0].detail
    with pytest.raises(promotion.PromotionError, match="cannot be merged: unit tests of the pipeline definitions"):
        repo.merge(pr)
    assert repo.current_branch == "main"
    with pytest.raises(promotion.PromotionError, match=r"no branch 'feature/drop-amount-rul' .*feature/drop-amount-rule"):
        repo.open_pull_request("feature/drop-amount-rul")


def test_prod_refuses_a_dirty_tree_and_deploys_nothing(repo, spark):
    prod_before = versions.snapshot(spark, [("prod_catalog", "analytics")])
    (repo.path / "notes.txt").write_text("scratch\n")
    try:
        with pytest.raises(DeploymentRefused, match=r"clean working tree; uncommitted changes: notes\.txt"):
            deploy(repo.path, "prod", run=True)
    finally:
        (repo.path / "notes.txt").unlink()
    repo.git("checkout", "-q", "feature/drop-amount-rule")
    try:
        with pytest.raises(DeploymentRefused, match="the checkout is on 'feature/drop-amount-rule'"):
            deploy(repo.path, "prod", run=True)
    finally:
        repo.git("checkout", "-q", "main")
    assert versions.snapshot(spark, [("prod_catalog", "analytics")]) == prod_before


def test_bundle_deploy_then_run_runs_the_deployed_job(repo, spark, capsys):
    pytest.importorskip("lakehouse_lab.jobs", reason="jobs run with the jobs engine")
    from lakehouse_lab import cli

    assert cli.main(["bundle", "deploy", str(repo.path), "--target", "staging"]) == 0
    assert "Deployed lakehouse_lab_course to target staging" in capsys.readouterr().out
    assert cli.main(["bundle", "run", "--target", "staging", "orders_job", str(repo.path)]) == 0
    assert capsys.readouterr().out.startswith("orders_job: SUCCESS")
    assert cli.main(["bundle", "run", "--target", "staging", "nightly", str(repo.path)]) == 2
    assert "no deployed job or pipeline 'nightly'" in capsys.readouterr().err

    staging = versions.snapshot(spark, [("staging_catalog", "analytics")])
    args = ["bundle", "run", "--target", "staging", str(repo.path), "--validate-only"]
    assert cli.main(args[:4] + ["orders_pipeline"] + args[4:]) == 0
    out = capsys.readouterr().out
    assert out.startswith("orders_pipeline: COMPLETED") and out.count('"status": "VALIDATED"') == 3
    assert versions.snapshot(spark, [("staging_catalog", "analytics")]) == staging  # validated, nothing written
    assert cli.main(args[:4] + ["orders_job"] + args[4:]) == 2
    assert "apply to pipelines; 'orders_job' is a job" in capsys.readouterr().err

    selected = ["bundle", "run", "--target", "staging", "orders_pipeline", str(repo.path), "--refresh", "silver_orders"]
    assert cli.main(selected) == 0
    statuses = [json.loads(line)["status"] for line in capsys.readouterr().out.splitlines()[1:]]
    assert sorted(statuses) == ["COMPLETED", "EXCLUDED", "EXCLUDED"]
