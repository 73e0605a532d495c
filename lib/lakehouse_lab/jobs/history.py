"""Job history in Delta tables under ``system.lakeflow``, written while runs progress.

Tables (Databricks column names first; lab columns after them):

* ``system.lakeflow.jobs`` — one row per job definition change (``job_id, name, … change_time``).
* ``system.lakeflow.job_run_timeline`` — a row when a run starts and one when it ends (``result_state``,
  ``termination_code`` on the last row only, as in Databricks).
* ``system.lakeflow.job_task_run_timeline`` — one row per task attempt (``task_key``, ``attempt_number``).
* ``system.lakeflow.job_runs`` — the course's run summary, one row per finished run (a repair updates it):
  ``job_name, run_id, start_time, end_time, result_state, execution_duration`` (seconds), ``error_message`` …
  A run in progress shows in ``job_run_timeline`` (a row without ``result_state``).

Writes go through one background writer per process so the runner never waits on Delta commits; every event
is first appended to a journal file (``<lab root>/jobs/journal/<run_id>.jsonl``). When a runner is killed,
the next process that writes history replays what the journal holds and closes the run as ``INTERNAL_ERROR``.
Each commit is noted in the journal as it lands, so a batch that failed half-way is replayed without the part
already written.

>>> from lakehouse_lab.jobs import history
>>> history.TABLES["job_runs"]
'system.lakeflow.job_runs'
"""
from __future__ import annotations

import json
import os
import queue
import socket
import threading
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

from .. import paths
from ..catalog import ensure_bookkeeping_tables
from ..frames import rows_frame

TABLES = {name: f"system.lakeflow.{name}" for name in ("jobs", "job_run_timeline", "job_task_run_timeline", "job_runs")}
_IDS = "account_id STRING, workspace_id STRING, "
SCHEMAS = {
    "jobs": _IDS + "job_id BIGINT, name STRING, description STRING, creator_id STRING, tags MAP<STRING,STRING>, "
            "change_time TIMESTAMP, delete_time TIMESTAMP, run_as STRING, settings STRING",
    "job_run_timeline": _IDS + "job_id BIGINT, run_id BIGINT, period_start_time TIMESTAMP, period_end_time TIMESTAMP, "
                        "trigger_type STRING, run_type STRING, run_name STRING, compute_ids ARRAY<STRING>, "
                        "result_state STRING, termination_code STRING, job_parameters MAP<STRING,STRING>",
    "job_task_run_timeline": _IDS + "job_id BIGINT, run_id BIGINT, job_run_id BIGINT, parent_run_id BIGINT, "
                             "period_start_time TIMESTAMP, period_end_time TIMESTAMP, task_key STRING, "
                             "compute_ids ARRAY<STRING>, result_state STRING, termination_code STRING, "
                             "attempt_number INT, repair_id BIGINT, error_message STRING",
    "job_runs": "job_id BIGINT, job_name STRING, run_id BIGINT, start_time TIMESTAMP, end_time TIMESTAMP, "
                "result_state STRING, execution_duration DOUBLE, error_message STRING, trigger STRING, "
                "task_count INT, attempts INT, repair_count INT, parent_run_id BIGINT, "
                "job_parameters MAP<STRING,STRING>, settings STRING, runner_host STRING, runner_pid INT",
}
_TIMESTAMPS = {"change_time", "delete_time", "period_start_time", "period_end_time", "start_time", "end_time"}
ACCOUNT = {"account_id": "lakehouse-lab", "workspace_id": "local"}

# Jobs API states -> system table result_state / termination_code (the Jobs API's termination codes: a timeout is
# CANCELED by the platform, a task that never ran is SKIPPED whether an upstream task failed or it was excluded)
TIMELINE_STATE = {"SUCCESS": ("SUCCEEDED", "SUCCESS"), "SUCCESS_WITH_FAILURES": ("SUCCEEDED", "SUCCESS_WITH_FAILURES"),
                  "FAILED": ("FAILED", "RUN_EXECUTION_ERROR"), "TIMEDOUT": ("TIMED_OUT", "CANCELED"),
                  "CANCELED": ("CANCELLED", "USER_CANCELED"),
                  "MAXIMUM_CONCURRENT_RUNS_REACHED": ("SKIPPED", "MAX_CONCURRENT_RUNS_EXCEEDED"),
                  "UPSTREAM_FAILED": ("SKIPPED", "SKIPPED"), "EXCLUDED": ("SKIPPED", "SKIPPED"),
                  "INTERNAL_ERROR": ("ERROR", "INTERNAL_ERROR")}
# What earlier versions of the lab wrote, still read back by repairs of old runs
_EARLIER_CODES = {("TIMED_OUT", "TIMEOUT"): "TIMEDOUT", ("CANCELLED", "CANCELED"): "CANCELED",
                  ("SKIPPED", "MAX_CONCURRENT_RUNS_REACHED"): "MAXIMUM_CONCURRENT_RUNS_REACHED",
                  ("SKIPPED", "UPSTREAM_FAILED"): "UPSTREAM_FAILED", ("SKIPPED", "EXCLUDED"): "EXCLUDED"}


QUIET_S = 1.0       # an event followed by none for this long is committed
MAX_DELAY_S = 10.0  # and none waits longer than this while events keep coming
_COMMIT_NOW = {"done", "flush"}


def now() -> datetime:
    return datetime.now(timezone.utc)


def journal_dir() -> Path:
    return paths.under(paths.lab_root(), "jobs", "journal")


class _Writer(threading.Thread):
    """Drains queued history events into Delta in batches; journals each event first."""

    def __init__(self, spark) -> None:
        super().__init__(name="lakehouse-lab-job-history", daemon=True)
        self.spark = spark
        self.queue: queue.Queue = queue.Queue()
        self.lock = threading.Lock()
        self.ready = False
        self.seq: dict[int, int] = {}
        self.unwritten: set[int] = set()  # runs with events whose batch failed: their journals are kept

    # -- called by the runner -------------------------------------------------------------------------
    def submit(self, run_id: int, kind: str, table: str, row: dict) -> None:
        with self.lock:
            seq = self.seq.get(run_id, 0) + 1
            self.seq[run_id] = seq
            event = {"seq": seq, "kind": kind, "table": table, "row": _jsonable(row)}
            journal = journal_dir() / f"{run_id}.jsonl"
            new = not journal.exists()  # also for a repair: the run's first journal was dropped when it ended
            with open(journal, "a") as out:
                if new:
                    out.write(json.dumps({"header": True, "pid": os.getpid(), "host": socket.gethostname()}) + "\n")
                out.write(json.dumps(event) + "\n")
        self.queue.put((run_id, event))

    def finished(self, run_id: int) -> None:
        """The run's last event is queued: drop its journal once everything is committed."""
        self.queue.put((run_id, {"kind": "done"}))

    def hurry(self) -> None:
        """Commit what is queued now instead of waiting for a quiet moment."""
        self.queue.put((None, {"kind": "flush"}))

    # -- the writer thread ----------------------------------------------------------------------------
    def run(self) -> None:
        while True:
            batch = self._gather()
            try:
                self._write(batch)
            except Exception as exc:  # noqa: BLE001 - kept in the journal, replayed at the next start
                self.unwritten |= {run_id for run_id, _ in batch if run_id is not None}
                warnings.warn(f"job history not written yet ({exc}); it stays in {journal_dir()}")
            finally:
                for _ in batch:
                    self.queue.task_done()

    def _gather(self) -> list:
        """The next batch: events that follow each other closely are committed together, so a burst of
        short tasks costs one Delta commit per table instead of one per task, and commits do not compete
        with the tasks for the two cores. A run's end (or :func:`flush`) commits at once."""
        batch = [self.queue.get()]
        first = time.monotonic()
        while batch[-1][1]["kind"] not in _COMMIT_NOW and time.monotonic() - first < MAX_DELAY_S:
            try:
                batch.append(self.queue.get(timeout=QUIET_S))
            except queue.Empty:
                break
        while True:
            try:
                batch.append(self.queue.get_nowait())
            except queue.Empty:
                return batch

    def _write(self, batch) -> None:
        if all(event["kind"] == "flush" for _, event in batch):
            return
        if self.spark is None:
            import lakehouse_lab as lab

            self.spark = lab.start()
        if not self.ready:
            recover(self.spark)
            self.ready = True
        ensure_tables(self.spark)
        events = [(r, e) for r, e in batch if e["kind"] not in _COMMIT_NOW]
        owner = {id(e): r for r, e in events}

        def committed(done: list[dict]) -> None:
            by_run: dict[int, list[dict]] = {}
            for event in done:
                by_run.setdefault(owner[id(event)], []).append(event)
            for run_id, run_events in by_run.items():
                mark_committed(journal_dir() / f"{run_id}.jsonl", run_events)

        write_events(self.spark, [e for _, e in events], committed)
        for run_id, event in batch:
            if event["kind"] == "done" and run_id not in self.unwritten:
                (journal_dir() / f"{run_id}.jsonl").unlink(missing_ok=True)


def mark_committed(journal: Path, events: list[dict]) -> None:
    """Note in the run's journal that ``events`` are in Delta: a replay leaves them out."""
    if events and journal.exists():
        with open(journal, "a") as out:
            out.write(json.dumps({"committed": [e["seq"] for e in events]}) + "\n")


_writer: dict[str, _Writer] = {}


def writer(spark) -> _Writer:
    """The process's history writer (started on first use; before its first write it closes the runs left
    by dead runners). ``spark`` may be ``None``: the writer then starts the lab session itself."""
    if "w" not in _writer:
        w = _Writer(spark)
        _writer["w"] = w
        w.start()
    return _writer["w"]


def flush() -> None:
    """Wait until every queued history event is committed to Delta."""
    if "w" in _writer:
        _writer["w"].hurry()
        _writer["w"].queue.join()


def ensure_tables(spark) -> None:
    ensure_bookkeeping_tables(spark, {TABLES[name]: schema for name, schema in SCHEMAS.items()})


def write_events(spark, events: list[dict], committed=None) -> None:
    """Commit events: appends grouped per table, the ``jobs`` rows only when settings changed, run upserts
    as one MERGE. ``committed(events)`` is called after each commit with the events it holds (first with the
    journal-only ones), so a batch that fails half-way is replayed without what is already in Delta."""
    committed = committed or (lambda done: None)
    appends: dict[str, list[dict]] = {}
    upserts: dict[int, dict] = {}
    journal_only, upserted = [], []
    for event in events:
        if event["kind"] in ("task_start", "run_start"):
            journal_only.append(event)  # lets recovery close what the runner never finished
        elif event["kind"] == "upsert":
            row = _from_json(event["row"])
            upserts[row["run_id"]] = {**upserts.get(row["run_id"], {}), **row}
            upserted.append(event)
        else:
            appends.setdefault(event["table"], []).append(event)
    committed(journal_only)
    for table, table_events in appends.items():
        rows = [_from_json(e["row"]) for e in table_events]
        if table == "jobs":
            rows = _changed_jobs(spark, rows)
        if rows:
            _frame(spark, table, rows).write.mode("append").saveAsTable(TABLES[table])
        committed(table_events)
    if upserts:
        view = f"job_runs_upsert_{threading.get_ident()}"
        _frame(spark, "job_runs", list(upserts.values())).createOrReplaceTempView(view)
        columns = [c.split()[0] for c in SCHEMAS["job_runs"].split(", ")]
        sets = ", ".join(f"t.{c} = coalesce(s.{c}, t.{c})" for c in columns if c != "run_id")
        spark.sql(f"MERGE INTO {TABLES['job_runs']} t USING {view} s ON t.run_id = s.run_id "
                  f"WHEN MATCHED THEN UPDATE SET {sets} WHEN NOT MATCHED THEN INSERT *")
        spark.catalog.dropTempView(view)
        committed(upserted)


_latest_settings: dict[int, str] = {}


def _changed_jobs(spark, rows: list[dict]) -> list[dict]:
    if not _latest_settings:
        _latest_settings.update({r.job_id: r.settings for r in spark.sql(
            f"SELECT job_id, max_by(settings, change_time) settings FROM {TABLES['jobs']} GROUP BY job_id").collect()})
    latest, out = _latest_settings, []
    for row in rows:
        if latest.get(row["job_id"]) != row["settings"]:
            latest[row["job_id"]] = row["settings"]
            out.append(row)
    return out


def _frame(spark, table: str, rows: list[dict]):
    columns = [c.split()[0] for c in SCHEMAS[table].split(", ")]
    data = [tuple({**ACCOUNT, **row}.get(c) for c in columns) for row in rows]
    return rows_frame(spark, data, SCHEMAS[table])


def _jsonable(row: dict) -> dict:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def _from_json(row: dict) -> dict:
    return {k: datetime.fromisoformat(v) if k in _TIMESTAMPS and isinstance(v, str) else v for k, v in row.items()}


def _alive(pid: int, host: str) -> bool:
    if host != socket.gethostname():
        return True  # another machine's runner: leave it alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover(spark) -> list[int]:
    """Replay the journals of runs whose runner died and close those runs as ``INTERNAL_ERROR``.

    Returns the ids of the runs closed. Called automatically before a process first writes history.
    """
    closed = []
    for path in sorted(journal_dir().glob("*.jsonl")):
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        header = next((line for line in lines if line.get("header")), None)
        if header is None or _alive(header["pid"], header["host"]):
            continue
        closing = _closing_events([line for line in lines if "seq" in line], header)
        if closing:  # journaled first: a recovery that stops half-way is not closed twice by the next one
            last = max((line["seq"] for line in lines if "seq" in line), default=0)
            closing = [{**event, "seq": last + i} for i, event in enumerate(closing, 1)]
            with open(path, "a") as out:
                out.writelines(json.dumps(event) + "\n" for event in closing)
            lines += closing
        done = {s for line in lines if "committed" in line for s in line["committed"]}
        ensure_tables(spark)
        write_events(spark, [line for line in lines if "seq" in line and line["seq"] not in done],
                     lambda events: mark_committed(path, events))
        path.unlink()
        closed.append(int(path.stem))
    return closed


def _closing_events(events: list[dict], header: dict) -> list[dict]:
    """Rows that end a run whose runner died: unfinished task attempts and the run, ``INTERNAL_ERROR``."""
    rows = [_from_json(e["row"]) for e in events]
    ended = any(e["table"] == "job_runs" and e["kind"] != "run_start" for e in events)
    start = next((r for e, r in zip(events, rows) if e["kind"] == "run_start"), None)
    if ended or start is None:
        return []
    stop, message = now(), f"runner process {header['pid']} stopped before the run finished"
    out = []
    done = {(r.get("task_key"), r.get("attempt_number")) for e, r in zip(events, rows)
            if e["table"] == "job_task_run_timeline" and e["kind"] == "append"}
    for e, r in zip(events, rows):
        if e["kind"] == "task_start" and (r["task_key"], r["attempt_number"]) not in done:
            out.append({"kind": "append", "table": "job_task_run_timeline", "row": _jsonable(
                {**r, "period_end_time": stop, "result_state": "ERROR", "termination_code": "INTERNAL_ERROR",
                 "error_message": message})})
    out.append({"kind": "append", "table": "job_run_timeline", "row": _jsonable(
        {"job_id": start["job_id"], "run_id": start["run_id"], "period_start_time": start["start_time"],
         "period_end_time": stop, "result_state": "ERROR", "termination_code": "INTERNAL_ERROR"})})
    duration = (stop - start["start_time"]).total_seconds()
    out.append({"kind": "upsert" if start.get("repair_count") else "append", "table": "job_runs", "row": _jsonable(
        {**start, "end_time": stop, "result_state": "INTERNAL_ERROR", "execution_duration": duration,
         "error_message": message})})
    return out


def runs(spark, job: str | None = None, limit: int = 20):
    """Recent runs from ``system.lakeflow.job_runs`` (newest first), optionally of one job."""
    from pyspark.sql import functions as F

    ensure_tables(spark)
    df = spark.table(TABLES["job_runs"])
    if job is not None:
        df = df.where(F.col("job_name") == F.lit(job))
    return (df.select("job_name", "run_id", "start_time", "end_time", "result_state", "execution_duration",
                      "error_message", "repair_count").orderBy(F.col("start_time").desc()).limit(int(limit)))


def api_state(result_state: str | None, termination_code: str | None) -> str | None:
    """The Jobs API state of a task run from its timeline ``result_state`` / ``termination_code``; ``None`` for a
    task that never ran (``SKIPPED``): the job's graph tells whether an upstream task failed or it was excluded.

    >>> api_state("TIMED_OUT", "CANCELED"), api_state("SKIPPED", "SKIPPED")
    ('TIMEDOUT', None)
    """
    pair = (result_state, termination_code)
    if pair == ("SKIPPED", "SKIPPED"):
        return None
    for api, known in TIMELINE_STATE.items():
        if known == pair:
            return api
    if pair in _EARLIER_CODES:
        return _EARLIER_CODES[pair]
    return "INTERNAL_ERROR" if result_state == "ERROR" else (result_state or "PENDING")
