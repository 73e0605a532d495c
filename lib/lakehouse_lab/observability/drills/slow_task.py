"""Performance drill: a row-by-row Python UDF makes one task of a job many times slower than its siblings.

Detect the slow task from the durations in ``system.lakeflow.job_task_run_timeline``, diagnose it from the
query plan (``BatchEvalPython``: rows are shipped to Python workers and back), fix it with built-in
functions, and verify the UDF left the plan, the result is the same and the task got faster.

>>> weekly_orders_builtin.__doc__.split(":")[0]
'The fix'
"""
from __future__ import annotations

import re
import statistics

from .base import Drill, Verdict
from .job_drills import _spark, latest_run, task_states

SLOW_ROWS = 200_000


def prepare_orders(target: str, rows: int = SLOW_ROWS) -> int:
    """Orders with their time as text (``yyyy-MM-dd HH:mm:ss``), as a raw feed delivers them."""
    df = _spark().range(int(rows)).selectExpr(
        "id AS order_id", "CAST(5 + id % 40 AS DOUBLE) AS amount",
        "CAST(timestamp'2024-01-01 00:00:00' + make_interval(0, 0, 0, 0, 0, 0, id * 97 % 31536000) AS STRING) AS ordered_at")
    df.write.mode("overwrite").saveAsTable(target)
    return int(rows)


def weekly_query(source: str, python_udf: bool):
    """Sum of ISO week numbers of the orders: with a row-by-row Python UDF, or with built-in functions."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import IntegerType

    def iso_week(text):  # nested: pickled by value, so Python workers need not import this package
        import datetime as dt

        return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").isocalendar()[1]

    week = F.udf(iso_week, IntegerType())("ordered_at") if python_udf else F.weekofyear(F.to_timestamp("ordered_at"))
    return _spark().table(source).select(week.alias("week")).agg(F.sum("week").alias("week_sum"))


def weekly_orders_udf(source: str) -> int:
    """The slow version: parses every timestamp in Python, one row at a time."""
    return weekly_query(source, python_udf=True).first().week_sum


def weekly_orders_builtin(source: str) -> int:
    """The fix: the same result with Spark's built-in ``to_timestamp`` and ``weekofyear``."""
    return weekly_query(source, python_udf=False).first().week_sum


def total_amount(source: str) -> float:
    return _spark().table(source).selectExpr("sum(amount)").first()[0]


def order_count(source: str) -> int:
    return _spark().table(source).count()


PLAN_OPERATOR = re.compile(r"^[\s:+\-*()0-9]*([A-Z][A-Za-z]+)", re.M)


class SlowTask(Drill):
    """Job ``prepare_orders`` → {``weekly_orders``, ``total_amount``, ``order_count``}; ``weekly_orders``
    parses timestamps in a Python UDF. ``min_speedup``: how much faster the fixed task must be (default:
    faster at all; the plan check is what proves the cause is gone)."""

    name = "slow_task"
    title = "Slow task: a row-by-row Python UDF"
    issue_type = "Performance"
    lesson = "A Python UDF ships every row to a Python worker and back; built-in functions stay in the JVM."

    def __init__(self, schema: str = "drills", rows: int = SLOW_ROWS, min_speedup: float = 1.0):
        super().__init__(schema)
        self.rows, self.min_speedup, self.fixed = int(rows), float(min_speedup), False

    @property
    def job_name(self) -> str:
        return f"drill_{self.name}"

    def job(self) -> dict:
        """The job; ``weekly_orders`` runs the UDF version until :meth:`fix`."""
        src = self.table("orders")
        weekly = weekly_orders_builtin if self.fixed else weekly_orders_udf

        def task(key, fn, **kwargs):
            after = [] if key == "prepare_orders" else [{"task_key": "prepare_orders"}]
            return {"task_key": key, "depends_on": after, "python_task": {"function": fn, "kwargs": kwargs}}
        # one task at a time: each task's duration is its own work, not a share of two busy cores
        return {"name": self.job_name, "max_workers": 1, "tasks": [
            task("prepare_orders", prepare_orders, target=src, rows=self.rows),
            task("weekly_orders", weekly, source=src), task("total_amount", total_amount, source=src),
            task("order_count", order_count, source=src)]}

    def _run(self):
        from ...jobs import run_job

        run = run_job(self.job(), progress=False)
        if run.result_state != "SUCCESS":
            raise RuntimeError(f"drill {self.name!r}: run {run.run_id} ended {run.result_state}: {run.error_message}")
        return run

    def _inject(self):
        from pyspark.sql import functions as F
        from pyspark.sql.types import IntegerType

        # Start the Python workers first, so the slow task's time is the UDF's own cost, not the workers' start.
        _spark().range(1).select(F.udf(lambda x: x, IntegerType())(F.lit(1))).collect()
        self.slow_run = self._run()
        return self.slow_run

    def durations(self, run_id: int) -> dict[str, float]:
        """Seconds per task of a run, from the timeline."""
        return {r.task_key: float(r.seconds) for r in task_states(run_id).collect()}

    def _detect(self):
        """The three sibling tasks that read the same orders, slowest first (``prepare_orders`` writes them)."""
        run = latest_run(self.job_name)
        return (task_states(run.run_id).where("task_key <> 'prepare_orders'")
                .select("task_key", "result_state", "seconds").orderBy("seconds", ascending=False))

    def _diagnose(self) -> dict:
        import json

        run = latest_run(self.job_name)
        seconds = self.durations(run.run_id)
        siblings = [k for k in seconds if k != "prepare_orders"]
        slow = max(siblings, key=seconds.get)
        rest = statistics.median(seconds[k] for k in siblings if k != slow)
        task = next(t for t in json.loads(run.settings)["tasks"] if t["task_key"] == slow)
        function = task["python_task"]["function"]
        plan = weekly_query(self.table("orders"), python_udf=function.endswith("_udf"))
        text = plan._jdf.queryExecution().executedPlan().toString()
        return {"run_id": run.run_id, "slow_task": slow, "seconds": round(seconds[slow], 2),
                "siblings_median_s": round(rest, 2), "times_slower": round(seconds[slow] / max(rest, 1e-3), 1),
                "function": function, "python_udf_in_plan": "BatchEvalPython" in text or "ArrowEvalPython" in text,
                "plan_operators": list(dict.fromkeys(PLAN_OPERATOR.findall(text))),
                "cores": self.spark.sparkContext.defaultParallelism}

    def _fix(self):
        self.fixed = True
        return {"task": "weekly_orders", "function": f"{__name__}.weekly_orders_builtin"}

    def _against_siblings(self, run_id: int) -> tuple[float, float]:
        """(seconds of weekly_orders, median seconds of its two siblings) in one run."""
        seconds = self.durations(run_id)
        return seconds["weekly_orders"], statistics.median([seconds["total_amount"], seconds["order_count"]])

    def _verify(self) -> Verdict:
        # The cause must be gone from the plan, the answer unchanged, and the task faster than the slow run.
        # How much faster depends on the machine (about 2-4x on two busy cores), so the margin is only printed.
        before, siblings_before = self._against_siblings(self.slow_run.run_id)
        run = self._run()
        after, siblings_after = self._against_siblings(run.run_id)
        speedup = before / max(after, 1e-3)
        relative = (before / max(siblings_before, 1e-3)) / max(after / max(siblings_after, 1e-3), 1e-3)
        same = run.tasks["weekly_orders"].output == self.slow_run.tasks["weekly_orders"].output
        plan = weekly_query(self.table("orders"), python_udf=not self.fixed)._jdf.queryExecution().executedPlan()
        udf_left = "EvalPython" in plan.toString()
        evidence = {"run_id": run.run_id, "before_s": round(before, 2), "after_s": round(after, 2),
                    "speedup": round(speedup, 1), "speedup_vs_siblings": round(relative, 1), "same_result": same,
                    "python_udf_in_plan": udf_left}
        ok = same and not udf_left and speedup >= self.min_speedup
        return Verdict(ok, f"weekly_orders {before:.1f}s -> {after:.1f}s ({speedup:.1f}x; "
                           f"{relative:.1f}x relative to its siblings); Python UDF in the plan: {udf_left}", evidence)
