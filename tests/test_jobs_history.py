"""History survives a killed runner; the seed's monitoring queries (§5/§6) run as written."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pyspark.sql import functions as F

from lakehouse_lab import jobs, paths
from lakehouse_lab.jobs import history

CHILD = """
import time
from lakehouse_lab import jobs

def hang():
    time.sleep(600)

jobs.run_job({"name": "test_killed_runner", "tasks": [
    {"task_key": "first", "python_task": {"function": "builtins:print"}},
    {"task_key": "hang", "depends_on": [{"task_key": "first"}], "python_task": {"function": hang}}]})
"""


def test_killed_runner_is_closed_as_internal_error(spark, tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(Path(jobs.__file__).parents[2])}
    child = subprocess.Popen([sys.executable, str(script)], env=env, cwd=paths.project_root())
    journal = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and journal is None:
        for path in history.journal_dir().glob("*.jsonl"):
            text = path.read_text()
            if f'"pid": {child.pid}' in text and '"task_key": "hang"' in text:
                journal = path
        time.sleep(0.2)
    assert journal is not None, "the child never started its run"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    run_id = int(journal.stem)
    assert run_id in jobs.recover(spark)
    row = spark.table("system.lakeflow.job_runs").where(F.col("run_id") == run_id).first()
    assert row.job_name == "test_killed_runner" and row.result_state == "INTERNAL_ERROR"
    assert f"runner process {child.pid}" in row.error_message and row.end_time >= row.start_time
    tasks = {r.task_key: (r.result_state, r.termination_code) for r in
             spark.table("system.lakeflow.job_task_run_timeline").where(F.col("job_run_id") == run_id).collect()}
    assert tasks["first"] == ("SUCCEEDED", "SUCCESS") and tasks["hang"] == ("ERROR", "INTERNAL_ERROR")
    end = spark.table("system.lakeflow.job_run_timeline").where(
        (F.col("run_id") == run_id) & F.col("result_state").isNotNull()).collect()
    assert [r.termination_code for r in end] == ["INTERNAL_ERROR"]
    assert not journal.exists()


def test_seed_monitoring_queries_run_as_written(spark):
    run = jobs.run_job({"name": "test_seed_queries", "tasks": [{"task_key": "t", "python_task": {"function": "builtins:print"}}]})
    job_metrics = spark.sql("""
    SELECT 
        job_name,
        DATE(start_time) as execution_date,
        COUNT(*) as total_runs,
        SUM(CASE WHEN result_state = 'SUCCESS' THEN 1 ELSE 0 END) as successful_runs,
        AVG(execution_duration) as avg_duration_seconds
    FROM system.lakeflow.job_runs 
    WHERE start_time >= current_date() - INTERVAL 7 DAYS
    GROUP BY job_name, DATE(start_time)
    ORDER BY execution_date DESC, job_name
""")
    mine = [r for r in job_metrics.collect() if r.job_name == "test_seed_queries"]
    assert mine and mine[0].successful_runs >= 1
    performance_metrics = spark.sql("""
        SELECT 
            job_name,
            DATE(start_time) as run_date,
            AVG(execution_duration) as avg_duration,
            PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY execution_duration) as p95_duration,
            COUNT(*) as run_count
        FROM system.lakeflow.job_runs 
        WHERE start_time >= current_date() - INTERVAL 30 DAYS
        AND result_state = 'SUCCESS'
        GROUP BY job_name, DATE(start_time)
        ORDER BY run_date DESC, avg_duration DESC
    """)
    assert any(r.job_name == "test_seed_queries" and r.p95_duration >= 0 for r in performance_metrics.collect())
    job_name, hours_back = "test_seed_queries", 24
    failure_analysis = spark.sql(f"""
        SELECT 
            run_id,
            start_time,
            end_time,
            result_state,
            error_message
        FROM system.lakeflow.job_runs 
        WHERE job_name = '{job_name}'
        AND start_time >= current_timestamp() - INTERVAL {hours_back} HOURS
        AND result_state IN ('FAILED', 'TIMEOUT', 'CANCELLED')
        ORDER BY start_time DESC
    """)
    assert run.run_id not in [r.run_id for r in failure_analysis.collect()]
