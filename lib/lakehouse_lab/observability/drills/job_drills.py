"""Job drill: a failing task that blocks its dependents; helpers that read a run from the system tables.

The tasks are Python callables run by the lab's job runner on the shared Spark session; evidence comes from
``system.lakeflow.job_runs`` and ``system.lakeflow.job_task_run_timeline``.

>>> root_cause_tasks.__doc__.split(".")[0]
'Tasks of run ``run_id`` that failed on their own (not ``UPSTREAM_FAILED``), with their last error'
"""
from __future__ import annotations

import json
import re

from .base import Drill, Verdict

LATEST_RUN = """SELECT run_id, result_state, error_message, repair_count, settings FROM system.lakeflow.job_runs
WHERE job_name = :job ORDER BY start_time DESC LIMIT 1"""

TASKS_OF_RUN = """
SELECT task_key,
       max_by(result_state, period_end_time) AS result_state,
       max_by(termination_code, period_end_time) AS termination_code,
       max_by(error_message, period_end_time) AS error_message,
       max_by(CAST((unix_millis(period_end_time) - unix_millis(period_start_time)) / 1000.0 AS DOUBLE),
              period_end_time) AS seconds
FROM system.lakeflow.job_task_run_timeline WHERE job_run_id = :run_id
GROUP BY task_key ORDER BY task_key"""


def _spark():
    import lakehouse_lab as lab

    return lab.start()


def task_states(run_id: int):
    """Each task's latest state, error and duration in run ``run_id`` (a DataFrame from the timeline)."""
    from ...jobs import history

    history.flush()
    return _spark().sql(TASKS_OF_RUN, args={"run_id": int(run_id)})


def root_cause_tasks(run_id: int) -> dict[str, str]:
    """Tasks of run ``run_id`` that failed on their own (not ``UPSTREAM_FAILED``), with their last error.

    In the timeline a task blocked by a failed upstream task never ran: ``SKIPPED`` / ``SKIPPED``; the root
    cause is the task whose own attempt ended ``FAILED``, ``TIMED_OUT`` or ``ERROR``."""
    rows = task_states(run_id).where("result_state IN ('FAILED', 'TIMED_OUT', 'ERROR')").collect()
    return {r.task_key: r.error_message for r in rows}


def latest_run(job_name: str):
    """The newest row of ``system.lakeflow.job_runs`` for ``job_name`` (or None)."""
    from ...jobs import history

    history.flush()
    return _spark().sql(LATEST_RUN, args={"job": job_name}).first()


def _dependents(settings: str) -> dict[str, list[str]]:
    below: dict[str, list[str]] = {}
    for task in json.loads(settings)["tasks"]:
        below.setdefault(task["task_key"], [])
        for dep in task.get("depends_on") or []:
            below.setdefault(dep["task_key"], []).append(task["task_key"])
    return below


# -- the failing job's tasks ---------------------------------------------------------------------------
def extract_orders(target: str) -> int:
    """Write a small orders table (200 rows, amounts in three currencies)."""
    df = _spark().range(200).selectExpr("concat('O', id) AS order_id", "CAST(5 + id % 40 AS DOUBLE) AS amount",
                                        "element_at(array('EUR', 'GBP', 'USD'), CAST(id % 3 AS INT) + 1) AS currency")
    df.write.mode("overwrite").saveAsTable(target)
    return 200


def convert_currency(orders: str, rates: str, target: str) -> int:
    """Convert amounts to USD with the reference table ``rates`` (currency, usd_rate)."""
    spark = _spark()
    converted = (spark.table(orders).join(spark.table(rates), "currency")
                 .selectExpr("order_id", "round(amount * usd_rate, 2) AS amount_usd"))
    converted.write.mode("overwrite").saveAsTable(target)
    return spark.table(target).count()


def publish_report(source: str) -> str:
    """The total in USD (what the report would publish)."""
    return str(_spark().table(source).selectExpr("round(sum(amount_usd), 2)").first()[0])


def audit_counts(source: str) -> int:
    """Count the extracted orders (independent of the conversion)."""
    return _spark().table(source).count()


class FailingTask(Drill):
    """``convert_currency`` reads a reference table that is missing: it fails, ``publish_report`` is blocked."""

    name = "failing_task"
    title = "Failing task: a missing reference table blocks the tasks after it"
    issue_type = "Job Failure"
    lesson = "One failing task fails the run; its dependents are UPSTREAM_FAILED, not broken themselves."

    @property
    def job_name(self) -> str:
        return f"drill_{self.name}"

    def job(self) -> dict:
        """The job (Jobs API dict) with Python callables as tasks."""
        orders, rates, usd = self.table("orders"), self.table("usd_rates"), self.table("orders_usd")

        def task(key, fn, after=(), **kwargs):
            return {"task_key": key, "depends_on": [{"task_key": k} for k in after],
                    "python_task": {"function": fn, "kwargs": kwargs}}
        return {"name": self.job_name, "tasks": [
            task("extract_orders", extract_orders, target=orders),
            task("convert_currency", convert_currency, ["extract_orders"], orders=orders, rates=rates, target=usd),
            task("publish_report", publish_report, ["convert_currency"], source=usd),
            task("audit_counts", audit_counts, ["extract_orders"], source=orders)]}

    def _inject(self):
        from ...jobs import run_job

        self.sql("DROP TABLE IF EXISTS IDENTIFIER(:t)", t=self.table("usd_rates"))  # the fault
        self.failed = run_job(self.job(), progress=False)
        return self.failed

    def _detect(self):
        return task_states(self.failed.run_id).select("task_key", "result_state", "termination_code",
                                                      "error_message")

    def _diagnose(self) -> dict:
        run = latest_run(self.job_name)
        roots = root_cause_tasks(run.run_id)
        below = _dependents(run.settings)
        blocked, stack = [], list(roots)
        while stack:
            for child in below[stack.pop()]:
                if child not in blocked:
                    blocked.append(child)
                    stack.append(child)
        root = next(iter(roots), None)
        missing = re.search(r"TABLE_OR_VIEW_NOT_FOUND\].*?`?([\w`.]+)`? cannot be found", roots.get(root) or "", re.S)
        return {"run_id": run.run_id, "result_state": run.result_state, "root_task": root,
                "error": (roots.get(root) or "").splitlines()[0][:300] if root else None,
                "missing_table": missing.group(1).replace("`", "") if missing else None,
                "blocked_tasks": sorted(blocked)}

    def _fix(self):
        self.sql("CREATE OR REPLACE TABLE IDENTIFIER(:t) (currency STRING, usd_rate DOUBLE)", t=self.table("usd_rates"))
        self.sql("INSERT INTO IDENTIFIER(:t) VALUES ('EUR', 1.08), ('GBP', 1.27), ('USD', 1.0)", t=self.table("usd_rates"))
        return {"created": self.table("usd_rates")}

    def _verify(self) -> Verdict:
        from ...jobs import repair_run

        run = repair_run(self.failed.run_id)
        row = latest_run(self.job_name)
        evidence = {"run_id": run.run_id, "result_state": run.result_state, "repair_count": run.repair_count,
                    "job_runs.result_state": row.result_state, "job_runs.repair_count": row.repair_count,
                    "tasks": {k: t.state for k, t in run.tasks.items()}}
        ok = (row.run_id == self.failed.run_id and row.result_state == "SUCCESS" and row.repair_count >= 1)
        return Verdict(ok, f"run {run.run_id} after repair #{run.repair_count}: {row.result_state}", evidence)


def sleep_task(seconds: float) -> str:
    """A task that waits ``seconds`` (for a source that never arrives)."""
    import time

    time.sleep(float(seconds))
    return f"waited {seconds} s"


def timeout_run(job_name: str, timeout_seconds: int = 1):
    """Run a one-task job that outlives its ``timeout_seconds``: the run ends ``TIMEDOUT``."""
    from ...jobs import run_job

    return run_job({"name": job_name, "timeout_seconds": timeout_seconds, "tasks": [
        {"task_key": "wait_for_source", "python_task": {"function": sleep_task,
                                                         "kwargs": {"seconds": timeout_seconds + 2}}}]},
                   progress=False)

