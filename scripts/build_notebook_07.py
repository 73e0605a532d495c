"""Write notebooks/07_troubleshooting.ipynb from the cells below (run: .venv/bin/python scripts/build_notebook_07.py)."""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

OUT = Path(__file__).resolve().parents[1] / "notebooks" / "07_troubleshooting.ipynb"


def md(text: str):
    return new_markdown_cell(text.strip())


def code(text: str):
    return new_code_cell(text.strip())


CELLS = [
    md("""
# 07 · Troubleshooting

Things break: a data-quality rule stops a pipeline, an upstream team renames a column, a task fails and blocks
the tasks after it, a job gets slow, a table drops out of the lineage graph. This notebook **breaks each of
them for real** — on Spark and Delta, in the schema `dev_catalog.drills` — and walks the guide's resolution flow.

**You will:**
1. follow the resolution flow of the guide (§6) from *Issue Detected* to *Monitor & Validate*;
2. find each issue in the `system` tables: `system.lakeflow.pipeline_updates` / `pipeline_events`,
   `system.lakeflow.job_runs` / `job_task_run_timeline`, `system.access.table_lineage`;
3. read the cause from events, error messages, task dependencies, query plans and table history;
4. apply the fix, then verify it with a new run;
5. run the guide's two troubleshooting functions as written, see what they miss, and use parameterised queries.
"""),
    code("import lakehouse_lab as lab; spark = lab.start()"),
    md("""
## The resolution flow

Each drill is an object with five steps: `inject()` creates the fault and runs what it breaks, `detect()` returns
the evidence from the system tables, `diagnose()` the cause, `fix()` applies the fix, `verify()` runs again and
returns a verdict (false while the issue is still there). A drill displays itself with the steps it has reached.
`drills.reset()` drops the drill schema, so the notebook starts clean.
"""),
    code("""
from lakehouse_lab.observability import drills

drills.reset()
flow = drills.resolution_flow()
flow
"""),
    code("""
for issue, (first, second) in drills.ISSUE_STEPS.items():
    print(f"{issue:16} -> {first:34} -> {second}")
assert sorted(drills.DRILLS) == ["broken_expectation", "failing_task", "missing_lineage", "schema_change", "slow_task"]
assert "Monitor & Validate" in flow.source
"""),
    md("""
| issue type | drill | fault |
|---|---|---|
| DLT Failure | `broken_expectation` | refunds with `amount <= 0` reach a table with `EXPECT (amount > 0) ON VIOLATION FAIL UPDATE` |
| DLT Failure | `schema_change` | the source is overwritten upstream with `amount` renamed to `order_amount` |
| Job Failure | `failing_task` | a task reads a reference table that does not exist |
| Performance | `slow_task` | a row-by-row Python UDF on 200,000 rows |
| Lineage Missing | `missing_lineage` | a table refreshed by writing to its storage path |

## 1. DLT failure: a broken expectation

The drill's pipeline publishes `broken_expectation_silver` from a source table. Its first update completes; then a
batch of three refunds lands, and the next update fails.
"""),
    code("""
expectation = drills.drill("broken_expectation")
failed_update = expectation.inject()
print(expectation.definition())
assert failed_update.state == "FAILED" and "positive_amount" in failed_update.error
"""),
    md("""
**Detect → Review Pipeline Events.** An update that failed has `state = 'FAILED'` in
`system.lakeflow.pipeline_updates`, and its error events have `level = 'ERROR'` in `pipeline_events`. The drill
joins the two for the latest update of its pipeline:
"""),
    code("""
from lakehouse_lab.observability.drills.pipeline_drills import LATEST_ERRORS
print(LATEST_ERRORS)
errors = expectation.detect()
errors.select("state", "event_type", "flow_name", "message").show(truncate=False)
assert {r.event_type for r in errors.collect()} == {"flow_progress", "update_progress"}
"""),
    md("""
**Diagnose → Check Data Quality Rules.** The failed `flow_progress` event names the rule in
`details.flow_progress.failed_expectation`; the `flow_definition` event of the same update holds the rule's
condition. With the condition we count the violating source rows.
"""),
    code("""
diagnosis = expectation.diagnose()
diagnosis
"""),
    code("""
assert diagnosis["expectation"] == "positive_amount" and diagnosis["action"] == "fail"
assert diagnosis["violating_rows"] == 3
"""),
    md("""
**Resolution.** Refunds are real data, but not silver data: drop them from silver and keep them in a quarantine
table (`pipelines.quarantine`) instead of failing the update. **Monitor & Validate**: a new update must complete,
silver must hold no non-positive amounts, and the quarantine table must hold the three refunds.
"""),
    code("""
expectation.fix()
print(expectation.definition())
verdict = expectation.verify()
verdict
"""),
    code("""
assert verdict and verdict.evidence["bad_rows_in_silver"] == 0 and verdict.evidence["quarantined"] == 3
expectation
"""),
    md("""
### The guide's `debug_dlt_pipeline_failures`, as written

The guide builds its queries with f-strings. Run it once as written, on the id of the pipeline that just failed:
"""),
    code('''
def debug_dlt_pipeline_failures(pipeline_id):
    """Debug common DLT pipeline issues"""

    # Get recent pipeline events
    pipeline_events = spark.sql(f"""
        SELECT event_type, message, timestamp, details
        FROM system.lakeflow.pipeline_events
        WHERE pipeline_id = '{pipeline_id}'
        AND timestamp >= current_timestamp() - INTERVAL 24 HOURS
        ORDER BY timestamp DESC
        LIMIT 100
    """)

    # Analyze error patterns
    error_summary = spark.sql(f"""
        SELECT
            event_type,
            COUNT(*) as error_count,
            COLLECT_LIST(message) as error_messages
        FROM system.lakeflow.pipeline_events
        WHERE pipeline_id = '{pipeline_id}'
        AND event_type LIKE '%ERROR%'
        AND timestamp >= current_timestamp() - INTERVAL 24 HOURS
        GROUP BY event_type
        ORDER BY error_count DESC
    """)

    return pipeline_events, error_summary

pipeline_events, error_summary = debug_dlt_pipeline_failures(failed_update.pipeline_id)
print(pipeline_events.count(), "events;", error_summary.count(), "error groups")
assert pipeline_events.count() > 0 and error_summary.count() == 0
'''),
    md("""
The events are there, but the error summary is **empty**. Event types are lower-case names of what happened
(`create_update`, `update_progress`, `flow_definition`, `flow_progress`); an error is an event whose **`level`**
is `'ERROR'`. The parameterised form filters on the level, and passes the id as a parameter: the value never
becomes SQL text.
"""),
    code("""
ERROR_SUMMARY = '''
    SELECT event_type, COUNT(*) AS error_count, COLLECT_LIST(message) AS error_messages
    FROM system.lakeflow.pipeline_events
    WHERE pipeline_id = :pipeline_id AND level = 'ERROR'
      AND timestamp >= current_timestamp() - INTERVAL 24 HOURS
    GROUP BY event_type ORDER BY error_count DESC'''
error_summary = spark.sql(ERROR_SUMMARY, args={"pipeline_id": failed_update.pipeline_id})
error_summary.show(truncate=70)
assert {r.event_type for r in error_summary.collect()} == {"flow_progress", "update_progress"}
"""),
    md("""
## 2. DLT failure: a schema change upstream

An upstream job rewrites the source with a new schema: `amount` is now `order_amount`. The pipeline's definition
still selects `amount`, so the next update fails with Spark's unresolved-column error.
"""),
    code("""
schema_change = drills.drill("schema_change")
failed = schema_change.inject()
errors = schema_change.detect()
print(errors.where("event_type = 'flow_progress'").first().error[:400])
assert failed.state == "FAILED" and "UNRESOLVED_COLUMN" in failed.error
"""),
    md("""
**Diagnose.** The error names the missing column. The source's Delta history says when its schema changed and
how (an overwrite with `overwriteSchema`); comparing the schema before and after that version (time travel)
shows the rename.
"""),
    code("""
diagnosis = schema_change.diagnose()
diagnosis
"""),
    code("""
assert diagnosis["missing_column"] == "amount"
assert diagnosis["removed_columns"] == ["amount"] and diagnosis["added_columns"] == ["order_amount"]
"""),
    md("**Resolution.** Read the new column and keep the name downstream tables use (`order_amount AS amount`)."),
    code("""
schema_change.fix()
print(schema_change.definition())
verdict = schema_change.verify()
assert verdict and "amount" in verdict.evidence["columns"], verdict
verdict
"""),
    md("""
## 3. Job failure: a failing task and its dependents

The job `drill_failing_task` extracts orders, converts them to USD with a reference table, and publishes a
report; an audit task also counts the orders. The reference table is missing.
"""),
    code("""
failing = drills.drill("failing_task")
run = failing.inject()
run.graph()
"""),
    code("""
assert run.result_state == "FAILED"
assert run.tasks["convert_currency"].state == "FAILED" and run.tasks["publish_report"].state == "UPSTREAM_FAILED"
"""),
    md("""
**Detect → Analyze Error Logs.** `job_task_run_timeline` has one row per task attempt. A task that failed on its
own ends `FAILED` with an error message; a task that never ran because an upstream task failed is `SKIPPED`
with `termination_code = 'SKIPPED'` (the Jobs API's `UPSTREAM_FAILED` state shows in `run.tasks`, not here).
"""),
    code("""
detected = failing.detect()
detected.select("task_key", "result_state", "termination_code").show()
assert detected.where("result_state = 'SKIPPED' AND termination_code = 'SKIPPED'").count() == 1
"""),
    md("""
**Diagnose → Review Task Dependencies.** The root cause is the failed task; the tasks below it in the job's
dependencies (from the settings recorded in `job_runs`) are blocked, not broken.
"""),
    code("""
diagnosis = failing.diagnose()
diagnosis
"""),
    code("""
assert diagnosis["root_task"] == "convert_currency" and diagnosis["blocked_tasks"] == ["publish_report"]
assert diagnosis["missing_table"] == failing.table("usd_rates")
"""),
    md("""
### The guide's `troubleshoot_job_failures`, as written
"""),
    code('''
def troubleshoot_job_failures(job_name, hours_back=24):
    """Analyze job failure patterns and root causes"""

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

    return failure_analysis

failures = troubleshoot_job_failures("drill_failing_task")
failures.select("run_id", "result_state").show()
assert run.run_id in [r.run_id for r in failures.collect()]
'''),
    md("""
It finds the failed run. But `job_runs.result_state` holds Jobs API values: a run that timed out is
**`TIMEDOUT`** and a cancelled one **`CANCELED`**, so `IN ('FAILED', 'TIMEOUT', 'CANCELLED')` misses both. (On
Databricks, whose system tables spell them `TIMED_OUT` and `CANCELLED`, the filter belongs on
`system.lakeflow.job_run_timeline`; `job_runs` is the guide's table.) A job whose only task runs past its timeout:
"""),
    code("""
from lakehouse_lab.observability.drills.job_drills import timeout_run

timed_out = timeout_run("nb07_timeout_job")
print(timed_out.result_state)
assert timed_out.result_state == "TIMEDOUT"
assert troubleshoot_job_failures("nb07_timeout_job").count() == 0      # the guide's query misses it
"""),
    md("""
The parameterised form lists the right states and passes the job name and the window as parameters. Why it
matters: with an f-string, a name such as `x' OR '1'='1` becomes SQL and returns the failures of **every** job;
as a parameter it is just a name that matches nothing.
"""),
    code("""
JOB_FAILURES = '''
    SELECT run_id, start_time, end_time, result_state, error_message
    FROM system.lakeflow.job_runs
    WHERE job_name = :job_name
      AND start_time >= current_timestamp() - make_dt_interval(0, :hours_back)
      AND result_state IN ('FAILED', 'TIMEDOUT', 'CANCELED', 'INTERNAL_ERROR')
    ORDER BY start_time DESC'''

def job_failures(job_name, hours_back=24):
    return spark.sql(JOB_FAILURES, args={"job_name": job_name, "hours_back": hours_back})

assert [r.result_state for r in job_failures("nb07_timeout_job").collect()][0] == "TIMEDOUT"
injected = "x' OR '1'='1"
print(troubleshoot_job_failures(injected).count(), "rows from the f-string;", job_failures(injected).count(), "as a parameter")
assert troubleshoot_job_failures(injected).count() > 0 and job_failures(injected).count() == 0
"""),
    md("""
**Resolution.** Create the reference table, then **repair** the run: only the failed task and the tasks after it
run again, inside the same run (`repair_count` goes up).
"""),
    code("""
failing.fix()
verdict = failing.verify()
assert verdict and verdict.evidence["run_id"] == run.run_id, verdict
verdict
"""),
    md("""
## 4. Performance: a slow task

`drill_slow_task` prepares 200,000 orders, then three sibling tasks read them. `weekly_orders` parses each
timestamp in a Python UDF, one row at a time.
"""),
    code("""
slow = drills.drill("slow_task")
slow_run = slow.inject()
durations = slow.detect()
durations.show()
assert durations.first().task_key == "weekly_orders"
"""),
    md("""
**Diagnose → Check Resource Usage.** The task's plan has a `BatchEvalPython` node: every row is serialised to a
Python worker and back. On two cores that costs far more than the work itself. Built-in functions
(`to_timestamp`, `weekofyear`) run inside the JVM, in generated code.
"""),
    code("""
diagnosis = slow.diagnose()
diagnosis
"""),
    code("""
assert diagnosis["slow_task"] == "weekly_orders" and diagnosis["python_udf_in_plan"]
"""),
    md("""
**Resolution and validation.** Swap the UDF for built-in functions and run the job again: the plan must no longer
have a Python evaluation node, the task must return the same result, and it must be faster. How much faster
depends on the machine — about 2–4× on two busy cores; `verdict.evidence` shows the figures of this run.
"""),
    code("""
slow.fix()
verdict = slow.verify()
assert verdict and verdict.evidence["same_result"] and not verdict.evidence["python_udf_in_plan"], verdict
verdict
"""),
    md("""
## 5. Lineage missing

`missing_lineage_daily_totals` is computed from `missing_lineage_orders` and refreshed with
`df.write.format("delta").save(path)`, then registered with `CREATE TABLE … LOCATION`. The table exists and has
data — but lineage is captured from executed plans, and that write's plan names a path, not the table: the
lineage row names the path (`target_path`), as on Databricks, and the table shows no upstream.
"""),
    code("""
missing = drills.drill("missing_lineage")
missing.inject()
upstream = missing.detect()
assert upstream.count() == 0
"""),
    md("""
**Diagnose → Check Unity Catalog Registration → Verify Table Operations.** The table is registered (an
`EXTERNAL` table on the drill's folder) and its Delta history shows the writes, yet no lineage row targets it.
"""),
    code("""
diagnosis = missing.diagnose()
diagnosis
"""),
    code("""
assert diagnosis["type"] == "EXTERNAL" and diagnosis["writes_in_history"] >= 2 and diagnosis["lineage_rows"] == 0
assert diagnosis["lineage_rows_for_the_path"] >= 1       # recorded, but for the folder, not the table
"""),
    md("**Resolution.** Write through the table name (`writeTo(...).overwrite`, `saveAsTable`, `INSERT INTO`)."),
    code("""
missing.fix()
verdict = missing.verify()
assert verdict and verdict.evidence["upstream"] == [missing.table("orders")], verdict
missing
"""),
    md("""
## Exercises

Use the system tables, with parameterised queries.

**Exercise 1.** `ex.failing_run()` runs a five-task job with a bad parameter. Which task is the root cause of
its failure? Set `root_task` to its `task_key`.
"""),
    code("""
from lakehouse_lab.exercises import nb07 as ex

run = ex.failing_run()
root_task = spark.sql('''SELECT task_key FROM system.lakeflow.job_task_run_timeline
    WHERE job_run_id = :run_id AND result_state = 'FAILED' ''', args={"run_id": run.run_id}).first().task_key
outcome = ex.q1.check()
assert outcome, outcome
outcome
"""),
    code("""
# ex.q1.hint()
# ex.q1.solution()
"""),
    md("""
**Exercise 2.** `ex.broken_update()` runs a pipeline with three `FAIL UPDATE` expectations. Which one failed?
Set `failed_rule` to its name.
"""),
    code("""
update = ex.broken_update()
failed_rule = spark.sql('''SELECT details:flow_progress.failed_expectation AS rule
    FROM system.lakeflow.pipeline_events
    WHERE update_id = :update AND level = 'ERROR' AND event_type = 'flow_progress' ''',
    args={"update": update.update_id}).first().rule
outcome = ex.q2.check()
assert outcome, outcome
outcome
"""),
    code("""
# ex.q2.hint()
# ex.q2.solution()
"""),
]


def main() -> None:
    nb = new_notebook(cells=CELLS, metadata={"kernelspec": {"display_name": "Python 3", "language": "python",
                                                            "name": "python3"}})
    nbformat.validate(nb)
    OUT.write_text(nbformat.writes(nb))
    print(f"wrote {OUT} ({len(CELLS)} cells)")


if __name__ == "__main__":
    main()
