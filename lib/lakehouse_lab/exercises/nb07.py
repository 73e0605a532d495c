"""Exercises of notebook 07 (troubleshooting): find the root-cause task of a failed run, and the failed expectation.

>>> from lakehouse_lab.exercises import nb07 as ex
>>> ex.q1.var, ex.q2.var
('root_task', 'failed_rule')
"""
from __future__ import annotations

import json

from .core import Problem

JOB = "nb07_exercise_job"
PIPELINE = "nb07_exercise_quality"
SCHEMA = "drills"
RULES = {"valid_order_id": "order_id IS NOT NULL", "positive_quantity": "quantity > 0",
         "known_currency": "currency IN ('EUR', 'GBP', 'USD')"}


def _step(**_kwargs) -> str:
    return "ok"


def enrich(divisor: str) -> float:
    """Spread a budget over ``divisor`` regions; a bad job parameter (0) makes it fail."""
    return 1200 / int(divisor)


def failing_run():
    """Run the exercise job with a bad parameter; returns the (failed) run."""
    from ..jobs import run_job

    def task(key, fn, after=(), **kwargs):
        return {"task_key": key, "depends_on": [{"task_key": k} for k in after],
                "python_task": {"function": fn, "kwargs": kwargs}}
    job = {"name": JOB, "parameters": [{"name": "divisor", "default": "4"}], "tasks": [
        task("ingest", _step), task("clean", _step, ["ingest"]), task("audit", _step, ["ingest"]),
        task("enrich", enrich, ["clean"], divisor="{{job.parameters.divisor}}"),
        task("publish", _step, ["enrich", "audit"])]}
    return run_job(job, parameters={"divisor": "0"}, progress=False)


def _latest_roots() -> tuple[int | None, dict]:
    from ..observability.drills import root_cause_tasks
    from ..observability.drills.job_drills import latest_run

    run = latest_run(JOB)
    return (run.run_id, root_cause_tasks(run.run_id)) if run else (None, {})


def _check_q1(answer) -> str | None:
    run_id, roots = _latest_roots()
    if run_id is None:
        return "Run `run = ex.failing_run()` first."
    if answer in roots:
        return None
    if answer == "publish":
        return "publish never ran: it is UPSTREAM_FAILED. Look for the task whose own attempt ended FAILED."
    return f"{answer!r} is not the task whose own attempt failed in run {run_id}."


q1 = Problem(
    "q1", "Run `ex.failing_run()`. Which task is the root cause of its failure? Set `root_task` to its task_key, "
          "found in system.lakeflow.job_task_run_timeline.",
    check=_check_q1, var="root_task",
    hints=["Blocked tasks never ran: result_state SKIPPED, termination_code SKIPPED.",
           "Filter the timeline on job_run_id = :run_id AND result_state = 'FAILED'."],
    solution='''root_task = spark.sql("""SELECT task_key FROM system.lakeflow.job_task_run_timeline
    WHERE job_run_id = :run_id AND result_state = 'FAILED'""", args={"run_id": run.run_id}).first().task_key''')


def broken_update():
    """Land orders (one with an unknown currency) and run a pipeline with three FAIL UPDATE rules."""
    import lakehouse_lab as lab

    from ..pipelines import run_pipeline

    spark = lab.start()
    catalog = lab.current_config().database.catalog
    source = f"{catalog}.{SCHEMA}.nb07_orders"
    spark.sql("CREATE SCHEMA IF NOT EXISTS IDENTIFIER(:s)", args={"s": f"{catalog}.{SCHEMA}"})
    spark.sql("CREATE OR REPLACE TABLE IDENTIFIER(:t) AS SELECT concat('O', id) AS order_id, "
              "CAST(1 + id % 5 AS INT) AS quantity, IF(id = 42, 'XXX', 'EUR') AS currency FROM range(100)",
              args={"t": source})
    rules = ",\n".join(f"  CONSTRAINT {n} EXPECT ({c}) ON VIOLATION FAIL UPDATE" for n, c in RULES.items())
    folder = lab.paths.under(lab.paths.lab_root(), "drills", SCHEMA, "nb07_exercise")
    (folder / "checked.sql").write_text(f"CREATE OR REFRESH MATERIALIZED VIEW nb07_checked_orders (\n{rules}\n)\n"
                                        f"AS SELECT * FROM {source}\n")
    return run_pipeline(folder, name=PIPELINE, schema=SCHEMA)


def _failed_expectation() -> str | None:
    import lakehouse_lab as lab

    from ..observability.drills.pipeline_drills import LATEST_ERRORS

    spark = lab.start()
    row = spark.sql(LATEST_ERRORS, args={"pipeline": PIPELINE, "schema": SCHEMA,
                                         "catalog": lab.current_config().database.catalog}) \
        .where("event_type = 'flow_progress'").first()
    return json.loads(row.details)["flow_progress"]["failed_expectation"] if row else None


def _check_q2(answer) -> str | None:
    expected = _failed_expectation()
    if expected is None:
        return "Run `update = ex.broken_update()` first (its latest update must have failed)."
    if answer == expected:
        return None
    if answer in RULES:
        return f"{answer!r} is one of the rules, but it passed: read details of the ERROR flow_progress event."
    return f"{answer!r} is not an expectation of this pipeline (rules: {', '.join(RULES)})."


q2 = Problem(
    "q2", "Run `ex.broken_update()`. Which expectation failed the update? Set `failed_rule` to its name, read from "
          "system.lakeflow.pipeline_events.",
    check=_check_q2, var="failed_rule",
    hints=["Errors are events with level = 'ERROR'; the flow_progress one names the rule in its details.",
           "get_json_object(details, '$.flow_progress.failed_expectation')"],
    solution='''failed_rule = spark.sql("""SELECT get_json_object(details, '$.flow_progress.failed_expectation') AS rule
    FROM system.lakeflow.pipeline_events
    WHERE update_id = :update AND level = 'ERROR' AND event_type = 'flow_progress'""",
    args={"update": update.update_id}).first().rule''')
