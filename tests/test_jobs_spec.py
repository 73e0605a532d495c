"""Job specs: loading (dict, JSON, YAML, bundle), validation errors before anything runs, run_if rules."""
from __future__ import annotations

import json

import pytest

from lakehouse_lab.jobs import JobSpecError, job_from_dependencies, load_job
from lakehouse_lab.jobs.runner import JobRun, TaskRun, decide, result_from_leaves

SEED_JOB = {
    "name": "customer_analytics_pipeline",
    "email_notifications": {"on_failure": ["data-team@company.com"], "on_success": ["stakeholders@company.com"]},
    "timeout_seconds": 3600,
    "max_concurrent_runs": 1,
    "tasks": [
        {"task_key": "ingest_raw_data",
         "notebook_task": {"notebook_path": "/pipelines/01_data_ingestion",
                           "base_parameters": {"source_table": "bronze.orders"}},
         "new_cluster": {"spark_version": "13.3.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 2}},
        {"task_key": "process_silver_layer", "depends_on": [{"task_key": "ingest_raw_data"}],
         "notebook_task": {"notebook_path": "/pipelines/02_silver_processing"}},
    ],
}
TASK_DEPENDENCIES = {
    "bronze_ingestion": [], "silver_customers": ["bronze_ingestion"], "silver_orders": ["bronze_ingestion"],
    "gold_customer_metrics": ["silver_customers", "silver_orders"], "gold_revenue_analysis": ["silver_orders"],
    "final_reporting": ["gold_customer_metrics", "gold_revenue_analysis"],
}


def _task(key, deps=(), **extra):
    return {"task_key": key, "depends_on": [{"task_key": d} for d in deps],
            "python_task": {"function": "builtins:print"}, **extra}


def test_seed_job_config_loads_and_cluster_fields_are_noticed():
    with pytest.warns(UserWarning, match="ingest_raw_data.new_cluster"):
        job = load_job(SEED_JOB)
    assert [t.task_key for t in job.tasks] == ["ingest_raw_data", "process_silver_layer"]
    assert job.task("ingest_raw_data").notebook_task.base_parameters == {"source_table": "bronze.orders"}
    assert job.max_concurrent_runs == 1 and job.timeout_seconds == 3600


def test_seed_task_dependencies_become_a_job_of_course_tasks():
    job = job_from_dependencies("course", TASK_DEPENDENCIES)
    assert {d.task_key for d in job.task("gold_customer_metrics").depends_on} == {"silver_customers", "silver_orders"}
    assert job.task("final_reporting").python_task.function == "lakehouse_lab.jobs.course:final_reporting"
    other = job_from_dependencies("nb", {"x_task": []})
    assert other.task("x_task").notebook_task.notebook_path == "/tasks/x_task"


@pytest.mark.parametrize("tasks, message", [
    ([_task("a", ["b"]), _task("b", ["a"])], "job 'j', task 'a', field depends_on: cycle"),
    ([_task("a", ["nope"])], "job 'j', task 'a', field depends_on: no task 'nope'"),
    ([_task("a"), _task("a")], "job 'j', task 'a', field task_key: duplicate task_key"),
    ([_task("a", retries=3)], "job 'j', task 'a', field retries: unknown field"),
    ([{"task_key": "a", "notebook_task": {"notebook_path": "x", "params": {}}}],
     "job 'j', task 'a', field notebook_task.params: unknown field"),
    ([_task("a", run_if="SOMETIMES")], "job 'j', task 'a', field run_if"),
    ([{"task_key": "a"}], "job 'j', task 'a', field notebook_task: a task needs exactly one of"),
    ([{"task_key": "a", "for_each_task": {"inputs": "[1]", "task": {"task_key": "one"}}}],
     "job 'j', task 'a', field for_each_task.task.notebook_task: a task needs exactly one of"),
])
def test_bad_input_is_one_error_naming_job_task_and_field(tasks, message):
    with pytest.raises(JobSpecError) as err:
        load_job({"name": "j", "tasks": tasks})
    assert str(err.value).startswith(message), str(err.value)


def test_unknown_job_field_names_the_file(tmp_path):
    path = tmp_path / "job.json"
    path.write_text(json.dumps({"name": "j", "max_concurent_runs": 2, "tasks": [_task("a")]}))
    with pytest.raises(JobSpecError, match=r"job 'j' \(.*job.json\), field max_concurent_runs: unknown field "
                                           r"\(did you mean max_concurrent_runs\?\)"):
        load_job(path)


@pytest.mark.parametrize("name, text, message", [
    ("job.yaml", "name: y\ntasks:\n  - task_key: a\n    python_task: {function: 'x:y'\n",
     r"job file .*job.yaml: line 5, column 1: YAML syntax error"),
    ("job.json", '{"name": "j",\n "tasks": [,]}', r"job file .*job.json: line 2, column 12: JSON syntax error"),
    ("job.yaml", "name: y\ntasks: [a, b]\n", r"job 'y' \(.*job.yaml\), task '#0', field \(top level\): Input should "
     "be a valid dictionary"),
])
def test_a_broken_job_file_is_one_error_naming_file_and_line(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(JobSpecError, match=message):
        load_job(tmp_path / name)


def test_yaml_and_bundle_files(tmp_path):
    (tmp_path / "job.yaml").write_text("name: y\ntasks:\n  - task_key: a\n    python_task: {function: 'builtins:print'}\n")
    assert load_job(tmp_path / "job.yaml").name == "y"
    (tmp_path / "databricks.yml").write_text(
        "bundle: {name: demo}\nresources:\n  jobs:\n    nightly:\n      tasks:\n"
        "        - task_key: a\n          python_task: {function: 'builtins:print'}\n"
        "        - task_key: b\n          depends_on: [{task_key: a}]\n          python_task: {function: 'builtins:print'}\n")
    job = load_job(tmp_path / "databricks.yml")
    assert job.name == "nightly" and [d.task_key for d in job.task("b").depends_on] == ["a"]
    with pytest.raises(JobSpecError, match="no job 'other'"):
        load_job(tmp_path / "databricks.yml", key="other")


def _decide(run_if, upstream_states, outcomes=None, edge_outcomes=None):
    deps = [{"task_key": k, **({"outcome": edge_outcomes[k]} if edge_outcomes and k in edge_outcomes else {})}
            for k in upstream_states]
    job = load_job({"name": "r", "tasks": [_task(k) for k in upstream_states] +
                    [{"task_key": "t", "depends_on": deps, "run_if": run_if,
                      "python_task": {"function": "builtins:print"}}]})
    return decide(job.task("t"), upstream_states, outcomes or {})


@pytest.mark.parametrize("run_if, states, expected", [
    ("ALL_SUCCESS", {"a": "SUCCESS", "b": "SUCCESS"}, None),
    ("ALL_SUCCESS", {"a": "SUCCESS", "b": "FAILED"}, "UPSTREAM_FAILED"),
    ("AT_LEAST_ONE_SUCCESS", {"a": "SUCCESS", "b": "FAILED"}, None),
    ("AT_LEAST_ONE_SUCCESS", {"a": "FAILED", "b": "TIMEDOUT"}, "UPSTREAM_FAILED"),
    ("NONE_FAILED", {"a": "SUCCESS", "b": "EXCLUDED"}, None),
    ("NONE_FAILED", {"a": "SUCCESS", "b": "UPSTREAM_FAILED"}, "UPSTREAM_FAILED"),
    ("ALL_DONE", {"a": "FAILED", "b": "CANCELED"}, None),
    ("AT_LEAST_ONE_FAILED", {"a": "SUCCESS", "b": "FAILED"}, None),
    ("AT_LEAST_ONE_FAILED", {"a": "SUCCESS", "b": "SUCCESS"}, "EXCLUDED"),
    ("ALL_FAILED", {"a": "FAILED", "b": "UPSTREAM_FAILED"}, None),
    ("ALL_FAILED", {"a": "FAILED", "b": "SUCCESS"}, "EXCLUDED"),
    # an excluded dependency counts as succeeded; all of them excluded: the task is excluded, whatever its run_if
    ("ALL_SUCCESS", {"a": "SUCCESS", "b": "EXCLUDED"}, None),
    ("AT_LEAST_ONE_SUCCESS", {"a": "FAILED", "b": "EXCLUDED"}, None),
    ("ALL_DONE", {"a": "EXCLUDED", "b": "EXCLUDED"}, "EXCLUDED"),
    ("NONE_FAILED", {"a": "EXCLUDED"}, "EXCLUDED"),
    ("AT_LEAST_ONE_FAILED", {"a": "EXCLUDED", "b": "EXCLUDED"}, "EXCLUDED"),
])
def test_run_if_rules(run_if, states, expected):
    assert _decide(run_if, states) == expected


def test_condition_outcome_selects_a_branch():
    assert _decide("ALL_SUCCESS", {"c": "SUCCESS"}, {"c": "true"}, {"c": "true"}) is None
    assert _decide("ALL_SUCCESS", {"c": "SUCCESS"}, {"c": "false"}, {"c": "true"}) == "EXCLUDED"
    # the join after an if/else: one branch ran, the other was not taken
    assert _decide("ALL_SUCCESS", {"c": "SUCCESS", "a": "SUCCESS"}, {"c": "false"}, {"c": "true"}) is None
    assert _decide("ALL_DONE", {"c": "SUCCESS"}, {"c": "false"}, {"c": "true"}) == "EXCLUDED"


@pytest.mark.parametrize("states, expected", [
    ({"a": "SUCCESS", "b": "SUCCESS", "h": "EXCLUDED"}, "SUCCESS"),
    ({"a": "FAILED", "b": "UPSTREAM_FAILED", "h": "SUCCESS"}, "FAILED"),
    ({"a": "SUCCESS", "b": "FAILED", "h": "SUCCESS"}, "FAILED"),
])
def test_result_from_leaves(states, expected):
    job = load_job({"name": "l", "tasks": [_task("a"), _task("b", ["a"]), _task("h", ["a"], run_if="AT_LEAST_ONE_FAILED")]})
    run = JobRun(job, 1, "dev", {}, {k: TaskRun(k, v) for k, v in states.items()})
    assert result_from_leaves(job, run) == expected


def test_success_with_failures_when_a_failure_is_handled_before_the_leaves():
    job = load_job({"name": "w", "tasks": [_task("a"), _task("b", ["a"], run_if="ALL_DONE")]})
    run = JobRun(job, 1, "dev", {}, {"a": TaskRun("a", "FAILED"), "b": TaskRun("b", "SUCCESS")})
    assert result_from_leaves(job, run) == "SUCCESS_WITH_FAILURES"


def test_tasks_that_never_ran_are_told_apart_by_the_graph():
    """The timelines record both as SKIPPED / SKIPPED (the Jobs API's code); a repair in a new process needs which."""
    from lakehouse_lab.jobs import history
    from lakehouse_lab.jobs.repair import _task_states

    job = load_job({"name": "g", "tasks": [_task("a"), _task("b", ["a"]), _task("h", ["a"], run_if="AT_LEAST_ONE_FAILED"),
                                           _task("ok"), _task("h2", ["ok"], run_if="AT_LEAST_ONE_FAILED"),
                                           _task("after", ["b", "h2"], run_if="ALL_DONE")]})
    ran = {"a": "FAILED", "b": "UPSTREAM_FAILED", "h": "SUCCESS", "ok": "SUCCESS", "h2": "EXCLUDED", "after": "SUCCESS"}
    recorded = {k: history.api_state(*history.TIMELINE_STATE[state]) for k, state in ran.items()}
    assert recorded["b"] is None and recorded["h2"] is None
    assert _task_states(job, recorded) == ran
    assert history.api_state("SKIPPED", "UPSTREAM_FAILED") == "UPSTREAM_FAILED"  # rows of earlier lab versions
