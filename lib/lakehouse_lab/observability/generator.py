"""Run history worth looking at: days of scheduled runs of the course job and its pipeline.

Two sources, both landing in the same ``system.lakeflow`` tables the runner writes:

* :func:`generate_history` writes *generated* past runs through the job history writer's event format and
  the pipeline event-log schema — a seeded, realistic mix of successes, retries, timeouts, failures, slow days
  and data-quality drops. Every generated row is labelled: ``job_runs.trigger = 'GENERATED'``,
  ``job_parameters['generated'] = 'true'``, ``pipeline_updates.created_by = 'history-generator'``, and run
  ids from :data:`GENERATED_RUN_IDS` on. Calling it again replaces the generated rows (never real ones).
* :func:`run_faulty_jobs` *actually runs* a small job with injected faults (a flaky task that succeeds on
  retry, a task that hangs past its timeout, a task that raises), recorded by the real runner.

>>> profile = Profile()
>>> round(profile.failure_rate + profile.timeout_rate, 3)
0.04
"""
from __future__ import annotations

import datetime as dt
import json
import math
import random
import uuid
from dataclasses import asdict, dataclass, field

from ..jobs import history as job_history
from ..pipelines.event_log import PIPELINE_EVENTS_SCHEMA, PIPELINE_UPDATES_SCHEMA, append_rows
from ..pipelines.runner import pipeline_id_for
from . import queries

GENERATED_RUN_IDS = 900_000_000_000
GENERATOR = "history-generator"
COURSE_JOB = "lakehouse_lab_main_job"
COURSE_PIPELINE = "orders_pipeline"
TASKS = ("ingest_raw_data", "orders_pipeline", "quality_validation")
FLOWS = ("bronze_orders", "silver_orders", "gold_customer_metrics")
EXPECTATIONS = ("valid_order_id", "positive_amount", "valid_date")


@dataclass(frozen=True)
class Profile:
    """How often things go wrong, per run (rates) or per day (slow and quality-drop days)."""
    failure_rate: float = 0.03
    timeout_rate: float = 0.01
    retry_rate: float = 0.06
    slow_day_rate: float = 0.12
    quality_drop_day_rate: float = 0.1
    task_seconds: tuple = (35.0, 140.0, 18.0)   # typical duration of each task in TASKS
    rows_per_run: int = 2000

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if name.endswith("_rate") and not 0 <= value <= 1:
                raise ValueError(f"Profile.{name} must be between 0 and 1, got {value}")
        if self.failure_rate + self.timeout_rate + self.retry_rate > 1:
            raise ValueError("Profile: failure_rate + timeout_rate + retry_rate must not exceed 1")


@dataclass
class GeneratedHistory:
    """What :func:`generate_history` wrote: runs per result state, updates, events."""
    days: int
    runs_per_day: int
    outcomes: dict
    pipeline_updates: int
    pipeline_events: int
    quality_drop_days: list = field(default_factory=list)  # days when more orders came without an id

    @property
    def runs(self) -> int:
        return sum(self.outcomes.values())

    def _repr_html_(self) -> str:
        cells = "".join(f"<td>{state}: <b>{n}</b></td>" for state, n in sorted(self.outcomes.items()))
        return (f"<b>Generated history</b> (labelled <code>trigger = 'GENERATED'</code>): {self.runs} runs over "
                f"{self.days} days, {self.pipeline_updates} pipeline updates, {self.pipeline_events} events"
                f"<table><tr>{cells}</tr></table>Quality drops (valid_order_id) on: "
                f"{', '.join(d.isoformat() for d in self.quality_drop_days) or 'no day'}")


def generate_history(spark, days: int = 30, runs_per_day: int = 24, *, profile: Profile | None = None,
                     seed: int = 7, env: str = "dev", end: dt.datetime | None = None) -> GeneratedHistory:
    """Replace the generated history with ``days`` × ``runs_per_day`` scheduled runs ending at ``end`` (now)."""
    book, history = plan_history(days, runs_per_day, profile=profile, seed=seed, env=env, end=end)
    clear_generated(spark)
    book.write(spark)
    return history


def plan_history(days: int = 30, runs_per_day: int = 24, *, profile: Profile | None = None, seed: int = 7,
                 env: str = "dev", end: dt.datetime | None = None) -> tuple[_Book, GeneratedHistory]:
    """The rows :func:`generate_history` writes, and its summary, without writing anything.

    >>> _, planned = plan_history(days=30, runs_per_day=24, seed=7)
    >>> planned.runs <= 30 * 24 and len(planned.quality_drop_days) > 0
    True
    """
    if days < 1 or not 1 <= runs_per_day <= 1440:
        raise ValueError(f"days must be >= 1 and runs_per_day between 1 and 1440 (got {days}, {runs_per_day})")
    profile, rng = profile or Profile(), random.Random(seed)
    end = (end or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    catalog, schema = _namespace(env)
    book = _Book(pipeline_id_for(COURSE_PIPELINE, catalog, schema), env, catalog, schema)
    first_day = (end - dt.timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    drop_days = []
    for day in range(days):
        slow = rng.random() < profile.slow_day_rate
        drop = rng.random() < profile.quality_drop_day_rate
        factor = rng.uniform(1.8, 2.6) if slow else 1.0
        drop_days += [(first_day + dt.timedelta(days=day)).date()] if drop else []
        for slot in range(runs_per_day):
            start = first_day + dt.timedelta(days=day, minutes=slot * 1440 / runs_per_day + rng.uniform(0, 3))
            if start < end:
                _one_run(book, rng, profile, start, factor, drop)
    return book, GeneratedHistory(days, runs_per_day, book.outcomes, len(book.updates), len(book.events),
                                  drop_days)


def clear_generated(spark) -> None:
    """Delete every generated row (real runs are never touched)."""
    queries.ensure_tables(spark)
    generated = {"gen": GENERATOR}
    if not spark.sql(f"SELECT 1 FROM {queries.PIPELINE_UPDATES} WHERE created_by = :gen UNION ALL "
                     f"SELECT 1 FROM {queries.JOB_RUNS} WHERE run_id >= :base LIMIT 1",
                     args={**generated, "base": GENERATED_RUN_IDS}).take(1):
        return  # nothing generated yet: skip the deletes (each is a Delta commit)
    spark.sql(f"DELETE FROM {queries.TASK_TIMELINE} WHERE job_run_id >= :base", args={"base": GENERATED_RUN_IDS})
    for table in ("job_run_timeline", "job_runs"):
        spark.sql(f"DELETE FROM {job_history.TABLES[table]} WHERE run_id >= :base", args={"base": GENERATED_RUN_IDS})
    spark.sql(f"MERGE INTO {queries.PIPELINE_EVENTS} e USING (SELECT update_id FROM {queries.PIPELINE_UPDATES} "
              f"WHERE created_by = :gen) g ON e.update_id = g.update_id WHEN MATCHED THEN DELETE", args=generated)
    spark.sql(f"DELETE FROM {queries.PIPELINE_UPDATES} WHERE created_by = :gen", args=generated)


def _namespace(env: str) -> tuple[str, str]:
    from ..config import load_config

    config = load_config(env)
    return config.database.catalog, config.database.schema_name


class _Book:
    """Rows collected for one generation, written at the end in one append per table."""

    def __init__(self, pipeline_id: str, env: str, catalog: str, schema: str) -> None:
        self.pipeline_id, self.env, self.catalog, self.schema = pipeline_id, env, catalog, schema
        self.job_events: list[dict] = []
        self.updates: list[tuple] = []
        self.events: list[tuple] = []
        self.outcomes: dict[str, int] = {}
        self.next_id = GENERATED_RUN_IDS

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def write(self, spark) -> None:
        job_history.ensure_tables(spark)
        job_history.write_events(spark, self.job_events)
        append_rows(spark, queries.PIPELINE_UPDATES, self.updates, PIPELINE_UPDATES_SCHEMA)
        append_rows(spark, queries.PIPELINE_EVENTS, self.events, PIPELINE_EVENTS_SCHEMA)


def _one_run(book: _Book, rng: random.Random, profile: Profile, start: dt.datetime, factor: float,
             drop: bool) -> None:
    """One scheduled run: its task attempts, its pipeline update and events, its summary rows."""
    roll = rng.random()
    fault = ("fail" if roll < profile.failure_rate else
             "timeout" if roll < profile.failure_rate + profile.timeout_rate else
             "retry" if roll < profile.failure_rate + profile.timeout_rate + profile.retry_rate else None)
    run_id, clock, attempts, state, error = book.new_id(), start, 0, "SUCCESS", ""
    for index, task in enumerate(TASKS):
        seconds = rng.lognormvariate(math.log(profile.task_seconds[index] * factor), 0.18)
        if state != "SUCCESS":
            _task(book, run_id, task, clock, clock, "UPSTREAM_FAILED", 0, None)
            continue
        if fault == "retry" and task == "ingest_raw_data":
            failed_at = clock + dt.timedelta(seconds=seconds / 3)
            _task(book, run_id, task, clock, failed_at, "FAILED", 0, "ConnectionResetError: landing zone read reset")
            clock, attempts = failed_at + dt.timedelta(seconds=30), attempts + 1
        task_state, task_error = "SUCCESS", None
        if task == "orders_pipeline" and fault in ("fail", "timeout"):
            task_state = "FAILED" if fault == "fail" else "TIMEDOUT"
            seconds = seconds / 2 if fault == "fail" else 3 * profile.task_seconds[index]
            task_error = (_expectation_error(rng) if fault == "fail"
                          else f"task timed out after {seconds:.0f} s (timeout_seconds)")
            state, error = task_state, task_error
        end = clock + dt.timedelta(seconds=seconds)
        _task(book, run_id, task, clock, end, task_state, attempts if task == "ingest_raw_data" else 0, task_error)
        if task == "orders_pipeline":
            _pipeline_update(book, rng, profile, clock, end, task_state, task_error, drop)
        clock = end
    _run(book, run_id, start, clock, state, error, attempts + len(TASKS))


def _expectation_error(rng: random.Random) -> str:
    bad = rng.randint(1, 12)
    return (f"expectation 'positive_amount' on dataset 'silver_orders' failed (ON VIOLATION FAIL UPDATE): "
            f"{bad} row(s) violate amount > 0")


def _task(book, run_id, task, start, end, state, attempt, error) -> None:
    result, code = job_history.TIMELINE_STATE[state]
    book.job_events.append({"kind": "append", "table": "job_task_run_timeline", "row": {
        "job_id": _job_id(), "run_id": book.new_id(), "job_run_id": run_id, "parent_run_id": run_id,
        "period_start_time": start, "period_end_time": end, "task_key": task, "compute_ids": [],
        "result_state": result, "termination_code": code, "attempt_number": attempt, "error_message": error}})


def _run(book, run_id, start, end, state, error, attempts) -> None:
    book.outcomes[state] = book.outcomes.get(state, 0) + 1
    result, code = job_history.TIMELINE_STATE[state]
    params = {"generated": "true"}
    timeline = {"job_id": _job_id(), "run_id": run_id, "trigger_type": "CRON", "run_type": "JOB_RUN",
                "run_name": COURSE_JOB, "compute_ids": [], "job_parameters": params}
    book.job_events += [
        {"kind": "append", "table": "job_run_timeline", "row": {**timeline, "period_start_time": start}},
        {"kind": "append", "table": "job_run_timeline", "row": {
            **timeline, "period_start_time": start, "period_end_time": end, "result_state": result,
            "termination_code": code}},
        {"kind": "append", "table": "job_runs", "row": {
            "job_id": _job_id(), "job_name": COURSE_JOB, "run_id": run_id, "start_time": start, "end_time": end,
            "result_state": state, "execution_duration": (end - start).total_seconds(), "error_message": error,
            "trigger": "GENERATED", "task_count": len(TASKS), "attempts": attempts, "repair_count": 0,
            "job_parameters": params, "runner_host": GENERATOR}}]


def _job_id() -> int:
    from ..jobs.spec import JobSettings

    return JobSettings(name=COURSE_JOB, tasks=[]).job_id


def _pipeline_update(book, rng, profile, start, end, task_state, error, drop) -> None:
    update_id = str(uuid.UUID(int=rng.getrandbits(128)))
    state = {"SUCCESS": "COMPLETED", "FAILED": "FAILED"}.get(task_state, "CANCELED")
    naive = [t.astimezone(dt.timezone.utc).replace(tzinfo=None) for t in (start, end)]
    book.updates.append((book.pipeline_id, COURSE_PIPELINE, update_id, state, naive[0], naive[1], False, None,
                         book.env, book.catalog, book.schema, error, GENERATOR))
    event = _event_maker(book, update_id)
    event("create_update", "Update started by the schedule.", {"cause": "JOB_TASK"}, naive[0])
    step = (naive[1] - naive[0]) / (len(FLOWS) + 1)
    rows = int(rng.gauss(profile.rows_per_run, profile.rows_per_run / 10))
    for i, flow in enumerate(FLOWS):
        at = naive[0] + step * (i + 1)
        if state != "COMPLETED" and flow != "bronze_orders":
            if state == "FAILED" and flow == "silver_orders":
                event("flow_progress", f"Flow '{flow}' has FAILED.", {"status": "FAILED",
                      "failed_expectation": "positive_amount"}, at, flow, "ERROR", error)
            break
        details = {"status": "COMPLETED", "metrics": {"num_output_rows": rows}}
        if flow == "silver_orders":
            details = _silver_quality(rng, rows, drop)
            rows = details["metrics"]["num_output_rows"]
        elif flow == "gold_customer_metrics":
            details["metrics"]["num_output_rows"] = max(rows // 5, 1)
        event("flow_progress", f"Flow '{flow}' has COMPLETED.", details, at, flow,
              "METRICS" if flow == "silver_orders" else "INFO")
    event("update_progress", f"Update is {state}.", {"state": state}, naive[1], None,
          "ERROR" if state == "FAILED" else "INFO", error if state == "FAILED" else None)


def _silver_quality(rng, rows: int, drop: bool) -> dict:
    expectations, dropped = [], 0
    for name in EXPECTATIONS:
        rate = rng.uniform(0.85, 0.93) if drop and name == "valid_order_id" else rng.uniform(0.992, 1.0)
        if name == "positive_amount":
            rate = 1.0  # FAIL UPDATE: a completed update had no violations
        failed = int(rows * (1 - rate))
        dropped += failed
        expectations.append({"name": name, "dataset": "silver_orders", "passed_records": rows - failed,
                             "failed_records": failed})
    return {"status": "COMPLETED", "metrics": {"num_output_rows": rows - dropped, "num_input_rows": rows},
            "data_quality": {"dropped_records": dropped, "expectations": expectations}}


def _event_maker(book: _Book, update_id: str):
    sequence = iter(range(1, 1000))

    def event(event_type, message, details, at, flow=None, level="INFO", error=None) -> None:
        book.events.append((book.pipeline_id, COURSE_PIPELINE, update_id, str(uuid.uuid4()), next(sequence),
                            event_type, level, message, at, json.dumps({event_type: details}), error, flow, flow,
                            book.env))
    return event


# --- real runs with injected faults ---------------------------------------------------------------------------

FAULT_JOB = "lakehouse_lab_fault_injection"
_calls = {"flaky_extract": 0}


def flaky_extract() -> str:
    """Fails on every other call: the first attempt of a run fails, its retry succeeds."""
    _calls["flaky_extract"] += 1
    if _calls["flaky_extract"] % 2:
        raise ConnectionResetError("injected fault: the landing zone reset the connection")
    return "extracted"


def hanging_transform() -> None:
    """Hangs far past its task timeout (short sleeps, so the runner's stop reaches it)."""
    import time

    for _ in range(600):
        time.sleep(0.1)


def failing_load() -> None:
    """Raises like a load that meets a schema it does not expect."""
    raise ValueError("injected fault: column 'amount' not found in the staged batch")


def fault_job():
    """The job :func:`run_faulty_jobs` runs: a retry that succeeds, a timeout, a failure."""
    from ..jobs import load_job

    here = __name__
    return load_job({"name": FAULT_JOB, "max_concurrent_runs": 1, "tasks": [
        {"task_key": "flaky_extract", "max_retries": 1, "min_retry_interval_millis": 0,
         "python_task": {"function": f"{here}:flaky_extract"}},
        {"task_key": "hanging_transform", "depends_on": [{"task_key": "flaky_extract"}], "timeout_seconds": 2,
         "python_task": {"function": f"{here}:hanging_transform"}},
        {"task_key": "failing_load", "depends_on": [{"task_key": "flaky_extract"}],
         "python_task": {"function": f"{here}:failing_load"}}]})


def run_faulty_jobs(runs: int = 1, env: str | None = None) -> list:
    """Really run :func:`fault_job` ``runs`` times; the runner records every attempt in ``system.lakeflow``."""
    from ..jobs import flush, run_job

    results = [run_job(fault_job(), env=env) for _ in range(runs)]
    flush()
    return results
