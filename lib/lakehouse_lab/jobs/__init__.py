"""Multi-task jobs with Databricks Jobs API 2.1/2.2 semantics, run locally, history in ``system.lakeflow``.

>>> from lakehouse_lab import jobs
>>> job = jobs.job_from_dependencies("demo", {"extract": [], "load": ["extract"]},
...                                  task_factory=lambda key: "builtins:print")
>>> [t.task_key for t in job.tasks]
['extract', 'load']
>>> run = jobs.run_job(job)                 # doctest: +SKIP
>>> run.result_state                        # doctest: +SKIP
'SUCCESS'
"""
from .history import flush, recover
from .repair import get_run, repair_run
from .runner import JobRun, TaskRun, run_job
from .spec import JobSettings, JobSpecError, job_from_dependencies, load_job

__all__ = ["load_job", "job_from_dependencies", "run_job", "repair_run", "get_run", "JobSettings", "JobRun",
           "TaskRun", "JobSpecError", "flush", "recover"]
