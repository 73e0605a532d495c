"""What a run sends to the history writer as it happens: run start and end, every task attempt.

>>> from lakehouse_lab.jobs.recorder import Recorder
>>> Recorder.__name__
'Recorder'
"""
from __future__ import annotations

import os
import socket

from .. import run_context
from . import history

RUN_TYPE = "JOB_RUN"  # a run of a defined job, as the Jobs API names it (SUBMIT_RUN is runs/submit)
# The system table's spelling of a run started on demand (CRON, CONTINUOUS, FILE_ARRIVAL, ONETIME, ONETIME_RETRY);
# the Jobs API's run object spells the same trigger ONE_TIME, as job_runs.trigger does.
TIMELINE_TRIGGER = "ONETIME"


class Recorder:
    """Sends the run's history events to the writer as they happen."""

    def __init__(self, run: JobRun, spark) -> None:
        self.run, self.writer = run, history.writer(spark)

    def started(self) -> None:
        run, job = self.run, self.run.job
        self.writer.submit(run.run_id, "append", "jobs", {
            "job_id": job.job_id, "name": job.name, "description": job.description, "tags": job.tags,
            "creator_id": run_context.current().created_by, "change_time": run.start_time,
            "settings": job.settings_json()})
        self.writer.submit(run.run_id, "append", "job_run_timeline", {
            "job_id": job.job_id, "run_id": run.run_id, "period_start_time": run.start_time,
            "trigger_type": TIMELINE_TRIGGER, "run_type": RUN_TYPE,
            "run_name": job.name, "compute_ids": [], "job_parameters": run.parameters})
        self.writer.submit(run.run_id, "run_start", "job_runs", self._summary())

    def _summary(self) -> dict:
        run, job = self.run, self.run.job
        return {"job_id": job.job_id, "job_name": job.name, "run_id": run.run_id, "start_time": run.start_time,
                "trigger": "ONE_TIME", "task_count": len(job.tasks), "attempts": 0, "repair_count": run.repair_count,
                "parent_run_id": run.parent_run_id, "job_parameters": run.parameters, "settings": job.settings_json(),
                "runner_host": socket.gethostname(), "runner_pid": os.getpid()}

    def attempt_started(self, key: str, attempt: Attempt) -> None:
        self.writer.submit(self.run.run_id, "task_start", "job_task_run_timeline", self._task_row(key, attempt))

    def attempt_ended(self, key: str, attempt: Attempt) -> None:
        self.writer.submit(self.run.run_id, "append", "job_task_run_timeline", self._task_row(key, attempt))

    def task_not_run(self, key: str, state: str) -> None:
        from .runner import Attempt, new_run_id

        now = history.now()
        self.attempt_ended(key, Attempt(0, new_run_id(), now, now, state, repair_id=self._repair_id()))

    def _repair_id(self):
        return self.run.repair_count or None

    def _task_row(self, key: str, a: Attempt) -> dict:
        result, code = history.TIMELINE_STATE.get(a.state, (None, None))
        return {"job_id": self.run.job_id, "run_id": a.task_run_id, "job_run_id": self.run.run_id,
                "parent_run_id": self.run.run_id, "period_start_time": a.start_time, "period_end_time": a.end_time,
                "task_key": key, "compute_ids": [], "result_state": result, "termination_code": code,
                "attempt_number": a.attempt_number, "repair_id": a.repair_id, "error_message": a.error}

    def ended(self) -> None:
        run = self.run
        result, code = history.TIMELINE_STATE[run.result_state]
        self.writer.submit(run.run_id, "append", "job_run_timeline", {
            "job_id": run.job_id, "run_id": run.run_id, "period_start_time": run.start_time,
            "period_end_time": run.end_time, "trigger_type": TIMELINE_TRIGGER, "run_type": RUN_TYPE,
            "run_name": run.job.name, "compute_ids": [], "result_state": result, "termination_code": code,
            "job_parameters": run.parameters})
        # one summary row per run, appended when it ends (a repair updates it in place)
        self.writer.submit(run.run_id, "upsert" if run.repair_count else "append", "job_runs", {
            **self._summary(), "end_time": run.end_time, "result_state": run.result_state,
            "execution_duration": run.duration_seconds, "error_message": run.error_message or "",
            "attempts": sum(t.attempt_count for t in run.tasks.values())})
        self.writer.finished(run.run_id)


