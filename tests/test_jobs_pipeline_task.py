"""``pipeline_task`` runs an update of a declarative pipeline; a failed update fails the task."""
from __future__ import annotations

import uuid

from lakehouse_lab import jobs


def test_pipeline_task_success_and_failed_update(spark, tmp_path):
    name = f"jobs_pt_{uuid.uuid4().hex[:6]}"
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    (good / "mv.sql").write_text(f"CREATE OR REFRESH MATERIALIZED VIEW {name} AS SELECT 1 AS x")
    (bad / "mv.sql").write_text(f"CREATE OR REFRESH MATERIALIZED VIEW {name}_bad "
                                "(CONSTRAINT positive EXPECT (x > 0) ON VIOLATION FAIL UPDATE) AS SELECT -1 AS x")
    try:
        run = jobs.run_job({"name": "test_pipeline_task", "tasks": [
            {"task_key": "refresh", "pipeline_task": {"pipeline_id": str(good), "full_refresh": True}},
            {"task_key": "broken", "pipeline_task": {"pipeline_id": str(bad)}}]}, env="dev")
        assert run.tasks["refresh"].state == "SUCCESS", run.tasks["refresh"].error
        assert spark.table(f"dev_catalog.analytics.{name}").first().x == 1
        assert run.tasks["broken"].state == "FAILED" and "FAILED" in run.tasks["broken"].error
    finally:
        spark.sql(f"DROP TABLE IF EXISTS dev_catalog.analytics.`{name}`")
        spark.sql(f"DROP TABLE IF EXISTS dev_catalog.analytics.`{name}_bad`")


def test_pipeline_task_refreshes_only_its_selection(spark, tmp_path):
    name = f"jobs_sel_{uuid.uuid4().hex[:6]}"
    (tmp_path / "mv.sql").write_text(f"CREATE OR REFRESH MATERIALIZED VIEW {name}_a AS SELECT 1 AS x;\n"
                                     f"CREATE OR REFRESH MATERIALIZED VIEW {name}_b AS SELECT 2 AS x")
    try:
        run = jobs.run_job({"name": "test_pipeline_task_selection", "tasks": [
            {"task_key": "only_a", "pipeline_task": {"pipeline_id": str(tmp_path), "refresh_selection": [f"{name}_a"]}},
        ]}, env="dev")
        assert run.tasks["only_a"].state == "SUCCESS", run.tasks["only_a"].error
        assert spark.catalog.tableExists(f"dev_catalog.analytics.{name}_a")
        assert not spark.catalog.tableExists(f"dev_catalog.analytics.{name}_b")  # EXCLUDED: never written
    finally:
        spark.sql(f"DROP TABLE IF EXISTS dev_catalog.analytics.`{name}_a`")
