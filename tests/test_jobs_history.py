"""History survives a killed runner; the seed's monitoring queries (§5/§6) run as written."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
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


def test_a_replay_that_stops_half_way_writes_nothing_twice(spark):
    """The timelines commit, the run summary fails (a bad value): the next replay writes only the summary."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    run_id = 9_000_000_000 + int(time.time() * 1000) % 1_000_000_000
    start, end = "2026-01-01T10:00:00", "2026-01-01T10:05:00"
    rows = [("job_run_timeline", {"job_id": 1, "run_id": run_id, "period_start_time": start}),
            ("job_task_run_timeline", {"job_id": 1, "run_id": run_id + 1, "job_run_id": run_id, "task_key": "t",
                                       "period_start_time": start, "period_end_time": end, "attempt_number": 0,
                                       "result_state": "SUCCEEDED", "termination_code": "SUCCESS"}),
            ("job_run_timeline", {"job_id": 1, "run_id": run_id, "period_start_time": start, "period_end_time": end,
                                  "result_state": "SUCCEEDED", "termination_code": "SUCCESS"}),
            ("job_runs", {"job_id": 1, "job_name": "test_half_replay", "run_id": run_id, "start_time": start,
                          "end_time": end, "result_state": "SUCCESS", "task_count": "one"})]
    journal = history.journal_dir() / f"{run_id}.jsonl"
    journal.write_text("\n".join(json.dumps(line) for line in [{"header": True, "pid": dead.pid, "host": socket.gethostname()}]
                                 + [{"seq": i, "kind": "append", "table": t, "row": r} for i, (t, r) in enumerate(rows, 1)]) + "\n")

    def counts():
        return [spark.table(f"system.lakeflow.{t}").where(F.col(c) == run_id).count()
                for t, c in (("job_run_timeline", "run_id"), ("job_task_run_timeline", "job_run_id"), ("job_runs", "run_id"))]

    try:
        with pytest.raises(Exception, match="(?i)malformed|one"):
            history.recover(spark)
        assert counts() == [2, 1, 0] and journal.exists()
        journal.write_text(journal.read_text().replace('"task_count": "one"', '"task_count": 1'))
        assert run_id in history.recover(spark)
        assert counts() == [2, 1, 1], "the timelines were committed once"
        assert not journal.exists()
    finally:
        journal.unlink(missing_ok=True)
