"""Alert rules evaluated on the system tables, delivered by SMTP and webhooks, never twice, never lost.

A rule turns rows of ``system.lakeflow`` into :class:`Alert` s, each with a key naming the condition (a failed
run, a slow run, a quality drop in one update, a job gone quiet since its last success). :class:`AlertManager`
sends each alert to the rule's channels and records every (alert, channel) delivery in
``system.lakeflow.alert_deliveries``: a delivery that went out is never repeated; one whose receiver was down
stays ``PENDING`` and is retried at the next evaluation.

>>> rule = JobFailed(hours=24, channels=("email",))
>>> rule.name, rule.severity
('job_failed', 'error')
"""
from __future__ import annotations

import datetime as dt
import http.client
import json
import smtplib
import urllib.error
from dataclasses import dataclass, field
from html import escape

from ..catalog import ensure_bookkeeping_tables
from ..frames import rows_frame
from ..notify import pagerduty_payload, send_email, send_webhook, slack_payload
from . import queries

DELIVERIES = "system.lakeflow.alert_deliveries"
DELIVERIES_SCHEMA = ("alert_key STRING, rule STRING, channel STRING, severity STRING, summary STRING, "
                     "details STRING, status STRING, attempts INT, first_raised TIMESTAMP, last_attempt TIMESTAMP, "
                     "sent_at TIMESTAMP, last_error STRING")


@dataclass(frozen=True)
class Alert:
    """One condition worth telling someone about; ``key`` identifies it across evaluations."""
    rule: str
    key: str
    severity: str
    summary: str
    details: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Rule:
    """Base of the rules: where alerts go (channel names) and how urgent they are."""
    channels: tuple = ("email",)
    severity: str = "error"
    name = "rule"

    def evaluate(self, spark) -> list[Alert]:
        raise NotImplementedError

    def _alert(self, key: str, summary: str, **details) -> Alert:
        return Alert(self.name, f"{self.name}:{key}", self.severity, summary,
                     {k: _plain(v) for k, v in details.items()})


@dataclass(frozen=True)
class JobFailed(Rule):
    """A run that ended FAILED, TIMEDOUT, CANCELED or INTERNAL_ERROR in the last ``hours`` hours."""
    job_name: str | None = None
    hours: int = 24
    name = "job_failed"

    def evaluate(self, spark) -> list[Alert]:
        rows = spark.sql(f"""
            SELECT job_name, run_id, start_time, result_state, error_message FROM {queries.JOB_RUNS}
            WHERE start_time >= current_timestamp() - make_dt_interval(0, :hours)
              AND array_contains(:failed, result_state) AND (:job IS NULL OR job_name = :job)""",
                         args={"hours": self.hours, "failed": list(queries.FAILED_STATES), "job": self.job_name})
        return [self._alert(str(r.run_id), f"Job {r.job_name} run {r.run_id} {r.result_state}: "
                            f"{(r.error_message or '')[:200]}", **r.asDict()) for r in rows.collect()]


@dataclass(frozen=True)
class DurationAboveP95(Rule):
    """A run of the last ``hours`` hours that took more than ``k`` × the p95 of successful runs (``days``)."""
    job_name: str | None = None
    k: float = 1.5
    days: int = 30
    hours: int = 24
    severity: str = "warning"
    name = "duration_above_p95"

    def evaluate(self, spark) -> list[Alert]:
        rows = spark.sql(f"""
            WITH baseline AS (
              SELECT job_name, PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY execution_duration) AS p95
              FROM {queries.JOB_RUNS}
              WHERE result_state = 'SUCCESS' AND start_time >= current_timestamp() - make_dt_interval(:days)
              GROUP BY job_name)
            SELECT r.job_name, r.run_id, r.start_time, r.execution_duration, b.p95
            FROM {queries.JOB_RUNS} r JOIN baseline b ON r.job_name = b.job_name
            WHERE r.start_time >= current_timestamp() - make_dt_interval(0, :hours)
              AND r.execution_duration > :k * b.p95 AND (:job IS NULL OR r.job_name = :job)""",
                         args={"days": self.days, "hours": self.hours, "k": float(self.k), "job": self.job_name})
        return [self._alert(str(r.run_id), f"Job {r.job_name} run {r.run_id} took {r.execution_duration:.0f} s, "
                            f"more than {self.k} × p95 ({r.p95:.0f} s)", **r.asDict()) for r in rows.collect()]


@dataclass(frozen=True)
class PassRateBelow(Rule):
    """A pipeline update of the last ``hours`` hours where an expectation passed under ``threshold``."""
    expectation: str | None = None  # "name" or "dataset.name"; None = every expectation
    threshold: float = 0.95
    hours: int = 24
    severity: str = "warning"
    name = "pass_rate_below"

    def evaluate(self, spark) -> list[Alert]:
        from pyspark.sql import functions as F

        rows = (queries._flow_progress(spark, days=self.hours // 24 + 1)
                .where(F.col("timestamp") >= F.expr("current_timestamp()") - F.make_dt_interval(
                    F.lit(0), F.lit(self.hours)))
                .selectExpr("pipeline_name", "update_id", "timestamp", "explode(expectations) AS e")
                .selectExpr("pipeline_name", "update_id", "timestamp", "concat(e.dataset, '.', e.name) AS expectation",
                            "e.name AS short_name",
                            "e.passed_records / nullif(e.passed_records + e.failed_records, 0) AS pass_rate")
                .where(F.col("pass_rate") < F.lit(self.threshold)))
        if self.expectation is not None:
            rows = rows.where((F.col("expectation") == self.expectation) | (F.col("short_name") == self.expectation))
        return [self._alert(f"{r.update_id}:{r.expectation}", f"Pipeline {r.pipeline_name}: expectation "
                            f"{r.expectation} passed {r.pass_rate:.1%} (< {self.threshold:.0%})", **r.asDict())
                for r in rows.collect()]


@dataclass(frozen=True)
class NoSuccessfulRun(Rule):
    """``job_name`` has had no successful run for ``hours`` hours (one alert per quiet spell)."""
    job_name: str = ""
    hours: int = 24
    severity: str = "critical"
    name = "no_successful_run"

    def evaluate(self, spark) -> list[Alert]:
        if not self.job_name:
            raise ValueError("NoSuccessfulRun needs job_name")
        row = spark.sql(f"""
            SELECT max(start_time) FILTER (WHERE result_state = 'SUCCESS') AS last_success,
                   max(start_time) AS last_run, count(*) AS runs
            FROM {queries.JOB_RUNS} WHERE job_name = :job""", args={"job": self.job_name}).first()
        cutoff = dt.datetime.now() - dt.timedelta(hours=self.hours)
        if row.last_success is not None and row.last_success >= cutoff:
            return []
        since = "never" if row.last_success is None else f"since {row.last_success:%Y-%m-%d %H:%M}"
        return [self._alert(f"{self.job_name}:{row.last_success}", f"Job {self.job_name}: no successful run "
                            f"in {self.hours} h ({since}; {row.runs} run(s) recorded)", **row.asDict())]


def _plain(value):
    return value.isoformat() if isinstance(value, (dt.datetime, dt.date)) else value


# --- channels -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Email:
    """Send by SMTP to ``to`` through the server at ``host:port``."""
    to: tuple
    host: str
    port: int

    def send(self, alert: Alert) -> None:
        body = alert.summary + "\n\n" + json.dumps(alert.details, indent=2, default=str)
        send_email(list(self.to), f"[{alert.severity.upper()}] {alert.summary[:120]}", body,
                   host=self.host, port=self.port)


@dataclass(frozen=True)
class Slack:
    """POST a Slack incoming-webhook message to ``url``."""
    url: str

    def send(self, alert: Alert) -> None:
        send_webhook(self.url, slack_payload(f":rotating_light: *{alert.severity}* {alert.summary}"))


@dataclass(frozen=True)
class PagerDuty:
    """POST a PagerDuty Events API v2 ``trigger`` (``dedup_key`` = the alert key) to ``url``."""
    url: str
    routing_key: str = "lakehouse-lab"

    def send(self, alert: Alert) -> None:
        severity = alert.severity if alert.severity in ("critical", "error", "warning", "info") else "error"
        send_webhook(self.url, pagerduty_payload(alert.summary, severity=severity, routing_key=self.routing_key,
                                                 dedup_key=alert.key, custom_details=alert.details))


# what a receiver can answer (or fail to); ValueError: a malformed URL or address, kept PENDING with its message
DELIVERY_ERRORS = (OSError, smtplib.SMTPException, urllib.error.URLError, http.client.HTTPException, ValueError)


# --- the manager ----------------------------------------------------------------------------------------------

@dataclass
class Report:
    """One evaluation: what was sent now, what stays pending, what had been sent before (suppressed)."""
    sent: list = field(default_factory=list)
    pending: list = field(default_factory=list)
    suppressed: list = field(default_factory=list)
    errors: dict = field(default_factory=dict)  # channel -> why its receiver did not take the last alert

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{status}</td><td>{escape(channel)}</td><td>{escape(alert.summary)}</td></tr>"
                       for status, items in (("sent", self.sent), ("pending", self.pending))
                       for alert, channel in items)
        why = "".join(f"<br>{escape(channel)}: {escape(error)}" for channel, error in self.errors.items())
        return (f"<b>Alerts</b>: {len(self.sent)} sent, {len(self.pending)} pending, "
                f"{len(self.suppressed)} already sent{why}<table>{rows}</table>")


class AlertManager:
    """Evaluate ``rules`` and deliver through ``channels`` (name -> Email/Slack/PagerDuty)."""

    def __init__(self, spark, rules: list[Rule], channels: dict) -> None:
        unknown = sorted({c for r in rules for c in r.channels} - set(channels))
        if unknown:
            raise ValueError(f"rules name channel(s) {', '.join(unknown)} that are not configured "
                             f"(configured: {', '.join(sorted(channels)) or 'none'})")
        self.spark, self.rules, self.channels = spark, list(rules), dict(channels)

    def evaluate(self) -> Report:
        """Evaluate every rule; send new alerts and retry pending ones; record the outcome of each delivery."""
        queries.ensure_tables(self.spark)
        ensure_bookkeeping_tables(self.spark, {DELIVERIES: DELIVERIES_SCHEMA})
        known = {(r.alert_key, r.channel): r for r in self.spark.table(DELIVERIES).collect()}
        wanted = {(a.key, c): a for rule in self.rules for a in rule.evaluate(self.spark) for c in rule.channels}
        for (key, channel), row in known.items():
            if row.status == "PENDING" and channel in self.channels:
                wanted.setdefault((key, channel), _from_row(row))
        report, updates = Report(), []
        try:
            for (key, channel), alert in sorted(wanted.items(), key=lambda item: item[0]):
                previous = known.get((key, channel))
                if previous is not None and previous.status == "SENT":
                    report.suppressed.append((alert, channel))
                    continue
                updates.append(self._deliver(alert, channel, previous, report))
        finally:  # whatever went wrong, what was delivered is recorded: never sent twice
            if updates:
                self._record(updates)
        return report

    def pending(self):
        """Deliveries still waiting for their receiver."""
        return self.spark.table(DELIVERIES).where("status = 'PENDING'")

    def _deliver(self, alert: Alert, channel: str, previous, report: Report) -> tuple:
        now, error = dt.datetime.now(), None
        try:
            self.channels[channel].send(alert)
        except DELIVERY_ERRORS as exc:
            error = report.errors[channel] = f"{type(exc).__name__}: {exc}"
        (report.pending if error else report.sent).append((alert, channel))
        attempts = (previous.attempts if previous else 0) + 1
        return (alert.key, alert.rule, channel, alert.severity, alert.summary, json.dumps(alert.details, default=str),
                "PENDING" if error else "SENT", attempts, previous.first_raised if previous else now, now,
                None if error else now, error)

    def _record(self, rows: list[tuple]) -> None:
        rows_frame(self.spark, rows, DELIVERIES_SCHEMA).createOrReplaceTempView("_lab_alert_updates")
        self.spark.sql(f"""MERGE INTO {DELIVERIES} t USING _lab_alert_updates s
                           ON t.alert_key = s.alert_key AND t.channel = s.channel
                           WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *""")
        self.spark.catalog.dropTempView("_lab_alert_updates")


def _from_row(row) -> Alert:
    return Alert(row.rule, row.alert_key, row.severity, row.summary, json.loads(row.details or "{}"))


def standard_rules(channels: tuple, job_name: str | None = None) -> list[Rule]:
    """The course's rule set: failures (all channels), slow runs and quality drops (chat and email), and a
    job without a successful run for 24 h (paging when configured).

    >>> [r.name for r in standard_rules(("email",), job_name="etl")]
    ['job_failed', 'duration_above_p95', 'pass_rate_below', 'no_successful_run']
    """
    quiet = tuple(c for c in channels if c in ("paging",)) or channels
    calm = tuple(c for c in channels if c != "paging") or channels
    rules = [JobFailed(job_name=job_name, channels=channels), DurationAboveP95(job_name=job_name, channels=calm),
             PassRateBelow(channels=calm)]
    if job_name:
        rules.append(NoSuccessfulRun(job_name=job_name, channels=quiet))
    return rules
