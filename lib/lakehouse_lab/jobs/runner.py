"""Run a job the way Databricks Jobs does: dependency order, ``run_if``, retries, timeouts, concurrency limits.

>>> from lakehouse_lab.jobs import job_from_dependencies, run_job
>>> job = job_from_dependencies("hello", {"a": [], "b": ["a"]}, task_factory=lambda key: "builtins:print")
>>> run = run_job(job)                                    # doctest: +SKIP
>>> run.result_state, [t.state for t in run.tasks.values()]   # doctest: +SKIP
('SUCCESS', ['SUCCESS', 'SUCCESS'])
"""
from __future__ import annotations

import fcntl
import graphlib
import json
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime

from .. import paths, run_context
from . import context as task_context
from . import history, notifications, tasks
from .recorder import Recorder as _Recorder
from .spec import JobSettings, JobSpecError, load_job

SUCCESS_LIKE = {"SUCCESS", "EXCLUDED"}
FAILED_LIKE = {"FAILED", "TIMEDOUT", "UPSTREAM_FAILED", "CANCELED", "INTERNAL_ERROR"}
_RUNS: dict[int, "JobRun"] = {}
_JOBS: dict[str, JobSettings] = {}


@dataclass
class Attempt:
    attempt_number: int
    task_run_id: int
    start_time: datetime
    end_time: datetime | None = None
    state: str = "RUNNING"
    error: str | None = None
    repair_id: int | None = None


@dataclass
class TaskRun:
    task_key: str
    state: str = "PENDING"
    attempts: list[Attempt] = field(default_factory=list)
    output: str | None = None
    condition: str | None = None
    values: dict = field(default_factory=dict)
    error: str | None = None

    @property
    def attempt_count(self) -> int:
        return len(self.attempts)


@dataclass
class JobRun:
    """One run of a job: ``run_id``, ``result_state``, per-task ``tasks`` (state, attempts, values)."""
    job: JobSettings
    run_id: int
    env: str
    parameters: dict[str, str]
    tasks: dict[str, TaskRun]
    start_time: datetime = field(default_factory=history.now)
    end_time: datetime | None = None
    state: str = "PENDING"           # PENDING | RUNNING | TERMINATED | SKIPPED | INTERNAL_ERROR
    result_state: str | None = None  # SUCCESS | SUCCESS_WITH_FAILURES | FAILED | TIMEDOUT | CANCELED | SKIPPED
    error_message: str | None = None
    repair_count: int = 0
    parent_run_id: int | None = None
    notices: list[str] = field(default_factory=list)
    _thread: threading.Thread | None = None
    _recorder: object = None

    @property
    def job_id(self) -> int:
        return self.job.job_id

    @property
    def duration_seconds(self) -> float:
        return ((self.end_time or history.now()) - self.start_time).total_seconds()

    def wait(self, timeout: float | None = None) -> "JobRun":
        """Block until the run has finished (history committed)."""
        if self._thread is not None:
            self._thread.join(timeout)
        history.flush()
        return self

    def graph(self):
        """The job graph with tasks coloured by state (a ``graphviz.Digraph``, SVG in notebooks)."""
        from .display import job_graph

        return job_graph(self.job, self)

    def gantt(self):
        """A Gantt chart of the task attempts (matplotlib figure)."""
        from .display import gantt

        return gantt(self)

    def _repr_html_(self) -> str:
        from .display import run_html

        return run_html(self)

    def __repr__(self) -> str:
        states = ", ".join(f"{k}={t.state}" for k, t in self.tasks.items())
        first = next((f"; {k}: {t.error.splitlines()[0][:300]}" for k, t in self.tasks.items() if t.error), "")
        return f"<JobRun {self.job.name!r} run_id={self.run_id} {self.result_state or self.state}: {states}{first}>"


def _counter_path():
    return paths.under(paths.lab_root(), "jobs") / "next_run_id"


def new_run_id() -> int:
    """A run id unique across processes of this lab (a counter under the lab root)."""
    with open(_counter_path(), "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        value = int(fh.read().strip() or 1000) + 1
        fh.seek(0)
        fh.truncate()
        fh.write(str(value))
        return value


def _take_slot(job: JobSettings):
    """A concurrency slot of the job (a lock file held while the run lasts), or ``None`` when all are taken."""
    folder = paths.under(paths.lab_root(), "jobs", "slots", str(job.job_id))
    for n in range(job.max_concurrent_runs):
        fh = open(folder / f"{n}.lock", "w")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fh
        except BlockingIOError:
            fh.close()
    return None


def _spark(env: str | None):
    """The lab session for ``env``; without ``env`` the running session, or ``None`` when Spark is not
    started yet (the history writer then starts it in the background)."""
    import lakehouse_lab as lab
    from .. import session

    if env is not None:
        return lab.start(env)
    active = session._state["spark"]
    return lab.start() if active is not None else None


def _check_parameters(job: JobSettings, parameters: dict | None) -> dict[str, str]:
    values = {p.name: p.default for p in job.parameters}
    for name, value in (parameters or {}).items():
        if name not in values:
            raise JobSpecError(f"job {job.name!r}, field parameters: no job parameter {name!r} "
                               f"(defined: {', '.join(values) or 'none'})")
        values[name] = value if isinstance(value, str) else json.dumps(value)
    return values


def run_job(spec, *, env: str | None = None, parameters: dict | None = None, wait: bool = True,
            parent_run_id: int | None = None, progress: bool | None = None) -> JobRun:
    """Run a job (dict, file, bundle or :class:`JobSettings`) and return its :class:`JobRun`.

    Everything is validated before a task starts. Over ``max_concurrent_runs`` the run is recorded as
    ``SKIPPED``. With ``wait=False`` the run continues in the background (``run.wait()``). ``env`` runs the
    tasks in that environment's session; once a waited-for run ends, the caller's environment comes back.
    """
    job = load_job(spec)
    values = _check_parameters(job, parameters)
    from .. import session

    previous = session.current_env()
    return waited(_start(job, values, env, parent_run_id, progress), wait, previous)


def waited(run: JobRun, wait: bool, previous_env: str) -> JobRun:
    """``run`` at once, or when it has ended, with the caller's environment ``previous_env`` back."""
    from .. import session

    if not wait:
        return run
    try:
        return run.wait()
    finally:
        if session.current_env() != previous_env:
            session.start(previous_env)


def _start(job: JobSettings, values: dict, env: str | None, parent_run_id: int | None, progress,
           outer_deadline: float | None = None) -> JobRun:
    """Record the run and start its tasks in a thread (or record it SKIPPED when no slot is free);
    ``outer_deadline``: the parent run's, for a ``run_job_task`` (the child stops when its parent times out)."""
    from .. import session

    _JOBS[job.name] = job
    spark = _spark(env)
    run = JobRun(job, new_run_id(), env or session.current_env(), values,
                 {t.task_key: TaskRun(t.task_key) for t in job.tasks}, parent_run_id=parent_run_id)
    _RUNS[run.run_id] = run
    for notice in _cluster_notices(job):
        run.notices.append(notice)
    slot = _take_slot(job)
    rec = run._recorder = _Recorder(run, spark)
    if slot is None:
        run.state, run.result_state, run.end_time = "SKIPPED", "MAXIMUM_CONCURRENT_RUNS_REACHED", run.start_time
        run.error_message = f"MAXIMUM_CONCURRENT_RUNS_REACHED: {job.max_concurrent_runs} run(s) of {job.name!r} active"
        rec.started()
        rec.ended()
        notifications.send(run, "on_failure")  # unless notification_settings.no_alert_for_skipped_runs
        return run
    run._thread = threading.Thread(target=_execute, args=(run, spark, rec, slot, None, progress, outer_deadline),
                                   name=f"job-run-{run.run_id}", daemon=True)
    run.state = "RUNNING"
    run._thread.start()
    return run


def _cluster_notices(job: JobSettings) -> list[str]:
    fields = [f for f in ("job_clusters", "environments") if getattr(job, f)]
    fields += [f"{t.task_key}.{f}" for t in job.tasks for f in ("new_cluster", "job_cluster_key",
               "existing_cluster_id", "environment_key", "libraries") if getattr(t, f)]
    return [f"compute settings ignored (tasks run on the lab's local Spark): {', '.join(fields)}"] if fields else []


def _execute(run: JobRun, spark, rec: _Recorder, slot, rerun: set[str] | None, progress,
             outer_deadline: float | None = None) -> None:
    job = run.job
    ends = [d for d in (time.monotonic() + job.timeout_seconds if job.timeout_seconds else None, outer_deadline) if d]
    deadline = min(ends) if ends else None
    cancel = threading.Event()
    try:
        with run_context.entity("JOB", str(run.job_id), str(run.run_id), spark=spark):
            rec.started()
            notifications.send(run, "on_start")
            watch = notifications.duration_watch(run)
            bar = _progress(run, progress)
            _schedule(run, spark, rec, rerun, deadline, cancel, bar)
            if watch:
                watch.cancel()
            if bar is not None:
                bar.close()
        timed_out = deadline is not None and time.monotonic() >= deadline
        run.result_state = "TIMEDOUT" if timed_out else result_from_leaves(job, run)
        if timed_out:
            run.error_message = (f"job timed out after {job.timeout_seconds} s" if deadline != outer_deadline
                                 else f"stopped at the deadline of its parent run {run.parent_run_id}")
    except Exception as exc:  # noqa: BLE001 - recorded as the run's own failure
        run.result_state, run.error_message = "INTERNAL_ERROR", f"{type(exc).__name__}: {exc}"
    finally:
        run.end_time, run.state = history.now(), "TERMINATED"
        if run.error_message is None and run.result_state != "SUCCESS":
            run.error_message = "; ".join(f"{k}: {t.error}" for k, t in run.tasks.items() if t.error)[:4000] or None
        try:
            rec.ended()
        finally:
            slot.close()
        notifications.send(run, "on_success" if run.result_state == "SUCCESS" else "on_failure")


def _progress(run: JobRun, progress):
    if progress is None:
        progress = task_context.current() is None and _in_notebook()
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=len(run.tasks), desc=f"{run.job.name} run {run.run_id}", unit="task")


def _in_notebook() -> bool:
    from ..dbutils import _in_kernel

    return _in_kernel()


def decide(task, states: dict[str, str], outcomes: dict[str, str | None]) -> str | None:
    """``None`` to run the task, else the state it gets without running (``UPSTREAM_FAILED``/``EXCLUDED``).

    As in Databricks: a dependency that was excluded (or a condition whose other outcome came true) counts as
    succeeded, and a task all of whose dependencies were excluded is excluded too, whatever its ``run_if``."""
    if task.disabled:
        return "EXCLUDED"
    if not task.depends_on:
        return None
    excluded = [states[d.task_key] == "EXCLUDED" or (d.outcome is not None and states[d.task_key] == "SUCCESS"
                                                     and outcomes.get(d.task_key) != d.outcome)
                for d in task.depends_on]
    if all(excluded):
        return "EXCLUDED"
    failed = [states[d.task_key] in FAILED_LIKE for d in task.depends_on]
    rule = task.run_if
    if rule == "ALL_DONE":
        return None
    if rule == "AT_LEAST_ONE_FAILED":
        return None if any(failed) else "EXCLUDED"
    if rule == "ALL_FAILED":
        return None if all(failed) else "EXCLUDED"
    if rule == "AT_LEAST_ONE_SUCCESS":
        return None if not all(failed) else "UPSTREAM_FAILED"
    return "UPSTREAM_FAILED" if any(failed) else None  # ALL_SUCCESS, NONE_FAILED


def result_from_leaves(job: JobSettings, run: JobRun) -> str:
    """``SUCCESS`` when every task succeeded; ``SUCCESS_WITH_FAILURES`` when some failed but the leaves did
    not; ``FAILED`` when a leaf failed."""
    below = job.dependents()
    leaves = [k for k, children in below.items() if not children]
    if any(run.tasks[k].state in FAILED_LIKE for k in leaves):
        return "FAILED"
    if any(t.state in FAILED_LIKE for t in run.tasks.values()):
        return "SUCCESS_WITH_FAILURES"
    return "SUCCESS"


def _schedule(run, spark, rec, rerun, deadline, cancel, bar) -> None:
    job = run.job
    sorter = graphlib.TopologicalSorter({t.task_key: [d.task_key for d in t.depends_on] for t in job.tasks})
    sorter.prepare()
    states = {k: t.state for k, t in run.tasks.items()}
    running: dict = {}
    with ThreadPoolExecutor(max_workers=job.max_workers, thread_name_prefix=f"run-{run.run_id}") as pool:
        while sorter.is_active():
            for key in sorter.get_ready():
                if rerun is not None and key not in rerun:
                    sorter.done(key)
                    continue
                if cancel.is_set():
                    _finish_without_running(run, rec, key, "CANCELED", states)
                    sorter.done(key)
                    continue
                skip = decide(job.task(key), states, {k: t.condition for k, t in run.tasks.items()})
                if skip:
                    _finish_without_running(run, rec, key, skip, states)
                    sorter.done(key)
                    continue
                run.tasks[key].state = states[key] = "RUNNING"
                running[pool.submit(_run_task, run, spark, rec, job.task(key), deadline, cancel)] = key
            if not running:
                continue
            # once cancelled, the running tasks stop themselves (they watch `cancel`): wait for them, do not spin
            left = None if deadline is None or cancel.is_set() else max(deadline - time.monotonic(), 0)
            done, _ = wait(list(running), timeout=left, return_when=FIRST_COMPLETED)
            if not done:
                cancel.set()
                continue
            for future in done:
                key = running.pop(future)
                future.result()
                states[key] = run.tasks[key].state
                if bar is not None:
                    bar.update(1)
                sorter.done(key)


def _finish_without_running(run, rec, key, state, states) -> None:
    run.tasks[key].state = states[key] = state
    run.tasks[key].error = None
    rec.task_not_run(key, state)


def _refs(run: JobRun, task_key: str) -> dict[str, str]:
    refs = {"job.run_id": str(run.run_id), "job.id": str(run.job_id), "job.name": run.job.name,
            "job.repair_count": str(run.repair_count), "task.name": task_key, "job.start_time.iso_datetime":
            run.start_time.isoformat()}
    refs.update({f"job.parameters.{k}": v for k, v in run.parameters.items()})
    for key, t in run.tasks.items():
        refs[f"tasks.{key}.result_state"] = t.state
        for name, value in t.values.items():
            refs[f"tasks.{key}.values.{name}"] = value if isinstance(value, str) else json.dumps(value)
    return refs


def _run_task(run: JobRun, spark, rec: _Recorder, task, deadline, cancel) -> None:
    """Run one task with its retries; every attempt is recorded."""
    record = run.tasks[task.task_key]
    record.values, record.error, record.output, record.condition = {}, None, None, None
    number = record.attempts[-1].attempt_number + 1 if record.attempts else 0
    retries = 0
    while True:
        outcome = _attempt(run, spark, rec, task, number, deadline, cancel)
        record.state, record.error = outcome.state, outcome.error
        record.output, record.condition = outcome.output, outcome.condition
        can_retry = outcome.state == "FAILED" or (outcome.state == "TIMEDOUT" and task.retry_on_timeout)
        if not can_retry or cancel.is_set() or (task.max_retries != -1 and retries >= task.max_retries):
            return
        if deadline is not None and time.monotonic() >= deadline:
            return
        retries += 1
        number += 1
        if cancel.wait(task.min_retry_interval_millis / 1000):
            return


def _attempt(run: JobRun, spark, rec: _Recorder, task, number: int, deadline, cancel) -> tasks.Outcome:
    record = run.tasks[task.task_key]
    attempt = Attempt(number, new_run_id(), history.now(), repair_id=run.repair_count or None)
    record.attempts.append(attempt)
    rec.attempt_started(task.task_key, attempt)
    ends = [d for d in (deadline, time.monotonic() + task.timeout_seconds if task.timeout_seconds else None) if d]
    task_deadline = min(ends) if ends else None
    try:
        outcome = execute(run, spark, task, number, attempt.task_run_id, task_deadline, cancel)
    except Exception as exc:  # noqa: BLE001 - bad references, missing notebooks… fail the attempt
        outcome = tasks.Outcome("FAILED", f"{type(exc).__name__}: {exc}")
    if outcome.state == "TIMEDOUT" and task.timeout_seconds and (deadline is None or task_deadline < deadline):
        outcome.error = f"task timed out after {task.timeout_seconds} s; it was stopped"
    attempt.end_time, attempt.state, attempt.error = history.now(), outcome.state, outcome.error
    rec.attempt_ended(task.task_key, attempt)
    return outcome


def execute(run: JobRun, spark, task, number: int, task_run_id: int, deadline, cancel) -> tasks.Outcome:
    """One attempt of one task, dispatched on its kind."""
    refs = _refs(run, task.task_key)
    params = dict(run.parameters)
    if task.notebook_task is not None:
        params = {**tasks.resolve_refs(task.notebook_task.base_parameters, refs, task.task_key), **run.parameters}
    ctx = task_context.TaskContext(run.job_id, run.job.name, run.run_id, task.task_key, task_run_id, number,
                                   params, {k: dict(t.values) for k, t in run.tasks.items()})
    kind = task.kind()
    if kind == "notebook_task":
        outcome = tasks.run_notebook(task, ctx, spark, run.env, deadline, cancel, run.job.source_path)
    elif kind == "spark_python_task":
        task = task.model_copy(update={"spark_python_task": task.spark_python_task.model_copy(
            update={"parameters": tasks.resolve_refs(task.spark_python_task.parameters, refs, task.task_key)})})
        outcome = tasks.run_python_file(task, ctx, spark, run.env, deadline, cancel, run.job.source_path)
    elif kind == "python_task":
        outcome = tasks.run_callable(task, ctx, spark, refs, deadline, cancel)
    elif kind == "pipeline_task":
        outcome = tasks.run_pipeline_task(task, ctx, spark, run.env, deadline, cancel)
    elif kind == "condition_task":
        outcome = tasks.evaluate_condition(task, refs, task.task_key)
    elif kind == "for_each_task":
        from .foreach import run_for_each

        outcome = run_for_each(run, spark, task, refs, deadline, cancel)
    else:
        outcome = _run_child_job(run, task, refs, deadline)
    run.tasks[task.task_key].values.update(ctx.values)
    return outcome


def _run_child_job(run: JobRun, task, refs, deadline) -> tasks.Outcome:
    spec = task.run_job_task
    target = spec.job_id
    found = _JOBS.get(str(target)) or next((j for j in _JOBS.values() if j.job_id == target), None)
    if found is None and isinstance(target, str) and os.path.exists(target):
        found = load_job(target)
    if found is None:
        return tasks.Outcome("FAILED", f"run_job_task: no job {target!r} known (run or load it first, or give a path)")
    from .. import session

    values = _check_parameters(found, tasks.resolve_refs(spec.job_parameters, refs, task.task_key))
    child = waited(_start(found, values, run.env, run.run_id, False, deadline), True, session.current_env())
    ok = child.result_state in ("SUCCESS", "SUCCESS_WITH_FAILURES")
    return tasks.Outcome("SUCCESS" if ok else "FAILED", None if ok else
                         f"job {found.name!r} run {child.run_id} ended {child.result_state}", output=str(child.run_id))
