"""Repair: rerun the failed tasks of a finished run (and, by default, the tasks after them) inside the same
run, as Databricks' "Repair run" does. A run of another process is rebuilt from ``system.lakeflow``.

>>> from lakehouse_lab.jobs import repair_run
>>> repair_run.__module__
'lakehouse_lab.jobs.repair'
"""
from __future__ import annotations

import graphlib
import json
import threading
from datetime import timezone

from . import history
from .recorder import Recorder
from .runner import _RUNS, FAILED_LIKE, JobRun, TaskRun, _execute, _spark, _take_slot, decide, waited
from .spec import JobSpecError, load_job


def repair_run(run_id: int, rerun_dependents: bool = True, rerun_tasks: list[str] | None = None,
               wait: bool = True, env: str | None = None) -> JobRun:
    """Rerun the failed tasks of a finished run (and, by default, the tasks after them) in the same run.

    A run of this process is repaired in its own environment; one rebuilt from history in ``env`` (default:
    the current environment), since ``system.lakeflow.job_runs`` does not say where a run ran."""
    import lakehouse_lab as lab

    previous = lab.current_env()
    run = _RUNS.get(run_id) or _load_run(run_id, env)
    if run.state == "RUNNING":
        raise ValueError(f"run {run_id} of {run.job.name!r} is still running; repair it once it has finished")
    failed = set(rerun_tasks or [k for k, t in run.tasks.items() if t.state in FAILED_LIKE - {"UPSTREAM_FAILED"}])
    unknown = failed - set(run.tasks)
    if unknown:
        raise JobSpecError(f"job {run.job.name!r}, run {run_id}: no task {sorted(unknown)[0]!r} to repair")
    rerun = set(failed)
    if rerun_dependents:
        below = run.job.dependents()
        stack = list(failed)
        while stack:
            for child in below[stack.pop()]:
                if child not in rerun:
                    rerun.add(child)
                    stack.append(child)
    else:
        rerun |= {k for k, t in run.tasks.items() if t.state == "UPSTREAM_FAILED"}
    spark = _spark(run.env)
    slot = _take_slot(run.job)
    if slot is None:
        raise ValueError(f"job {run.job.name!r} is at max_concurrent_runs; repair run {run_id} later")
    run.repair_count += 1
    run.state, run.result_state, run.end_time, run.error_message = "RUNNING", None, None, None
    rec = run._recorder = Recorder(run, spark)
    run._thread = threading.Thread(target=_execute, args=(run, spark, rec, slot, rerun, None), daemon=True)
    run._thread.start()
    return waited(run, wait, previous)


def _load_run(run_id: int, env: str | None = None) -> JobRun:
    """Rebuild a finished run from history (for ``job repair`` in a new process), to be repaired in ``env``."""
    import lakehouse_lab as lab

    spark = lab.start(env)
    history.flush()
    history.ensure_tables(spark)  # a lab that never ran a job: "no finished job run", not a missing table
    from pyspark.sql import functions as F

    row = spark.table(history.TABLES["job_runs"]).where(F.col("run_id") == F.lit(run_id)).first()
    if row is None:
        raise ValueError(f"no finished job run {run_id} in {history.TABLES['job_runs']}")
    job = load_job(json.loads(row.settings))
    latest = (spark.table(history.TABLES["job_task_run_timeline"]).where(F.col("job_run_id") == F.lit(run_id))
              .groupBy("task_key").agg(F.max_by("termination_code", "period_end_time").alias("code"),
                                       F.max_by("result_state", "period_end_time").alias("s")).collect())
    states = _task_states(job, {r.task_key: history.api_state(r.s, r.code) for r in latest})
    run = JobRun(job, run_id, lab.current_env(), dict(row.job_parameters or {}),
                 {t.task_key: TaskRun(t.task_key, states[t.task_key]) for t in job.tasks},
                 start_time=row.start_time.replace(tzinfo=timezone.utc), state="TERMINATED", result_state=row.result_state,
                 repair_count=row.repair_count or 0)
    _RUNS[run_id] = run
    return run




def _task_states(job, recorded: dict) -> dict[str, str]:
    """Every task's Jobs API state from its recorded one; a task that never ran (``None``) is decided again from
    its dependencies' states, in graph order, as the run decided it: ``UPSTREAM_FAILED`` or ``EXCLUDED``."""
    states = {t.task_key: recorded.get(t.task_key, "PENDING") for t in job.tasks}
    graph = {t.task_key: [d.task_key for d in t.depends_on] for t in job.tasks}
    for key in graphlib.TopologicalSorter(graph).static_order():
        if states[key] is None:
            states[key] = decide(job.task(key), states, {}) or "EXCLUDED"
    return states


def get_run(run_id: int) -> JobRun:
    """A run started in this process (or rebuilt from history)."""
    return _RUNS.get(run_id) or _load_run(run_id)
