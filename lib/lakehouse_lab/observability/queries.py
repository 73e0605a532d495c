"""Monitoring and troubleshooting queries over ``system.lakeflow`` (every value passed as a parameter).

The course's own queries (job execution patterns, pipeline health, p95 performance, pipeline errors, job
failures) are here in parameterised form, next to the series the dashboard draws. Each returns a Spark
DataFrame; over an empty history it returns an empty one, never an error.

>>> import lakehouse_lab as lab                                     # doctest: +SKIP
>>> job_metrics(lab.start(), days=7).columns                        # doctest: +SKIP
['job_name', 'execution_date', 'total_runs', 'successful_runs', 'avg_duration_seconds']
"""
from __future__ import annotations

from pyspark.sql import functions as F

from ..catalog import ensure_bookkeeping_tables
from ..jobs import history as job_history
from ..pipelines.event_log import (PIPELINE_EVENTS, PIPELINE_EVENTS_SCHEMA, PIPELINE_UPDATES,
                                   PIPELINE_UPDATES_SCHEMA)

JOB_RUNS = job_history.TABLES["job_runs"]
TASK_TIMELINE = job_history.TABLES["job_task_run_timeline"]

# Jobs API end states that mean "did not succeed" (the summary table uses the API's spelling).
FAILED_STATES = ("FAILED", "TIMEDOUT", "CANCELED", "INTERNAL_ERROR")


def ensure_tables(spark) -> None:
    """Create the job and pipeline history tables if no run has written them yet (so queries return empty)."""
    job_history.ensure_tables(spark)
    ensure_bookkeeping_tables(spark, {PIPELINE_EVENTS: PIPELINE_EVENTS_SCHEMA,
                                      PIPELINE_UPDATES: PIPELINE_UPDATES_SCHEMA})


def job_metrics(spark, days: int = 7):
    """Runs, successes and average duration per job and day over the last ``days`` days."""
    ensure_tables(spark)
    return spark.sql(f"""
        SELECT job_name, DATE(start_time) AS execution_date, COUNT(*) AS total_runs,
               SUM(CASE WHEN result_state = 'SUCCESS' THEN 1 ELSE 0 END) AS successful_runs,
               AVG(execution_duration) AS avg_duration_seconds
        FROM {JOB_RUNS}
        WHERE start_time >= current_date() - make_dt_interval(:days)
        GROUP BY job_name, DATE(start_time)
        ORDER BY execution_date DESC, job_name""", args={"days": int(days)})


def pipeline_health(spark, hours: int = 24):
    """Pipeline updates started in the last ``hours`` hours, with their duration in seconds."""
    ensure_tables(spark)
    return spark.sql(f"""
        SELECT pipeline_name, update_id, state, start_time, end_time,
               unix_timestamp(end_time) - unix_timestamp(start_time) AS duration_seconds
        FROM {PIPELINE_UPDATES}
        WHERE start_time >= current_timestamp() - make_dt_interval(0, :hours)
        ORDER BY start_time DESC""", args={"hours": int(hours)})


def performance(spark, days: int = 30, job_name: str | None = None):
    """Average and p95 duration of successful runs per job and day (``PERCENTILE_CONT ... WITHIN GROUP``)."""
    ensure_tables(spark)
    return spark.sql(f"""
        SELECT job_name, DATE(start_time) AS run_date, AVG(execution_duration) AS avg_duration,
               PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY execution_duration) AS p95_duration,
               COUNT(*) AS run_count
        FROM {JOB_RUNS}
        WHERE start_time >= current_date() - make_dt_interval(:days) AND result_state = 'SUCCESS'
          AND (:job IS NULL OR job_name = :job)
        GROUP BY job_name, DATE(start_time)
        ORDER BY run_date DESC, avg_duration DESC""", args={"days": int(days), "job": job_name})


def pipeline_events(spark, pipeline_id: str, hours: int = 24, limit: int = 100):
    """The pipeline's recent events, newest first."""
    ensure_tables(spark)
    return spark.sql(f"""
        SELECT event_type, level, message, timestamp, details, error
        FROM {PIPELINE_EVENTS}
        WHERE pipeline_id = :pipeline_id AND timestamp >= current_timestamp() - make_dt_interval(0, :hours)
        ORDER BY timestamp DESC, sequence DESC
        LIMIT :limit""", args={"pipeline_id": pipeline_id, "hours": int(hours), "limit": int(limit)})


def pipeline_errors(spark, pipeline_id: str, hours: int = 24):
    """Error events of a pipeline grouped by type: errors are ``level = 'ERROR'`` (event types are lower case)."""
    ensure_tables(spark)
    return spark.sql(f"""
        SELECT event_type, COUNT(*) AS error_count, COLLECT_LIST(coalesce(error, message)) AS error_messages
        FROM {PIPELINE_EVENTS}
        WHERE pipeline_id = :pipeline_id AND level = 'ERROR'
          AND timestamp >= current_timestamp() - make_dt_interval(0, :hours)
        GROUP BY event_type
        ORDER BY error_count DESC""", args={"pipeline_id": pipeline_id, "hours": int(hours)})


def job_failures(spark, job_name: str, hours_back: int = 24):
    """Runs of ``job_name`` in the last ``hours_back`` hours that did not succeed (all failing end states)."""
    ensure_tables(spark)
    return spark.sql(f"""
        SELECT run_id, start_time, end_time, result_state, error_message
        FROM {JOB_RUNS}
        WHERE job_name = :job_name AND start_time >= current_timestamp() - make_dt_interval(0, :hours)
          AND array_contains(:failed, result_state)
        ORDER BY start_time DESC""", args={"job_name": job_name, "hours": int(hours_back),
                                           "failed": list(FAILED_STATES)})


# --- series the dashboard draws --------------------------------------------------------------------------

def outcomes_per_day(spark, days: int = 30):
    """Finished runs per day and result state."""
    ensure_tables(spark)
    return spark.sql(f"""
        SELECT DATE(start_time) AS day, result_state, COUNT(*) AS runs
        FROM {JOB_RUNS}
        WHERE start_time >= current_date() - make_dt_interval(:days) AND result_state IS NOT NULL
        GROUP BY 1, 2 ORDER BY 1, 2""", args={"days": int(days)})


def duration_trend(spark, days: int = 30):
    """Average, median and p95 duration (seconds) of successful runs per day, all jobs together."""
    ensure_tables(spark)
    return spark.sql(f"""
        SELECT DATE(start_time) AS day, AVG(execution_duration) AS avg_duration,
               PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY execution_duration) AS p50_duration,
               PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY execution_duration) AS p95_duration
        FROM {JOB_RUNS}
        WHERE start_time >= current_date() - make_dt_interval(:days) AND result_state = 'SUCCESS'
        GROUP BY 1 ORDER BY 1""", args={"days": int(days)})


def _flow_progress(spark, days: int):
    """Completed ``flow_progress`` events with their metrics and data quality parsed from ``details``."""
    ensure_tables(spark)
    return spark.sql(f"""
        SELECT DATE(timestamp) AS day, timestamp, pipeline_name, update_id, flow_name,
               CAST(get_json_object(details, '$.flow_progress.metrics.num_output_rows') AS BIGINT) AS output_rows,
               from_json(get_json_object(details, '$.flow_progress.data_quality.expectations'),
                         'ARRAY<STRUCT<name: STRING, dataset: STRING, passed_records: BIGINT,
                                       failed_records: BIGINT>>') AS expectations
        FROM {PIPELINE_EVENTS}
        WHERE event_type = 'flow_progress'
          AND get_json_object(details, '$.flow_progress.status') = 'COMPLETED'
          AND timestamp >= current_date() - make_dt_interval(:days)""", args={"days": int(days)})


def quality_pass_rates(spark, days: int = 30, flow_progress=None):
    """Pass rate (passed / checked records) per expectation and day (``flow_progress``: a reused
    :func:`_flow_progress` frame)."""
    return ((flow_progress if flow_progress is not None else _flow_progress(spark, days))
            .selectExpr("day", "explode(expectations) AS e")
            .selectExpr("day", "concat(e.dataset, '.', e.name) AS expectation", "e.passed_records", "e.failed_records")
            .groupBy("day", "expectation")
            .agg(F.sum("passed_records").alias("passed_records"), F.sum("failed_records").alias("failed_records"))
            .withColumn("pass_rate", F.col("passed_records")
                        / F.nullif(F.col("passed_records") + F.col("failed_records"), F.lit(0)))
            .orderBy("day", "expectation"))


def rows_per_flow(spark, days: int = 30, flow_progress=None):
    """Rows written per pipeline flow and day."""
    return ((flow_progress if flow_progress is not None else _flow_progress(spark, days)).where("output_rows IS NOT NULL")
            .groupBy("day", "flow_name").agg(F.sum("output_rows").alias("rows")).orderBy("day", "flow_name"))
