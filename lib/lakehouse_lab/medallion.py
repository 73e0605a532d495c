"""The main job behind ``lakehouse-lab run``: ingest → declarative pipeline → quality validation → notification.

It is an ordinary multi-task job (Databricks Jobs semantics, :mod:`lakehouse_lab.jobs`): the first task lands
and ingests generated orders into ``bronze.raw_orders``, the second runs the course pipeline
(``notebooks/pipelines/orders``: the guide's bronze → silver → gold SQL, unchanged), the third checks the update
and the tables, and the job's e-mail notifications go through SMTP to the lab's local inbox.

>>> job = course_job(orders=1000, batches=1)
>>> [t.task_key for t in job.tasks]
['ingest_raw_data', 'orders_pipeline', 'quality_validation']
"""
from __future__ import annotations

import html
import time
from dataclasses import dataclass, field

from . import datagen, paths
from .catalog import quote

PIPELINE_FOLDER = ("notebooks", "pipelines", "orders")
PIPELINE_TABLES = ("bronze_orders", "silver_orders", "gold_customer_metrics")


def pipeline_path() -> str:
    return str(paths.project_root().joinpath(*PIPELINE_FOLDER))


def ingest_raw_data(orders: int = 20_000, batches: int = 2) -> str:
    """Task 1: land the generated batches (once) and append new files to the bronze tables."""
    import lakehouse_lab as lab

    added = datagen.prepare_sources(lab.start(lab.current_env()), orders=orders, batches=batches)
    lab.dbutils.dbutils.jobs.taskValues.set("new_orders", added[datagen.bronze_table("orders")])
    return f"new rows: {added}"


def quality_validation(max_drop_rate: float = 0.10) -> str:
    """Task 3: the pipeline's tables exist and are filled, and expectations dropped at most ``max_drop_rate``."""
    import lakehouse_lab as lab

    spark = lab.start(lab.current_env())
    counts = {name: spark.table(lab.table(name)).count() for name in PIPELINE_TABLES}
    empty = [name for name, rows in counts.items() if rows == 0]
    if empty:
        raise AssertionError(f"empty tables after the pipeline: {', '.join(empty)}")
    dropped = counts["bronze_orders"] - counts["silver_orders"]
    rate = dropped / counts["bronze_orders"]
    if rate > max_drop_rate:
        raise AssertionError(f"silver_orders dropped {rate:.1%} of bronze rows (limit {max_drop_rate:.0%})")
    lab.dbutils.dbutils.jobs.taskValues.set("drop_rate", round(rate, 4))
    return f"rows {counts}; {rate:.2%} of bronze rows dropped by expectations"


def course_job(orders: int = 20_000, batches: int = 2, notify: str = "data-team@lakehouse.lab"):
    """The job's settings, as they would be sent to the Jobs API (plus the lab's Python-callable tasks)."""
    from .jobs import load_job

    return load_job({
        "name": "lakehouse_lab_main_job",
        "email_notifications": {"on_failure": [notify], "on_success": [notify]},
        "timeout_seconds": 3600,
        "max_concurrent_runs": 1,
        "tasks": [
            {"task_key": "ingest_raw_data",
             "python_task": {"function": "lakehouse_lab.medallion:ingest_raw_data",
                             "kwargs": {"orders": orders, "batches": batches}}},
            {"task_key": "orders_pipeline", "depends_on": [{"task_key": "ingest_raw_data"}],
             "pipeline_task": {"pipeline_id": pipeline_path()}},
            {"task_key": "quality_validation", "depends_on": [{"task_key": "orders_pipeline"}],
             "python_task": {"function": "lakehouse_lab.medallion:quality_validation"}},
        ],
    })


@dataclass
class Summary:
    """What a run built: job result, then table, rows, location; HTML in notebooks, text in the shell."""
    env: str
    seconds: float          # the job run itself
    run_id: int
    result_state: str
    error: str | None
    mails: int
    tables: list[dict] = field(default_factory=list)
    total_seconds: float = 0.0  # with the session start and this summary

    def to_text(self) -> str:
        lines = [f"Job run {self.run_id}: {self.result_state} in {self.seconds:.1f} s (environment: {self.env}; "
                 f"{self.total_seconds:.1f} s in all, with the Spark start and this summary)"]
        if self.error:
            lines.append(f"  error: {self.error}")
        lines.append(f"  notifications delivered to the local inbox: {self.mails}")
        if self.tables:
            width = max(len(t["table"]) for t in self.tables)
            lines += [""] + [f"  {t['table']:<{width}}  {t['rows']:>9,} rows  {t['location']}" for t in self.tables]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{html.escape(t['table'])}</td><td style='text-align:right'>{t['rows']:,}</td>"
                       f"<td><code>{html.escape(t['location'])}</code></td></tr>" for t in self.tables)
        return (f"<p>Job run {self.run_id}: <b>{html.escape(self.result_state)}</b> in {self.seconds:.1f} s "
                f"({html.escape(self.env)})</p><table><tr><th>table</th><th>rows</th><th>location</th></tr>"
                f"{rows}</table>")


def describe(spark, tables: list[str]) -> list[dict]:
    """Rows and storage location of each table that exists."""
    info = []
    for name in tables:
        if spark.catalog.tableExists(name):
            location = spark.sql(f"DESCRIBE DETAIL {quote(name)}").select("location").first().location
            info.append({"table": name, "rows": spark.table(name).count(), "location": location})
    return info


def run(env: str = "dev", orders: int = 20_000, batches: int = 2) -> Summary:
    """Run the main job in ``env`` and summarise the tables it built."""
    import lakehouse_lab as lab
    from . import notify
    from .jobs import run_job

    started = time.perf_counter()
    spark = lab.start(env)
    inbox = notify.local_inbox()
    before = len(inbox.inbox)
    job_run = run_job(course_job(orders, batches), env=env, progress=False)
    tables = [datagen.bronze_table(s, env) for s in ("orders", "customers", "products")]
    tables += [lab.table(name, env=env) for name in PIPELINE_TABLES]
    return Summary(env, job_run.duration_seconds, job_run.run_id, job_run.result_state, job_run.error_message,
                   len(inbox.wait_for(before + 1, timeout=10)) - before, describe(spark, tables),
                   total_seconds=time.perf_counter() - started)  # evaluated last: after the summary's queries
