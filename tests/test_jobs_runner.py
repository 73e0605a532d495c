"""The runner on the real lab session: retries, values, conditions, run_if, timeouts, concurrency, repair,
notifications through local receivers, and the history rows each run leaves in system.lakeflow."""
from __future__ import annotations

import threading
import time

import pytest

from lakehouse_lab import jobs, notify
from lakehouse_lab.dbutils import dbutils


def _rows(spark, table, **equal):
    """Rows of ``system.lakeflow.<table>`` whose columns equal the given values."""
    from pyspark.sql import functions as F

    df = spark.table(f"system.lakeflow.{table}")
    for column, value in equal.items():
        df = df.where(F.col(column).isin(value) if isinstance(value, list) else F.col(column) == F.lit(value))
    return df.collect()


def test_retries_values_condition_error_handler_notifications_and_history(spark):
    calls = {"flaky": 0}

    def flaky():
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise RuntimeError("first attempt fails")
        dbutils.jobs.taskValues.set("rows", 42)

    def slow():
        time.sleep(1.5)

    def broken():
        raise ValueError("bad data")

    hooks = notify.local_webhooks()
    notify.register_destination("test-team", hooks.url("/team"), kind="slack")
    inbox = notify.local_inbox()
    mails, posts = len(inbox.inbox), len(hooks.deliveries)
    job = {"name": "test_semantics", "parameters": [{"name": "threshold", "default": "10"}],
           "email_notifications": {"on_start": ["start@lab"], "on_failure": ["fail@lab"], "on_success": ["ok@lab"],
                                   "on_duration_warning_threshold_exceeded": ["slow@lab"]},
           "webhook_notifications": {"on_failure": [{"id": "test-team"}]},
           "health": {"rules": [{"metric": "RUN_DURATION_SECONDS", "op": "GREATER_THAN", "value": 1}]},
           "tasks": [
               {"task_key": "flaky", "max_retries": 2, "python_task": {"function": flaky}},
               {"task_key": "check", "depends_on": [{"task_key": "flaky"}], "condition_task": {
                   "op": "GREATER_THAN", "left": "{{tasks.flaky.values.rows}}", "right": "{{job.parameters.threshold}}"}},
               {"task_key": "big", "depends_on": [{"task_key": "check", "outcome": "true"}], "python_task": {"function": slow}},
               {"task_key": "small", "depends_on": [{"task_key": "check", "outcome": "false"}], "python_task": {"function": slow}},
               {"task_key": "broken", "python_task": {"function": broken}},
               {"task_key": "after_broken", "depends_on": [{"task_key": "broken"}], "python_task": {"function": slow}},
               {"task_key": "error_handler", "depends_on": [{"task_key": "broken"}, {"task_key": "flaky"}],
                "run_if": "AT_LEAST_ONE_FAILED", "python_task": {"function": "builtins:str", "kwargs": {"object": "{{job.run_id}}"}}},
           ]}
    run = jobs.run_job(job, parameters={"threshold": "40"})
    states = {k: t.state for k, t in run.tasks.items()}
    assert states == {"flaky": "SUCCESS", "check": "SUCCESS", "big": "SUCCESS", "small": "EXCLUDED",
                      "broken": "FAILED", "after_broken": "UPSTREAM_FAILED", "error_handler": "SUCCESS"}
    assert [a.state for a in run.tasks["flaky"].attempts] == ["FAILED", "SUCCESS"]
    assert [a.attempt_number for a in run.tasks["flaky"].attempts] == [0, 1]
    assert run.tasks["check"].condition == "true" and run.tasks["error_handler"].output == str(run.run_id)
    assert run.result_state == "FAILED" and "bad data" in run.error_message

    subjects = [m.subject for m in inbox.wait_for(mails + 3)[mails:]]
    assert any("started" in s for s in subjects) and any("failed (FAILED)" in s for s in subjects)
    assert any("longer than expected" in s for s in subjects)
    assert "test_semantics" in hooks.wait_for(posts + 1)[posts].body["text"]

    summary = _rows(spark, "job_runs", run_id=run.run_id)[0]
    assert (summary.job_name, summary.result_state, summary.attempts) == ("test_semantics", "FAILED", 6)
    assert summary.execution_duration > 1 and summary.end_time > summary.start_time
    tasks = {(r.task_key, r.attempt_number): (r.result_state, r.termination_code)
             for r in _rows(spark, "job_task_run_timeline", job_run_id=run.run_id)}
    assert tasks[("flaky", 0)] == ("FAILED", "RUN_EXECUTION_ERROR") and tasks[("flaky", 1)][0] == "SUCCEEDED"
    assert tasks[("after_broken", 0)] == ("SKIPPED", "SKIPPED")
    assert tasks[("small", 0)] == ("SKIPPED", "SKIPPED")
    timeline = sorted(_rows(spark, "job_run_timeline", run_id=run.run_id), key=lambda r: r.period_end_time is not None)
    assert [r.result_state for r in timeline] == [None, "FAILED"]
    assert {r.run_type for r in timeline} == {"JOB_RUN"}  # a run of a job; SUBMIT_RUN is the API's runs/submit
    assert {r.trigger_type for r in timeline} == {"ONETIME"}  # the system table's spelling, not the API's ONE_TIME
    assert _rows(spark, "jobs", job_id=run.job_id)[0].name == "test_semantics"


def test_timeouts_really_stop_python_tasks_and_retry_on_timeout(spark):
    ticks = {"n": 0}

    def busy():
        for _ in range(600):
            try:
                time.sleep(0.05)
            except Exception:  # noqa: BLE001 - a task that swallows its errors is stopped all the same
                pass
            ticks["n"] += 1

    job = {"name": "test_timeouts", "tasks": [
        {"task_key": "busy", "timeout_seconds": 1, "retry_on_timeout": True, "max_retries": 1,
         "python_task": {"function": busy}},
        {"task_key": "no_retry", "timeout_seconds": 1, "max_retries": 3, "python_task": {"function": busy}}]}
    run = jobs.run_job(job)
    assert [a.state for a in run.tasks["busy"].attempts] == ["TIMEDOUT", "TIMEDOUT"]
    assert [a.state for a in run.tasks["no_retry"].attempts] == ["TIMEDOUT"]  # retry_on_timeout is off
    stopped_at = ticks["n"]
    time.sleep(0.5)
    assert ticks["n"] == stopped_at, "a timed-out task kept running"
    assert run.result_state == "FAILED"


def test_job_timeout_cancels_the_rest(spark):
    def wait_long():
        for _ in range(400):
            time.sleep(0.05)

    job = {"name": "test_job_timeout", "timeout_seconds": 1, "tasks": [
        {"task_key": "long", "python_task": {"function": wait_long}},
        {"task_key": "next", "depends_on": [{"task_key": "long"}], "python_task": {"function": "builtins:print"}}]}
    started = time.monotonic()
    run = jobs.run_job(job, wait=False)
    run._thread.join(60)
    assert time.monotonic() - started < 15
    run.wait()
    assert run.result_state == "TIMEDOUT"
    assert (run.tasks["long"].state, run.tasks["next"].state) == ("TIMEDOUT", "CANCELED")


def test_a_parent_timeout_stops_the_child_job_it_runs(spark):
    def wait_long():
        for _ in range(400):
            time.sleep(0.05)

    jobs.runner._JOBS["test_slow_child"] = jobs.load_job(
        {"name": "test_slow_child", "tasks": [{"task_key": "long", "python_task": {"function": wait_long}}]})
    started = time.monotonic()
    run = jobs.run_job({"name": "test_timed_parent", "timeout_seconds": 1, "tasks": [
        {"task_key": "child", "run_job_task": {"job_id": "test_slow_child"}}]})
    assert time.monotonic() - started < 15 and run.result_state == "TIMEDOUT"
    child = jobs.get_run(int(run.tasks["child"].output))
    assert child.result_state == "TIMEDOUT" and child.tasks["long"].state == "TIMEDOUT"
    assert child.error_message == f"stopped at the deadline of its parent run {run.run_id}"


def test_max_concurrent_runs_ten_triggers_one_runs_nine_skipped(spark):
    release = threading.Event()
    job = jobs.load_job({"name": "test_concurrency", "max_concurrent_runs": 1, "tasks": [
        {"task_key": "hold", "python_task": {"function": lambda: release.wait(60)}}]})
    runs = [jobs.run_job(job, wait=False) for _ in range(10)]
    release.set()
    for run in runs:
        run.wait()
    states = [r.result_state for r in runs]
    assert states.count("SUCCESS") == 1 and states.count("MAXIMUM_CONCURRENT_RUNS_REACHED") == 9
    recorded = [r.result_state for r in _rows(spark, "job_runs", run_id=[r.run_id for r in runs])]
    assert sorted(recorded) == ["MAXIMUM_CONCURRENT_RUNS_REACHED"] * 9 + ["SUCCESS"]
    skipped = runs[states.index("MAXIMUM_CONCURRENT_RUNS_REACHED")].run_id
    codes = _rows(spark, "job_run_timeline", run_id=skipped, result_state="SKIPPED")
    assert codes[0].termination_code == "MAX_CONCURRENT_RUNS_EXCEEDED"


def test_repair_reruns_failed_tasks_and_dependents_in_the_same_run(spark):
    broken = {"on": True}
    counts = {"a": 0}

    def a():
        counts["a"] += 1

    def b():
        if broken["on"]:
            raise RuntimeError("source not ready")

    job = {"name": "test_repair", "tasks": [
        {"task_key": "a", "python_task": {"function": a}},
        {"task_key": "b", "depends_on": [{"task_key": "a"}], "python_task": {"function": b}},
        {"task_key": "c", "depends_on": [{"task_key": "b"}], "python_task": {"function": "builtins:print"}}]}
    run = jobs.run_job(job)
    assert run.result_state == "FAILED" and run.tasks["c"].state == "UPSTREAM_FAILED"
    broken["on"] = False
    repaired = jobs.repair_run(run.run_id)
    assert repaired is run and run.result_state == "SUCCESS" and run.repair_count == 1
    assert counts["a"] == 1 and [x.attempt_number for x in run.tasks["b"].attempts] == [0, 1]
    assert run.tasks["c"].state == "SUCCESS"
    row = _rows(spark, "job_runs", run_id=run.run_id)
    assert len(row) == 1 and (row[0].result_state, row[0].repair_count) == ("SUCCESS", 1)
    repair_rows = _rows(spark, "job_task_run_timeline", job_run_id=run.run_id, repair_id=1)
    assert {(r.task_key, r.result_state) for r in repair_rows} == {("b", "SUCCEEDED"), ("c", "SUCCEEDED")}


def test_for_each_and_run_job_task(spark):
    seen = []
    lock = threading.Lock()

    def visit(item):
        with lock:
            seen.append(item)

    child = jobs.load_job({"name": "test_child", "parameters": [{"name": "who", "default": "nobody"}],
                           "tasks": [{"task_key": "hello", "python_task": {"function": visit,
                                                                            "kwargs": {"item": "{{job.parameters.who}}"}}}]})
    jobs.runner._JOBS[child.name] = child
    job = {"name": "test_parent", "tasks": [
        {"task_key": "loop", "for_each_task": {"inputs": '["x", "y", "z"]', "concurrency": 2, "task": {
            "task_key": "one", "python_task": {"function": visit, "kwargs": {"item": "{{input}}"}}}}},
        {"task_key": "child", "depends_on": [{"task_key": "loop"}],
         "run_job_task": {"job_id": "test_child", "job_parameters": {"who": "parent {{job.run_id}}"}}}]}
    run = jobs.run_job(job)
    assert run.result_state == "SUCCESS"
    assert sorted(seen) == sorted(["x", "y", "z", f"parent {run.run_id}"])
    assert [run.tasks[f"loop[{i}]"].state for i in range(3)] == ["SUCCESS"] * 3
    child_run = jobs.get_run(int(run.tasks["child"].output))
    assert child_run.parent_run_id == run.run_id and child_run.result_state == "SUCCESS"


def test_unknown_reference_fails_the_task_with_its_name(spark):
    run = jobs.run_job({"name": "test_refs", "tasks": [{"task_key": "t", "python_task": {
        "function": "builtins:str", "kwargs": {"object": "{{job.parameters.missing}}"}}}]})
    assert run.tasks["t"].state == "FAILED" and "{{job.parameters.missing}}" in run.tasks["t"].error
    with pytest.raises(jobs.JobSpecError, match="no job parameter 'x'"):
        jobs.run_job({"name": "test_refs", "tasks": [{"task_key": "t", "python_task": {"function": "builtins:str"}}]},
                     parameters={"x": "1"})


def test_a_run_in_another_environment_gives_the_caller_its_environment_back(spark):
    import lakehouse_lab as lab

    lab.start("dev")
    run = jobs.run_job({"name": "test_env", "tasks": [{"task_key": "where", "python_task": {
        "function": "lakehouse_lab.session:current_env"}}]}, env="staging")
    assert (run.env, run.tasks["where"].output) == ("staging", "staging")
    assert lab.current_env() == "dev" and spark.catalog.currentCatalog() == "dev_catalog"
