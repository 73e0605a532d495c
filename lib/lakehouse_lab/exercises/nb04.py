"""Exercises of notebook 04 (jobs orchestration).

>>> from lakehouse_lab.exercises import nb04 as ex
>>> ex.q1.check({"name": "x", "tasks": []}).status
'incorrect'
"""
from __future__ import annotations

from .core import Problem, _Blank

BASE_TASKS = [
    {"task_key": "extract", "python_task": {"function": "builtins:print"}},
    {"task_key": "transform", "depends_on": [{"task_key": "extract"}], "python_task": {"function": "builtins:print"}},
]


def _blank_inside(value) -> bool:
    if isinstance(value, _Blank):
        return True
    if isinstance(value, dict):
        return any(_blank_inside(v) for v in value.values())
    if isinstance(value, list):
        return any(_blank_inside(v) for v in value)
    return False


def _check_handler(job_dict) -> str | None:
    from ..jobs import JobSpecError, load_job
    from ..jobs.runner import decide

    if _blank_inside(job_dict):
        return "Replace every ____ in the job before checking."
    try:
        job = load_job(job_dict)
    except JobSpecError as exc:
        return f"The job does not load: {exc}"
    handlers = [t for t in job.tasks if t.task_key not in ("extract", "transform")]
    if len(handlers) != 1:
        return "Add exactly one task besides extract and transform: the error handler."
    handler = handlers[0]
    if {d.task_key for d in handler.depends_on} != {"extract", "transform"}:
        return f"The handler {handler.task_key!r} should depend on both extract and transform."
    fails = decide(handler, {"extract": "SUCCESS", "transform": "FAILED"}, {})
    quiet = decide(handler, {"extract": "SUCCESS", "transform": "SUCCESS"}, {})
    if fails is not None:
        return f"When transform fails the handler would be {fails}; it must run. Look at run_if."
    if quiet != "EXCLUDED":
        return "When everything succeeds the handler still runs; it should be EXCLUDED. Look at run_if."
    return None


q1 = Problem(
    "q1",
    "Add an error-handler task `alert` to a job with tasks `extract` -> `transform`: it must depend on both and "
    "run only when one of them failed (and be EXCLUDED otherwise).",
    check=_check_handler,
    var="handler_job",
    hints=["Which `run_if` value runs a task when at least one upstream task failed?",
           "`run_if: AT_LEAST_ONE_FAILED`, with `depends_on` naming extract and transform."],
    solution='''handler_job = {"name": "with_handler", "tasks": ex.BASE_TASKS + [
    {"task_key": "alert", "run_if": "AT_LEAST_ONE_FAILED",
     "depends_on": [{"task_key": "extract"}, {"task_key": "transform"}],
     "python_task": {"function": "builtins:print"}}]}
ex.q1.check()''',
)


def flaky_load(failures: int = 2) -> str:
    """A task that fails on its first ``failures`` attempts of every run, then succeeds."""
    from ..jobs import context

    ctx = context.current()
    attempt = ctx.attempt_number if ctx else 0
    if attempt < failures:
        raise RuntimeError(f"attempt {attempt}: source not ready yet")
    return f"loaded on attempt {attempt}"


def _check_retries(job_dict) -> str | None:
    from ..jobs import JobSpecError, load_job, run_job

    if _blank_inside(job_dict):
        return "Replace every ____ in the job before checking."
    try:
        job = load_job(job_dict)
    except JobSpecError as exc:
        return f"The job does not load: {exc}"
    task = job.tasks[0]
    if task.min_retry_interval_millis < 100:
        return "Wait at least 100 ms between attempts (min_retry_interval_millis)."
    if task.max_retries == -1 or task.max_retries > 5:
        return "Retry a bounded number of times (at most 5), so a broken source does not retry forever."
    run = run_job(job, progress=False)
    if run.result_state != "SUCCESS":
        return f"The run ended {run.result_state} after {len(run.tasks[task.task_key].attempts)} attempt(s): retry more."
    return None


q2 = Problem(
    "q2",
    "`ex.flaky_load` fails on its first two attempts of each run. Set retries on the `load` task so the run "
    "succeeds, waiting at least 100 ms between attempts and retrying at most 5 times.",
    check=_check_retries,
    var="retry_job",
    hints=["Two failures need two retries.", "`max_retries: 2` and `min_retry_interval_millis: 100`."],
    solution='''retry_job = {"name": "retry_exercise", "tasks": [
    {"task_key": "load", "python_task": {"function": ex.flaky_load},
     "max_retries": 2, "min_retry_interval_millis": 100}]}
ex.q2.check()''',
)
